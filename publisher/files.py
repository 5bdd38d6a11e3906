"""Atomic, change-aware file writes: readers never see half a file.

Every `OSError` here leaves as an `OutputError` that names the path, gives the
system's reason and says what to do; the old file, if any, is left intact and
no temp file is left behind.
"""

from __future__ import annotations

import errno
import os
import re
import tempfile
from collections.abc import Iterable
from contextlib import suppress
from pathlib import Path

from .errors import OutputError

PUBLIC = 0o644


# Written into each private folder publisher makes (the state folder, the
# outbox): `git add -A` in a site folder then commits none of it. A site that
# follows the GitHub Pages advice keeps .publisher/ inside its repository.
GITIGNORE = ".gitignore"
IGNORE_ALL = b"*\n"


def make_private_folder(folder: Path) -> None:
    """Create `folder` (and its parents) for private data, readable by its
    owner only; the top-most folder created here gets a `.gitignore` of `*`.

    A folder that already exists is left as it is: it may be the site's own.
    Raises OSError.
    """
    top = None
    missing = folder
    while not missing.exists():
        top = missing
        if missing.parent == missing:
            break
        missing = missing.parent
    folder.mkdir(parents=True, exist_ok=True, mode=0o700)
    if top is None:
        return
    try:
        # Owner-only like everything else in the folder (git runs as the owner).
        fd = os.open(top / GITIGNORE, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        return  # another process made the folder at the same moment
    try:
        os.write(fd, IGNORE_ALL)
    finally:
        os.close(fd)


def write_if_changed(path: Path, data: bytes) -> bool:
    """Write `data` to `path` only if the bytes differ. True when written."""
    try:
        if path.stat().st_size == len(data) and path.read_bytes() == data:
            return False
    except OSError:
        # Missing, or unreadable: writing it anew is right either way, and
        # write_atomic says what is wrong if that fails too.
        pass
    write_atomic(path, data)
    return True


def write_atomic(
    path: Path,
    data: bytes,
    *,
    mode: int = PUBLIC,
    fsync: bool = True,
    unique_temp: bool = True,
) -> None:
    """Write `data` to a temp file in `path`'s folder, then rename it over `path`.

    The rename is atomic: a reader sees the old file or the new one, never
    half of either, and a process killed mid-write leaves the old file as it
    was. The folder (and its parents) are created when missing.

    - `mode`: the file's permissions. Published files are 0644, readable by
      the web server and not only by us; messages and exports with addresses
      and personal tokens are 0600.
    - `fsync`: flush the data to disk before the rename, so that not even a
      power cut leaves a renamed but empty file. The outbox skips it: the
      rename already survives any crash of the process; only a power cut
      could lose the last messages, which the ledger then still shows as
      sent (see the README on what a crash can cost).
    - `unique_temp`: a random temp name (mkstemp), for folders that several
      processes may write at once (out/, the state folder). With False the
      temp name is the fixed `.{name}.tmp`: cheaper (mkstemp's random names
      cost more than the write itself at 100,000 outbox messages), and safe
      only where one process writes at a time, as the outbox under the send
      lock. The temp file is then created with `mode`, which the umask can
      only narrow: right for private files, and one system call fewer.

    Raises `OutputError` (a `PublisherError`) on any `OSError`.
    """
    tmp: str | None = None
    try:
        try:
            fd, tmp = _create_temp(path, mode, unique_temp)
        except FileNotFoundError:
            # Only on a first write: the common case costs no mkdir.
            path.parent.mkdir(parents=True, exist_ok=True)
            fd, tmp = _create_temp(path, mode, unique_temp)
        try:
            view = memoryview(data)
            while view:
                view = view[os.write(fd, view) :]
            if fsync:
                os.fsync(fd)
            if unique_temp:
                # mkstemp creates 0600 whatever the umask; set what was asked.
                os.fchmod(fd, mode)
        finally:
            os.close(fd)
        os.replace(tmp, path)
    except BaseException as exc:
        if tmp is not None:
            with suppress(OSError):
                os.unlink(tmp)
        if isinstance(exc, OSError):
            raise output_error(path, exc) from exc
        raise


def _create_temp(path: Path, mode: int, unique: bool) -> tuple[int, str]:
    if unique:
        return tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    tmp = os.path.join(path.parent, f".{path.name}.tmp")
    flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL
    try:
        return os.open(tmp, flags, mode), tmp
    except FileExistsError:
        # Left by a process that died mid-write. Replace it rather than reuse
        # it, so the new file gets `mode`, not whatever the old one had.
        os.unlink(tmp)
        return os.open(tmp, flags, mode), tmp


def output_error(path: Path, exc: OSError, doing: str = "cannot write") -> OutputError:
    """`exc` as an OutputError: the path, the system's reason, what to do."""
    return OutputError(f"{path}: {doing}: {reason(exc)}", hint=hint_for(path, exc))


def reason(exc: OSError) -> str:
    """The system's words ("Permission denied"), not the exception's repr."""
    if exc.errno == errno.EEXIST and exc.filename and os.path.isfile(exc.filename):
        # mkdir over a file: say what opening a path through it says.
        return os.strerror(errno.ENOTDIR)
    return exc.strerror or str(exc)


def hint_for(path: Path, exc: OSError) -> str:
    """What to do about `exc`, raised while writing `path`."""
    folder = path.parent
    code = exc.errno
    if code in (errno.ENOTDIR, errno.EEXIST):
        blocker = _file_in_the_way(path)
        if blocker is not None:
            return f"{blocker} is a file, not a folder: move it away or choose another path"
    if code == errno.EISDIR:
        return f"{path} is a folder: move it away or choose another path"
    if code in (errno.EACCES, errno.EPERM):
        return f"check that this user may write to {folder} (its permissions and owner)"
    if code == errno.EROFS:
        return f"{folder} is on a read-only file system: mount it writable or choose another path"
    if code in (errno.ENOSPC, errno.EDQUOT):
        return f"free some space on the disk that holds {folder}, then run again"
    if code == errno.EFBIG:
        return "the file is larger than this system lets us write (see `ulimit -f`)"
    return f"check that {folder} is a folder this user may write to, then run again"


def _file_in_the_way(path: Path) -> Path | None:
    """The nearest ancestor of `path` that exists but is not a folder."""
    for parent in path.parents:
        try:
            if parent.exists():
                return None if parent.is_dir() else parent
        except OSError:
            return None
    return None


# What `_create_temp` names its files: `.{name}.XXXXXXXX.tmp` (mkstemp's eight
# characters) or `.{name}.tmp`.
TEMP_NAME = re.compile(r"\..+?(\.[a-z0-9_]{8})?\.tmp")


def remove_stale_temps(folders: Iterable[Path]) -> list[Path]:
    """Delete the temp files a killed process left in `folders` (not below).

    Only safe while no other process may be writing there: call it holding
    the site lock, which every writer of out/ and the state folder holds. A
    temp file under out/ would otherwise be uploaded with the site. Returns
    what was removed; a folder or file that cannot be read or removed is left.
    """
    removed = []
    for folder in folders:
        try:
            entries = list(os.scandir(folder))
        except OSError:
            continue
        for entry in entries:
            if entry.name.startswith(".") and TEMP_NAME.fullmatch(entry.name):
                try:
                    if entry.is_file(follow_symlinks=False):
                        os.unlink(entry.path)
                        removed.append(Path(entry.path))
                except OSError:
                    continue
    return removed
