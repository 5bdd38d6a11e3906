"""How everything a run keeps for later runs is stored and read back: a memo.

The run record, the shortcut's record and the post, render and feed caches
are all memos: a dict written whole and atomically, that says

- its `format` (the layout of the rest; each memo numbers its own),
- the code that wrote it (`python`: the interpreter's version, whose marshal
  and whose behaviour it assumed; `version`: publisher's),
- `depends`: what its contents were computed from (a configuration
  fingerprint, or the configuration file's bytes and the command),

and is read back only if all three still match: `load` declines (None) on any
mismatch or damage and never raises, so that a memo can only ever save work,
never change an answer.

A memo that holds files' stats follows one rule for them (`RACY_NS`): a file
whose mtime is within that window of the moment its stat was taken could
still change without its mtime moving on a coarse-grained filesystem, so
such a stat proves nothing; callers pass `racy_after` (that moment less
`RACY_NS`, from their own module's `RACY_NS`, which tests set to 0) and
`trusted` says which stats hold.

Standard library only and cheap to import: the nothing-changed shortcut
(`shortcut`) uses it before anything else of publisher's is loaded.
"""

from __future__ import annotations

import marshal
import os
import sys

from .. import __version__

# Not `typing.TYPE_CHECKING`: importing typing would cost the shortcut more
# than all its other work (mypy treats any constant of this name alike).
TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Iterable
    from typing import Any

# A file changed this recently could change again without its mtime moving on
# a coarse-grained filesystem (2 s: FAT's resolution, the coarsest in use).
RACY_NS = 2_000_000_000
MISSING = (-1, -1)  # the (size, mtime) of a file that does not exist

Stat = tuple[int, int]  # size, mtime_ns


class _Any:
    """`depends=ANY`: read a memo whatever it was computed from."""


ANY = _Any()


def load(path: str | os.PathLike[str], fmt: int, depends: object = ANY) -> dict[str, Any] | None:
    """The memo in `path` if it is of format `fmt`, written by this very code
    and (unless ANY) computed from `depends`; None if not, or missing, or damaged."""
    try:
        with open(path, "rb") as file:
            data = marshal.loads(file.read())
    except (OSError, EOFError, ValueError, TypeError):
        return None
    return data if _holds(data, fmt, depends) else None


def dumps(fmt: int, payload: dict[str, Any], depends: object = None) -> bytes:
    """A memo's bytes: `payload` under the header `load` checks."""
    return marshal.dumps({**payload, **_header(fmt, depends)})


def save(
    path: str | os.PathLike[str],
    fmt: int,
    payload: dict[str, Any],
    depends: object = None,
    *,
    fsync: bool = True,
) -> None:
    """Write the memo atomically (a reader sees the old one or the new one).
    Raises `OutputError` as `files.write_atomic` does."""
    # lazy: pathlib and files/ (tempfile) are not on the shortcut's path, which loads memo
    from pathlib import Path  # noqa: PLC0415

    from ..files import write_atomic  # noqa: PLC0415

    write_atomic(Path(path), dumps(fmt, payload, depends), fsync=fsync)


def load_json(path: str | os.PathLike[str], fmt: int) -> dict[str, Any] | None:
    """`load` for a memo kept as JSON, for people to read (the run record)."""
    import json  # noqa: PLC0415  # lazy: json is not on the shortcut's path

    try:
        with open(path, "rb") as file:
            data = json.loads(file.read())
    except (OSError, ValueError):
        return None
    return data if _holds(data, fmt, ANY) else None


def save_json(path: str | os.PathLike[str], fmt: int, payload: dict[str, Any]) -> None:
    """`save` for a memo kept as JSON."""
    # lazy: json, pathlib and files/ are not on the shortcut's path, which loads memo
    import json  # noqa: PLC0415
    from pathlib import Path  # noqa: PLC0415

    from ..files import write_atomic  # noqa: PLC0415

    data = {"format": fmt, **payload, **_header(fmt, None)}
    del data["depends"]  # JSON memos carry their inputs in their payload
    write_atomic(Path(path), json.dumps(data, ensure_ascii=False).encode("utf-8"))


def _header(fmt: int, depends: object) -> dict[str, Any]:
    return {"format": fmt, "python": sys.version, "version": code_version(), "depends": depends}


def _holds(data: object, fmt: int, depends: object) -> bool:
    if not isinstance(data, dict) or data.get("format") != fmt:
        return False
    if data.get("python") != sys.version or data.get("version") != code_version():
        return False
    return depends is ANY or data.get("depends") == depends


def code_version() -> str:
    """publisher's version: a memo written by other code is not read."""
    return __version__


# -- file stats ----------------------------------------------------------------


def stat(path: str | os.PathLike[str]) -> Stat:
    """(size, mtime_ns) of `path`; MISSING if it does not exist. Raises
    `OSError` if it cannot be looked at: a checker declines then."""
    try:
        st = os.stat(path)
    except FileNotFoundError:
        return MISSING
    return (st.st_size, st.st_mtime_ns)


def stat_or_none(path: str | os.PathLike[str]) -> Stat | None:
    """(size, mtime_ns) of `path`; None if it is missing or cannot be looked at."""
    try:
        st = os.stat(path)
    except OSError:
        return None
    return (st.st_size, st.st_mtime_ns)


def stats(paths: Iterable[os.PathLike[str] | str]) -> tuple[tuple[str, Stat], ...]:
    """(path, (size, mtime)) of each path, to record; MISSING for one that does
    not exist or cannot be looked at."""
    return tuple((os.fspath(path), stat_or_none(path) or MISSING) for path in paths)


def trusted(mtime_ns: int, racy_after: int) -> bool:
    """True if a stat with this mtime, taken after `racy_after + RACY_NS`, shows
    every later change: the file is older than the window in which it could
    change without its mtime moving."""
    return mtime_ns < racy_after


def digest(path: str | os.PathLike[str]) -> bytes:
    """A file's bytes in 16 (BLAKE2): what a stat cannot prove, these can."""
    import hashlib  # noqa: PLC0415  # lazy: not on the shortcut's path, which loads memo

    with open(path, "rb") as file:
        return hashlib.blake2b(file.read(), digest_size=16).digest()
