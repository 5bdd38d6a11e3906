"""The nothing-changed shortcut, taken before the command line is imported.

Run from cron every few minutes, `publisher publish` mostly finds nothing
changed. The run guard (`cache.RunGuard`) then replays the last full run's
report after loading the configuration, opening the state store and scanning
the posts folder; most of that run's time is importing click and publisher.
This module answers the same question for less: the command line records,
after a full run and after a run the guard replayed, what a replay prints and
every file the answer depends on; the next identical command checks those
files with `os.stat` alone and prints the answer again. It imports only `os`,
`sys`, `marshal`, `time` and `memo` (and `datetime` for `--now`, `hashlib`
after a touch or a full run).

What the answer depends on, and how each is checked here:

- the command: `publish` or `build`, `--future`, `--no-digest`, the
  configuration file's path (any other option runs the full command);
- the configuration: publisher.toml's bytes, compared whole. A Jekyll site's
  configuration comes from many files, so it is never recorded;
- the posts: the mtime of every folder the walk listed (adding, removing or
  renaming a file moves its folder's mtime) and the size and mtime of every
  post file. A file whose mtime moved but not its size (`touch`, a checkout)
  is read and compared by BLAKE2 digest: same bytes, same answer;
- the state: the state store and its WAL, the run record and the feed cache;
- the outputs: every file the run reported (size and mtime);
- the clock: the next scheduled post coming due.

The record is a memo (`memo`): written whole, of this module's FORMAT, by
this very code, and its `depends` is the command and the configuration's
bytes. Stats follow the memo's racy rule. Those of the posts and folders are
the ones the run saw before it read anything, so a change made while it ran
is a difference next time, never hidden; if any is so recent that its mtime
could lie, no record is written. The files a full run wrote itself are
necessarily that recent: they are recorded with their digest (`racy`) and
compared by bytes until they are old enough for their stat to prove anything;
the first replay after that writes the record again without them (`_settle`),
and with the digests of the posts that a full run did not read twice. The
command line writes the record under the site lock; every full run drops it
first (`forget`).
"""

from __future__ import annotations

import os
import sys
import time
from array import array

from ..config.defaults import DEFAULT_FILE, STATE_PATH
from . import memo
from .memo import MISSING, Stat

# Not `typing.TYPE_CHECKING`: importing typing would cost this path more than
# all its other work (mypy treats any constant of this name alike).
TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Iterable, Sequence
    from datetime import datetime
    from typing import Any

__all__ = ["FILE", "MISSING", "OLD_FILE", "RACY_NS", "Line", "forget", "remember", "replay",
           "stats"]

FILE = "shortcut.cache"
# The last record, kept by `forget` so that `remember` can reuse its digests
# rather than read every post again.
OLD_FILE = "shortcut.old"
# 2: each folder's posts packed (names in one string, stats in one array);
# 3: a memo (the command and configuration as `depends`), with `racy` files
# compared by digest and posts whose digest is not known yet (UNKNOWN).
FORMAT = 3
# Here, not only in `memo`: tests trust every mtime by setting this module's.
RACY_NS = memo.RACY_NS
UNKNOWN = bytes(16)  # a post's digest not taken yet: a touch of it declines

Line = tuple[bool, str | None]  # (to stderr, text); None is the "Done in" line
Mode = tuple[bool, bool]  # --future, with the digest


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
        path = os.path.join(_state_dir(config_path, config_bytes), FILE)
    except (OSError, ValueError):
        return None
    record = memo.load(path, FORMAT, (config_path, config_bytes, mode))
    checked_ns = time.time_ns()  # before any stat below
    if record is None or not _holds(record, now_text):
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
    if record["racy"]:
        sys.stdout.flush()  # the answer first; then, once, the record made cheaper
        _settle(path, record, checked_ns - RACY_NS)
    return code


