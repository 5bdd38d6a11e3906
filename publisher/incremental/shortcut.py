"""The nothing-changed shortcut, taken before the command line is imported.

Run from cron every few minutes, `publisher publish` mostly finds nothing
changed. The run guard (`cache.RunGuard`) then replays the last full run's
report after loading the configuration, opening the state store and scanning
the posts folder; most of that run's time is importing click and publisher.
This module answers the same question for less: the command line records,
after a run the guard replayed, what that run printed and every file the
answer depended on; the next identical command checks those files with
`os.stat` alone and prints the answer again. It imports only `os`, `sys`,
`marshal` and `time` (and `datetime` for `--now`, `hashlib` after a touch).

What the answer depends on, and how each is checked here:

- the command: `publish` or `build`, `--future`, `--no-digest`, the
  configuration file's path (any other option runs the full command);
- the configuration: publisher.toml's bytes, compared whole. A Jekyll site's
  configuration comes from many files, so it is never recorded;
- the posts: the mtime of every folder the walk listed (adding, removing or
  renaming a file moves its folder's mtime) and the size and mtime of every
  post file. A file whose mtime moved but not its size (`touch`, a checkout)
  is read and compared by BLAKE2 digest: same bytes, same answer;
- the state: the state store and its WAL, the run record and the feed cache,
  as they were before the run read them;
- the outputs: every file the run reported (size and mtime);
- the clock: the next scheduled post coming due.

The stats recorded are those the replayed run saw before it read anything, so
a change made while it ran is a difference next time, never hidden. A file
whose mtime was within `RACY_NS` of the run could change again without its
mtime moving: such a record is not written. The command line writes the
record under the site lock; every full run drops it first (`forget`).
"""

from __future__ import annotations

import marshal
import os
import sys
import time
from array import array

# Not `typing.TYPE_CHECKING`: importing typing would cost this path more than
# all its other work (mypy treats any constant of this name alike).
TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Iterable, Sequence
    from datetime import datetime
    from typing import Any

FILE = "shortcut.cache"
# The last record, kept by `forget` so that `remember` can reuse its digests
# rather than read every post again.
OLD_FILE = "shortcut.old"
# 2: each folder's posts packed (names in one string, stats in one array).
FORMAT = 2
DEFAULT_CONFIG = "publisher.toml"  # as config.DEFAULT_FILE
DEFAULT_STATE = ".publisher/state.db"  # as config.StateConfig.path
# A file changed this recently could change again without its mtime moving on
# a coarse-grained filesystem (cache.py uses the same window).
RACY_NS = 2_000_000_000
MISSING = (-1, -1)  # the (size, mtime) of a file that does not exist

Stat = tuple[int, int]  # size, mtime_ns
Line = tuple[bool, str | None]  # (to stderr, text); None is the "Done in" line


# -- the fast side: check and print -------------------------------------------


def replay(argv: Sequence[str], started: float) -> int | None:
    """Print what the recorded run printed and return its exit status, if
    `argv` is a command recorded here and nothing it depends on changed;
    None (having printed nothing) otherwise."""
    command = _parse(argv)
    if command is None:
        return None
    config_path, quiet, mode, now_text = command
    try:
        with open(config_path, "rb") as file:
            config_bytes = file.read()
        record = _load(os.path.join(_state_dir(config_path, config_bytes), FILE))
    except (OSError, ValueError):
        return None
    if record is None or not _holds(record, config_path, config_bytes, mode, now_text):
        return None
    try:
        lines = [(bool(to_stderr), text) for to_stderr, text in record["lines"]]
        code = int(record["code"])
    except (KeyError, TypeError, ValueError):
        return None  # a record of the right format but not of the right shape
    elapsed = time.perf_counter() - started
    for to_stderr, text in lines:
        if quiet and not to_stderr:
            continue
        line = f"Done in {elapsed:.2f} s." if text is None else text
        print(line, file=sys.stderr if to_stderr else sys.stdout)
    return code


def _parse(argv: Sequence[str]) -> tuple[str, bool, tuple[bool, bool], str | None] | None:
    """(config path, quiet, (future, with digest), --now) for the commands this
    module answers: `[-q] [-c FILE] publish|build [--future] [--no-digest]
    [--now T]`, as click reads them. Anything else is None."""
    config, quiet, i = DEFAULT_CONFIG, False, 0
    while i < len(argv) and argv[i].startswith("-"):
        arg = argv[i]
        if arg in ("-q", "--quiet"):
            quiet = True
        elif arg in ("-c", "--config") and i + 1 < len(argv) and argv[i + 1]:
            i += 1
            config = argv[i]
        elif arg.startswith("--config=") and len(arg) > 9:
            config = arg[9:]
        else:
            return None
        i += 1
    if i == len(argv) or argv[i] not in ("publish", "build"):
        return None
    with_digest = argv[i] == "publish"
    future, now = False, None
    rest = list(argv[i + 1 :])
    while rest:
        arg = rest.pop(0)
        if arg == "--future":
            future = True
        elif arg == "--no-digest" and argv[i] == "publish":
            with_digest = False
        elif arg == "--now" and rest:
            now = rest.pop(0)
        elif arg.startswith("--now="):
            now = arg[6:]
        else:
            return None
    return os.path.abspath(config), quiet, (future, with_digest), now


