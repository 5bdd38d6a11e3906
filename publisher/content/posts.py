"""Read one post file into a `Post`: its text, its front matter, then the
reader of the site's dialect (`readers`) for the rest.

Every problem becomes a `Problem` naming the file (and the line where there is
one). The post is skipped on an error, or kept with a warning when nothing it
says is lost.
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ..config.settings import Config
from ..errors import ContentError
from ..jekyll.rules import deep_merge, defaults_for, settings
from ..model import Post, Problem
from .readers import Reader, reader_for
from .readers.finish import finish
from .readers.values import USUAL_KEYS, Invalid, key_line, miscased, not_read, warning

if TYPE_CHECKING:
    import yaml

    from ..jekyll.liquid import LiquidSite
    from .safeyaml import Handler

# XML 1.0 forbids these; feedgen (lxml) raises on them.
ILLEGAL_XML = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\ufffe\uffff]")
# The same characters in UTF-8: the controls are single bytes, U+FFFE and
# U+FFFF three each (EF BF BE, EF BF BF).
CONTROL_BYTES = bytes(c for c in range(0x20) if c not in (0x09, 0x0A, 0x0D))
# Every other byte: deleting these from a file leaves its control bytes.
NOT_CONTROL_BYTES = bytes(c for c in range(0x100) if c not in CONTROL_BYTES)
# One search for both, where `in` twice took 4x as long (Python's substring
# search is slow on UTF-8 text full of continuation bytes).
NONCHARACTER_BYTES = re.compile(b"\xef\xbf[\xbe\xbf]")
READ_CHUNK = 1 << 16
# Front matter: `---` on the first line, closed by `---` or YAML's `...` (as Jekyll).
# The captured text keeps the newline after the opening `---`, so that its line
# n (from 0) is line n + 1 of the file. It is taken a whole line at a time
# (`.*\n`), which is 5x faster than a lazy `.*?` trying a line start at each character.
FRONT_MATTER = re.compile(r"\A-{3,}[ \t]*(\n(?:.*\n)*?)(?:-{3,}|\.\.\.)[ \t]*(?:\n|\Z)")
OPENED = re.compile(r"\A-{3,}[ \t]*\n")


@dataclass
class _Text:
    text: str
    problems: list[Problem]


def read_text(path: str | Path, name: str) -> _Text | Problem:
    """The file as clean text, or the one Problem that makes it unreadable."""
    try:
        data = _read_bytes(path)
    except OSError as exc:
        return Problem(name, f"cannot read file: {exc.strerror}")
    if not data.strip():
        return Problem(
            name, "empty file (add front matter to publish it)", severity="warning"
        )
    if b"\x00" in data[:8192]:
        return Problem(name, "contains NUL bytes: looks like a binary file, not a post")
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as exc:
        line = data.count(b"\n", 0, exc.start) + 1
        return Problem(
            name,
            f"not UTF-8: byte 0x{data[exc.start]:02x} cannot be decoded; "
            "save the file as UTF-8",
            line=line,
        )
    text = text.removeprefix("\ufeff")
    if b"\r" in data:
        text = text.replace("\r\n", "\n")
    problems: list[Problem] = []
    if _has_illegal_xml(data):
        for lineno, line_text in enumerate(text.split("\n"), start=1):
            found = ILLEGAL_XML.findall(line_text)
            if found:
                codes = ", ".join(sorted({f"U+{ord(c):04X}" for c in found}))
                problems.append(
                    Problem(
                        name,
                        f"removed control characters not allowed in XML ({codes})",
                        line=lineno,
                        severity="warning",
                    )
                )
        text = ILLEGAL_XML.sub("", text)
    return _Text(text, problems)


def _read_bytes(path: str | Path) -> bytes:
    """The file's bytes. os.read takes half the time of Path.read_bytes (no
    file object) on a post-sized file; it reads until the end, as that does."""
    fd = os.open(path, os.O_RDONLY | getattr(os, "O_BINARY", 0))  # binary on Windows
    try:
        chunks = []
        while chunk := os.read(fd, READ_CHUNK):
            chunks.append(chunk)
    finally:
        os.close(fd)
    return chunks[0] if len(chunks) == 1 else b"".join(chunks)


def _has_illegal_xml(data: bytes) -> bool:
    """True if the UTF-8 `data` holds a character ILLEGAL_XML matches: in the
    bytes it takes a third of the time of that regexp on the decoded text."""
    if data.translate(None, NOT_CONTROL_BYTES):  # (not a copy of the whole file)
        return True
    # A memchr for EF first: most posts have none.
    return b"\xef" in data and NONCHARACTER_BYTES.search(data) is not None


def split_front_matter(text: str) -> tuple[str, str, int] | None:
    """(front matter, body, line the body starts on), or None without front matter
    (or with front matter that is never closed: see `unclosed`)."""
    match = FRONT_MATTER.match(text)
    if match is None:
        return None
    fm = match.group(1)
    return fm, text[match.end() :], fm.count("\n") + 2


def unclosed(text: str) -> bool:
    """True when the file opens front matter with `---` and never closes it."""
    return OPENED.match(text) is not None and FRONT_MATTER.match(text) is None


def read_body(post: Post) -> str:
    """The post's body, read again from disk (the model keeps only metadata)."""
    result = read_text(post.path, post.name)
    if isinstance(result, Problem):
        # It was read a moment ago (or on an earlier run, from the cache).
        raise ContentError(
            f"{post.name}: {result.message}",
            hint=f"check {post.path}: it changed or became unreadable while publishing; "
            "then publish again",
        )
    parts = split_front_matter(result.text)
    return parts[1] if parts else result.text