def _parse(argv: Sequence[str]) -> tuple[str, bool, Mode, str | None] | None:
    """(config path, quiet, (future, with digest), --now) for the commands this
    module answers: `[-q] [-c FILE] publish|build [--future] [--no-digest]
    [--now T]`, as click reads them. Anything else is None."""
    config, quiet, i = DEFAULT_FILE, False, 0
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
    module's work, and imports typing), never trusted: the record found there
    must hold these very bytes of this very file, and only a run that loaded
    them wrote it there. A `[state] path` written another way than
    `path = "..."` under `[state]` is guessed wrong, and the full command runs.
    """
    path = STATE_PATH
    in_state = False
    for line in config_bytes.decode("utf-8").splitlines():
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


def _holds(record: dict[str, Any], now_text: str | None) -> bool:
    """True if everything the recorded answer depended on is as it was."""
    try:
        due = record["due"]
        if due is not None:
            now = _now_ns(now_text)
            if now is None or now >= due:
                return False
        for path, size, mtime in record["files"]:
            if memo.stat(path) != (size, mtime):
                return False
        for path, size, mtime, digest in record["racy"]:
            if memo.stat(path) != (size, mtime) or memo.digest(path) != digest:
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
                    if old[0] != new[0] or digest == UNKNOWN:
                        return False  # resized, or not known to be the same bytes
                    touched.append((os.path.join(folder, name), digest))
        return all(memo.digest(path) == digest for path, digest in touched)
    except (OSError, KeyError, TypeError, ValueError):
        return False


def _settle(path: str, record: dict[str, Any], racy_after: int) -> None:
    """Write the record again once its `racy` files are old enough for their
    stat to show any change (their bytes were just found as recorded), with
    the digests of the posts it did not know yet. Without the site lock, and
    so harmless if another run writes meanwhile: every record is checked
    against the files before it is believed, whoever wrote it and when."""
    racy = record["racy"]
    if any(not memo.trusted(mtime, racy_after) for _p, _s, mtime, _d in racy):
        return  # not yet: compared by bytes again next time
    try:
        posts = tuple(_known(folder, joined, stats, digests)
                      for folder, joined, stats, digests in record["posts"])
        files = tuple(record["files"]) + tuple((p, s, m) for p, s, m, _d in racy)
        memo.save(path, FORMAT, {**record, "files": files, "racy": (), "posts": posts},
                  record["depends"], fsync=False)
    except Exception:  # noqa: BLE001 - a cache: the next run only checks more
        return


def _known(folder: str, joined: str, stats: bytes, digests: bytes) -> tuple[str, str, bytes, bytes]:
    """A folder's row with every post's digest taken. Raises OSError if a post
    changed since it was checked."""
    if UNKNOWN not in [digests[i : i + 16] for i in range(0, len(digests), 16)]:
        return folder, joined, stats, digests
    found = []
    for name, stat, digest in _unpack(joined, stats, digests):
        if digest == UNKNOWN:
            file = os.path.join(folder, name)
            digest = memo.digest(file)
            if memo.stat(file) != stat:
                raise OSError(f"{file} changed")
        found.append(digest)
    return folder, joined, stats, b"".join(found)


def _now_ns(text: str | None) -> int | None:
    """Now, or --now read as `cli.common.parse_now` reads it; None if it cannot."""
    if not text:
        return time.time_ns()
    from datetime import UTC, datetime  # noqa: PLC0415  # lazy: stdlib-light shortcut; only with --now

    try:
        parsed = datetime.fromisoformat(text)
    except ValueError:
        return None  # the full command says what is wrong with it
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=UTC)
    return _ns(parsed)


def _ns(when: datetime) -> int:
    """A moment as integer nanoseconds since the epoch (exact, unlike a float)."""
    from datetime import UTC, datetime  # noqa: PLC0415  # lazy: the shortcut stays stdlib-light

    delta = when - datetime(1970, 1, 1, tzinfo=UTC)
    return (delta.days * 86_400 + delta.seconds) * 1_000_000_000 + delta.microseconds * 1000


def _stats(folder: str, names: Sequence[str]) -> bytes:
    """Size and mtime of each file of `folder`, packed as `remember` packs them;
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


stats = memo.stats  # as `remember` takes them


# -- the recording side --------------------------------------------------------