def _state_dir(config_path: str, config_bytes: bytes) -> str:
    """Where the state folder of this configuration most likely is.

    A guess from the text (a TOML parser costs more than the rest of this
    module's work), never trusted: the record found there must hold these
    very bytes of this very file, and only a run that loaded them wrote it
    there. A `[state] path` written another way is guessed wrong, and the
    full command runs.
    """
    path = DEFAULT_STATE
    lines = config_bytes.decode("utf-8").splitlines()
    in_state = False
    for line in lines:
        text = line.strip()
        if text.startswith("["):
            in_state = text.split("#")[0].strip() == "[state]"
        elif in_state and text.startswith("path"):
            key, _, value = text.partition("=")
            value = value.strip()
            if key.strip() == "path" and value.startswith('"'):
                end = value.find('"', 1)
                if end > 0 and "\\" not in value[:end]:
                    path = value[1:end]
    root = os.path.dirname(os.path.realpath(config_path))
    return os.path.dirname(os.path.realpath(os.path.join(root, path)))


def _load(path: str) -> dict[str, Any] | None:
    try:
        with open(path, "rb") as file:
            record = marshal.loads(file.read())
    except (OSError, EOFError, ValueError, TypeError):
        return None  # missing or damaged: the full command runs
    if not isinstance(record, dict) or record.get("format") != FORMAT:
        return None
    if record.get("python") != sys.version or record.get("version") != _version():
        return None
    return record


def _holds(
    record: dict[str, Any],
    config_path: str,
    config_bytes: bytes,
    mode: tuple[bool, bool],
    now_text: str | None,
) -> bool:
    """True if everything the recorded answer depended on is as it was."""
    try:
        if (record["config"], record["config_bytes"], record["mode"]) != (
            config_path,
            config_bytes,
            mode,
        ):
            return False
        due = record["due"]
        if due is not None:
            now = _now_ns(now_text)
            if now is None or now >= due:
                return False
        for path, size, mtime in record["files"]:
            if _stat(path) != (size, mtime):
                return False
        for path, mtime in record["folders"]:
            if os.stat(path).st_mtime_ns != mtime:
                return False
        touched = []
        for folder, joined, stats, digests in record["posts"]:
            names = joined.split("\0")
            seen = _stats(folder, names)
            if seen == stats:  # one comparison for the whole folder
                continue
            for (name, old, digest), new in zip(
                _unpack(joined, stats, digests), _pairs(seen), strict=True
            ):
                if old != new:
                    if old[0] != new[0]:
                        return False  # resized: changed
                    touched.append((os.path.join(folder, name), digest))
        return all(_digest(path) == digest for path, digest in touched)
    except (OSError, KeyError, TypeError, ValueError):
        return False


def _now_ns(text: str | None) -> int | None:
    """Now, or --now read as `cli.common.parse_now` reads it; None if it cannot."""
    if not text:
        return time.time_ns()
    from datetime import UTC, datetime

    try:
        parsed = datetime.fromisoformat(text)
    except ValueError:
        return None  # the full command says what is wrong with it
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=UTC)
    return _ns(parsed)


def _ns(when: datetime) -> int:
    """A moment as integer nanoseconds since the epoch (exact, unlike a float)."""
    from datetime import UTC, datetime

    delta = when - datetime(1970, 1, 1, tzinfo=UTC)
    return (delta.days * 86_400 + delta.seconds) * 1_000_000_000 + delta.microseconds * 1000


def _stats(folder: str, names: Sequence[str]) -> bytes:
    """Size and mtime of each file of `folder`, packed as `_pack` packs them;
    relative to the folder, so the kernel looks up one name per file."""
    fd = os.open(folder, os.O_RDONLY)
    try:
        found = array("q")
        for name in names:
            st = os.stat(name, dir_fd=fd)
            found.append(st.st_size)
            found.append(st.st_mtime_ns)
        return found.tobytes()
    finally:
        os.close(fd)


def _pairs(packed: bytes) -> list[Stat]:
    values = array("q")
    values.frombytes(packed)
    return list(zip(values[0::2], values[1::2], strict=True))


def _unpack(joined: str, stats: bytes, digests: bytes) -> list[tuple[str, Stat, bytes]]:
    """A folder's posts as `remember` packed them: (name, (size, mtime), digest)."""
    names = joined.split("\0")
    return [
        (name, stat, digests[16 * i : 16 * i + 16])
        for i, (name, stat) in enumerate(zip(names, _pairs(stats), strict=True))
    ]