def read_page(post: Post, site: LiquidSite) -> tuple[dict[str, Any], int]:
    """Liquid's `page` for a post of a Jekyll site (its front matter over the
    defaults, with url, date, id, …), and the line its body starts on."""
    result = read_text(post.path, post.name)
    text = result.text if isinstance(result, _Text) else ""
    parts = split_front_matter(text) or ("\n", text, 1)
    try:
        meta = _handler().load(parts[0]) or {}
    except _yaml_error():
        meta = {}
    if not isinstance(meta, dict):
        meta = {}
    if site.jekyll is not None:
        meta = deep_merge(defaults_for(settings(site.jekyll).defaults, post.name), meta)
    page = {**meta, **site.post_drop(post)}
    return page, parts[2]



def read_post(
    path: str | Path,
    posts_dir: Path,
    config: Config,
    problems: list[Problem],
    size: int | None = None,
    name: str | None = None,
) -> Post | None:
    """The post in the file at `path` (`name` in messages: relative to
    `posts_dir`, with `/`), or None; what is wrong with it goes to `problems`.

    `path` may be the str the folder walk gives: the Post's path is the same
    as for a Path, and no Path object is made per file (~3 µs a post)."""
    path = _as_path_str(path)
    if name is None:
        name = Path(path).relative_to(posts_dir).as_posix()
    result = read_text(path, name)
    if isinstance(result, Problem):
        problems.append(result)
        return None
    problems.extend(result.problems)
    reader = reader_for(config)
    parts = split_front_matter(result.text)
    if parts is None:
        parts = _without_front_matter(reader, name, result.text, problems)
        if parts is None:
            return None
    fm_text, body, body_line = parts
    try:
        meta, notes = _handler().load_with_notes(fm_text)
    except _yaml_error() as exc:
        problems.append(_yaml_problem(name, exc))
        return None
    problems.extend(Problem(name, note, line=at, severity="warning") for at, note in notes)
    if meta is None:
        meta = {}
    if not isinstance(meta, dict):
        problems.append(
            Problem(name, "front matter must be a mapping of keys to values", line=2)
        )
        return None
    if not USUAL_KEYS.issuperset(meta):  # (inlined: the common case, every post)
        _note_miscased(reader, name, meta, fm_text, problems)
    try:
        core = reader.core(path, name, meta, fm_text, body, body_line, config, problems)
        return None if core is None else finish(path, name, fm_text, config, problems, size, core)
    except Invalid as exc:
        problems.append(Problem(name, str(exc), line=key_line(fm_text, exc.key)))
        return None
    except (ValueError, OverflowError, RecursionError) as exc:
        # The last net for a value no rule above foresaw (a date at the end
        # of time, say): this post is skipped, the others publish.
        problems.append(
            Problem(name, f"cannot be published: {exc}; check the front matter values")
        )
        return None


def _without_front_matter(
    reader: Reader, name: str, text: str, problems: list[Problem]
) -> tuple[str, str, int] | None:
    """A file with no front matter (or front matter never closed): what its
    dialect's reader reads it as, or None."""
    if unclosed(text):
        problems.append(
            Problem(
                name,
                "front matter opened with `---` is never closed: add a line `---` "
                "after it (skipped until then)",
                line=1,
            )
        )
        return None
    return reader.without_front_matter(name, text, problems)


def _note_miscased(
    reader: Reader, name: str, meta: dict[str, Any], fm_text: str, problems: list[Problem]
) -> None:
    """A warning for each key written with capitals that the reader does not
    note itself (it is not read)."""
    for meant, written in miscased(meta):
        if meant not in reader.NOTES_MISCASED:
            problems.append(warning(name, fm_text, written, not_read(written, meant)))


def _as_path_str(path: str | Path) -> str:
    """`path` as str(Path(path)) writes it. Path() drops `.` components and
    doubled or trailing separators (and writes `/` as `\\` on Windows); the
    paths the walk gives have none of these, so only a path that may have
    one goes through Path() here."""
    if not isinstance(path, str):
        return str(path)
    sep = os.sep
    if (
        not path
        or (os.altsep is not None and os.altsep in path)
        or sep + sep in path
        or sep + "." + sep in path
        or path.startswith("." + sep)
        or path.endswith((sep, sep + "."))
    ):
        return str(Path(path))
    return path


@lru_cache(maxsize=1)
def _handler() -> Handler:
    # Imported on first use: a run with nothing changed parses no YAML at all.
    # Bounded against alias bombs, huge numbers and escaped control characters.
    from .safeyaml import Handler  # noqa: PLC0415

    return Handler()


def _yaml_error() -> type[yaml.YAMLError]:
    import yaml  # noqa: PLC0415  # lazy: PyYAML, as _handler

    return yaml.YAMLError


def _yaml_problem(name: str, exc: yaml.YAMLError) -> Problem:
    """Point at where the mistake starts (an unclosed quote or bracket), not
    where YAML noticed it, which is often the closing `---`."""
    problem = getattr(exc, "problem", None) or str(exc).splitlines()[0]
    mark = getattr(exc, "problem_mark", None)
    context = getattr(exc, "context", None)
    context_mark = getattr(exc, "context_mark", None)
    # Marks count from the line after the opening `---`, from zero.
    line = mark.line + 1 if mark is not None else None
    message = f"front matter is not valid YAML: {problem}"
    if "mapping values are not allowed" in problem:
        message += "; a value containing ': ' must be quoted"
    if context and context_mark is not None and context_mark.line + 1 != line:
        line = context_mark.line + 1
        message += f" ({context} that starts here)"
    return Problem(name, message, line=line)