def remember(
    state_dir: str,
    *,
    config_path: str,
    config_bytes: bytes,
    mode: Mode,
    files: Iterable[tuple[str, Stat]],
    folders: Iterable[tuple[str, int]],
    posts: Iterable[tuple[str, int, int]],
    due: datetime | None,
    lines: Sequence[Line],
    code: int,
    observed_ns: int,
    written: Iterable[tuple[str, Stat]] = (),
    written_ns: int = 0,
    read_posts: bool = True,
) -> bool:
    """Record what a replay prints and what that depends on.

    `files`, `folders` and `posts` carry the stats the run saw, taken at or
    before `observed_ns`; a post whose stat differs now is not recorded (nor is
    anything). `written` are files the run wrote, stat'ed after `written_ns`:
    those too recent for their stat to prove anything are recorded with their
    digest. With `read_posts` False, a post whose digest the last record does
    not hold is recorded without (`_settle` takes it later).

    Returns False, writing nothing, when any stat of `files`, `folders` or
    `posts` is so recent that its mtime could lie, or changed since. Raises
    nothing: it is a cache.
    """
    import contextlib  # noqa: PLC0415  # lazy: not loaded by a replayed run

    racy_after = observed_ns - RACY_NS
    files = list(files)
    folders = list(folders)
    if any(not memo.trusted(mtime, racy_after) for _p, (_s, mtime) in files) or any(
        not memo.trusted(mtime, racy_after) for _p, mtime in folders
    ):
        return False
    racy = _written(written, written_ns, files)
    if racy is None:
        return False
    rows = _rows(state_dir, posts, racy_after, read_posts)
    if rows is None:
        return False
    record = {
        "state_dir": state_dir,
        "files": tuple((path, size, mtime) for path, (size, mtime) in files),
        "racy": tuple(racy),  # (path, size, mtime, digest): compared by bytes
        "folders": tuple(folders),
        "posts": rows,  # (folder, names joined by NUL, sizes and mtimes, 16-byte digests)
        "due": _ns(due) if due is not None else None,
        "lines": tuple(lines),
        "code": code,
    }
    try:
        memo.save(os.path.join(state_dir, FILE), FORMAT, record,
                  (config_path, config_bytes, mode), fsync=False)
    except Exception:  # noqa: BLE001 - OutputError or OSError: a cache, never an error
        return False
    with contextlib.suppress(OSError):
        os.unlink(os.path.join(state_dir, OLD_FILE))
    return True


def _written(
    written: Iterable[tuple[str, Stat]], written_ns: int, files: list[tuple[str, Stat]]
) -> list[tuple[str, int, int, bytes]] | None:
    """Files the run wrote: those old enough for their stat to prove something
    join `files`; the rest are returned with their digest, to be compared by
    bytes. None when one changed while it was read."""
    racy = []
    for path, stat in written:
        if memo.trusted(stat[1], written_ns - RACY_NS) or stat == MISSING:
            files.append((path, stat))
            continue
        try:
            digest = memo.digest(path)
        except OSError:
            return None
        if memo.stat_or_none(path) != stat:
            return None  # changed while we read it
        racy.append((path, *stat, digest))
    return racy


def _rows(
    state_dir: str, posts: Iterable[tuple[str, int, int]], racy_after: int, read_posts: bool
) -> tuple[tuple[str, str, bytes, bytes], ...] | None:
    """The posts packed by folder, with their digests; None if one is too
    recent to record or changed since its stat."""
    known = _known_digests(state_dir)
    by_folder: dict[str, tuple[list[str], array[int], list[bytes]]] = {}
    for path, size, mtime in posts:
        if not memo.trusted(mtime, racy_after):
            return None
        digest = known.get((path, size, mtime))
        if digest is None and not read_posts:
            digest = UNKNOWN
        elif digest is None:
            try:
                digest = memo.digest(path)
            except OSError:
                return None
            if memo.stat_or_none(path) != (size, mtime):
                return None  # changed while we read it: what we read is not what was run
        folder, name = os.path.split(path)
        names, stats, digests = by_folder.setdefault(folder, ([], array("q"), []))
        names.append(name)
        stats.append(size)
        stats.append(mtime)
        digests.append(digest)
    # Packed: a few objects per folder, not three per post, so that loading the
    # record costs little (10 MB of tuples took 0.14 s at 100,000 posts).
    return tuple(
        (folder, "\0".join(names), stats.tobytes(), b"".join(digests))
        for folder, (names, stats, digests) in by_folder.items()
    )


def forget(state_dir: str) -> None:
    """Before a full run: the record no longer holds. It is kept aside (not
    read by `replay`) for its digests."""
    import contextlib  # noqa: PLC0415  # lazy: not loaded by a replayed run

    with contextlib.suppress(OSError):  # none (or the folder is not there yet)
        os.replace(os.path.join(state_dir, FILE), os.path.join(state_dir, OLD_FILE))


def _known_digests(state_dir: str) -> dict[tuple[str, int, int], bytes]:
    """Digests of the files the last record held, by (path, size, mtime)."""
    for name in (FILE, OLD_FILE):
        record = memo.load(os.path.join(state_dir, name), FORMAT)
        if record is not None:
            try:
                return {
                    (os.path.join(folder, name), *stat): digest
                    for folder, joined, stats, digests in record["posts"]
                    for name, stat, digest in _unpack(joined, stats, digests)
                    if digest != UNKNOWN
                }
            except (KeyError, TypeError, ValueError):
                return {}
    return {}