def stats(paths: Iterable[os.PathLike[str] | str]) -> tuple[tuple[str, Stat], ...]:
    """(path, (size, mtime)) of each path, as `remember` takes them; MISSING for
    one that does not exist or cannot be looked at (never "unchanged" then)."""
    found = []
    for path in paths:
        try:
            st = os.stat(path)
            found.append((os.fspath(path), (st.st_size, st.st_mtime_ns)))
        except OSError:
            found.append((os.fspath(path), MISSING))
    return tuple(found)


def _stat(path: str) -> Stat:
    try:
        st = os.stat(path)
    except FileNotFoundError:
        return MISSING
    return (st.st_size, st.st_mtime_ns)


def _digest(path: str) -> bytes:
    import hashlib

    with open(path, "rb") as file:
        return hashlib.blake2b(file.read(), digest_size=16).digest()


def _version() -> str:
    from .. import __version__

    return __version__


# -- the recording side --------------------------------------------------------


def remember(
    state_dir: str,
    *,
    config_path: str,
    config_bytes: bytes,
    mode: tuple[bool, bool],
    files: Iterable[tuple[str, Stat]],
    folders: Iterable[tuple[str, int]],
    posts: Iterable[tuple[str, int, int]],
    due: datetime | None,
    lines: Sequence[Line],
    code: int,
    observed_ns: int,
) -> bool:
    """Record what a replayed run printed and what that depended on.

    `files`, `folders` and `posts` carry the stats the run saw, taken at or
    before `observed_ns`; a post whose stat differs now is not recorded (nor is
    anything). Returns False, writing nothing, when any of them is so recent
    that its mtime could lie, or changed since. Raises nothing: it is a cache.
    """
    import contextlib
    from pathlib import Path

    from ..files import write_atomic

    racy_after = observed_ns - RACY_NS
    files = list(files)
    folders = list(folders)
    if any(mtime >= racy_after for _p, (_s, mtime) in files) or any(
        mtime >= racy_after for _p, mtime in folders
    ):
        return False
    known = _known_digests(state_dir)
    by_folder: dict[str, tuple[list[str], array[int], list[bytes]]] = {}
    for path, size, mtime in posts:
        if mtime >= racy_after:
            return False
        digest = known.get((path, size, mtime))
        if digest is None:
            try:
                digest = _digest(path)
            except OSError:
                return False
            if _stat(path) != (size, mtime):
                return False  # changed while we read it: what we read is not what was run
        folder, name = os.path.split(path)
        names, stats, digests = by_folder.setdefault(folder, ([], array("q"), []))
        names.append(name)
        stats.append(size)
        stats.append(mtime)
        digests.append(digest)
    # Packed: a few objects per folder, not three per post, so that loading the
    # record costs little (10 MB of tuples took 0.14 s at 100,000 posts).
    rows = tuple(
        (folder, "\0".join(names), stats.tobytes(), b"".join(digests))
        for folder, (names, stats, digests) in by_folder.items()
    )
    record = {
        "format": FORMAT,
        "python": sys.version,
        "version": _version(),
        "config": config_path,
        "config_bytes": config_bytes,
        "mode": mode,
        "state_dir": state_dir,
        "files": tuple((path, size, mtime) for path, (size, mtime) in files),
        "folders": tuple(folders),
        "posts": rows,  # (folder, names joined by NUL, sizes and mtimes, 16-byte digests)
        "due": _ns(due) if due is not None else None,
        "lines": tuple(lines),
        "code": code,
    }
    try:
        write_atomic(Path(state_dir, FILE), marshal.dumps(record), fsync=False)
    except OSError:
        return False
    with contextlib.suppress(OSError):
        os.unlink(os.path.join(state_dir, OLD_FILE))
    return True


def forget(state_dir: str) -> None:
    """Before a full run: the record no longer holds. It is kept aside (not
    read by `replay`) for its digests."""
    import contextlib

    with contextlib.suppress(OSError):  # none (or the folder is not there yet)
        os.replace(os.path.join(state_dir, FILE), os.path.join(state_dir, OLD_FILE))


def _known_digests(state_dir: str) -> dict[tuple[str, int, int], bytes]:
    """Digests of the files the last record held, by (path, size, mtime)."""
    for name in (FILE, OLD_FILE):
        record = _load(os.path.join(state_dir, name))
        if record is not None:
            try:
                return {
                    (os.path.join(folder, name), *stat): digest
                    for folder, joined, stats, digests in record["posts"]
                    for name, stat, digest in _unpack(joined, stats, digests)
                }
            except (KeyError, TypeError, ValueError):
                return {}
    return {}
