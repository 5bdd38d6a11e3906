"""Read one post file into a `Post`: text, front matter, validation.

Every problem becomes a `Problem` naming the file (and the line where there is
one). The post is skipped on an error, or kept with a warning when nothing it
says is lost.
"""

from __future__ import annotations

import logging
import os
import re
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta, timezone, tzinfo
from functools import lru_cache
from pathlib import Path, PurePosixPath
from typing import TYPE_CHECKING, Any, Literal, NamedTuple
from urllib.parse import quote, urljoin, urlsplit

from ..config.settings import Config
from ..errors import ContentError
from ..jekyll.rules import categories_from_path, parse_time
from ..model import Enclosure, Image, Person, Post, Problem
from .urls import clean_post_urls

if TYPE_CHECKING:
    import yaml

    from ..jekyll.liquid import LiquidSite
    from .safeyaml import Handler

log = logging.getLogger(__name__)

FORMATS: dict[str, Literal["markdown", "html", "text"]] = {
    ".md": "markdown",
    ".markdown": "markdown",
    # The other extensions Jekyll reads as Markdown (its default markdown_ext).
    ".mkdn": "markdown",
    ".mkd": "markdown",
    ".mdown": "markdown",
    ".mkdown": "markdown",
    ".txt": "text",
    ".text": "text",
    ".html": "html",
}
PERMALINK_STYLES = {
    "date": "/:categories/:year/:month/:day/:title:output_ext",
    "pretty": "/:categories/:year/:month/:day/:title/",
    "ordinal": "/:categories/:year/:y_day/:title:output_ext",
    "none": "/:categories/:title:output_ext",
}
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
# Jekyll accepts unpadded months and days: 2014-3-3-hello.md.
FILENAME = re.compile(r"^(\d{4})-(\d{1,2})-(\d{1,2})-(.+)$")
# Front matter: `---` on the first line, closed by `---` or YAML's `...` (as Jekyll).
# The captured text keeps the newline after the opening `---`, so that its line
# n (from 0) is line n + 1 of the file. It is taken a whole line at a time
# (`.*\n`), which is 5x faster than a lazy `.*?` trying a line start at each character.
FRONT_MATTER = re.compile(r"\A-{3,}[ \t]*(\n(?:.*\n)*?)(?:-{3,}|\.\.\.)[ \t]*(?:\n|\Z)")
OPENED = re.compile(r"\A-{3,}[ \t]*\n")
DATE_STRING = re.compile(
    r"^(\d{4})-(\d{1,2})-(\d{1,2})"
    r"(?:[ T](\d{1,2}):(\d{2})(?::(\d{2})(?:\.(\d{1,6})\d*)?)?)?"
    r"\s*(Z|[+-]\d{2}:?\d{2})?$"
)
URL_SAFE_CHARS = "/:@-._~!$&'()*+,;=%?#"
URL_SAFE = re.compile(r"[A-Za-z0-9/:@\-._~!$&'()*+,;=%?#]*")
SEGMENT_SAFE = re.compile(r"[A-Za-z0-9\-._~!$&'()*+,;=:@]*")
SCHEME = re.compile(r"[A-Za-z][A-Za-z0-9+.\-]*:")
# type/subtype (RFC 6838 names), optionally with parameters: audio/ogg; codecs=opus
MIME_TYPE = re.compile(
    r"[A-Za-z0-9][A-Za-z0-9!#$&^_.+-]*/[A-Za-z0-9][A-Za-z0-9!#$&^_.+-]*"
    r"(\s*;\s*[A-Za-z0-9!#$&^_.+-]+=(\"[^\"]*\"|[A-Za-z0-9!#$&^_.+-]+))*"
)
# Media types for the enclosure files podcasts use, where `type` is left out;
# Python's mimetypes table differs between platforms for some of these.
MEDIA_SUFFIXES = {
    ".mp3": "audio/mpeg",
    ".m4a": "audio/mp4",
    ".aac": "audio/aac",
    ".ogg": "audio/ogg",
    ".oga": "audio/ogg",
    ".opus": "audio/ogg",
    ".flac": "audio/flac",
    ".wav": "audio/wav",
    ".mp4": "video/mp4",
    ".m4v": "video/mp4",
    ".mov": "video/quicktime",
    ".webm": "video/webm",
    ".pdf": "application/pdf",
    ".epub": "application/epub+zip",
}


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
    from ..jekyll.rules import deep_merge, defaults_for, settings

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
    parts = split_front_matter(result.text)
    jekyll = config.jekyll_site is not None
    if parts is None:
        if unclosed(result.text):
            problems.append(
                Problem(
                    name,
                    "front matter opened with `---` is never closed: add a line `---` "
                    "after it (skipped until then)",
                    line=1,
                )
            )
            return None
        if not jekyll:
            # Only here, on a file not published, is it worth asking whether
            # it looked like a post: the posts that publish pay nothing.
            unread = _unread(name, result.text)
            if unread is None:
                log.debug("%s: no front matter, not a post", name)
            else:
                problems.append(unread)
            return None
        parts = ("\n", result.text, 1)  # Jekyll publishes a _posts file without front matter
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
        for meant, written in _miscased(meta):
            # A plain folder's missing title says this itself, with the title used.
            if meant != "title" or jekyll:
                problems.append(_warning(name, fm_text, written, _not_read(written, meant)))
    try:
        if jekyll:
            return _build_jekyll_post(
                path, name, meta, fm_text, body, body_line, config, problems, size
            )
        return _build_post(path, name, meta, fm_text, config, problems, size)
    except _Invalid as exc:
        problems.append(Problem(name, str(exc), line=_key_line(fm_text, exc.key)))
        return None
    except (ValueError, OverflowError, RecursionError) as exc:
        # The last net for a value no rule above foresaw (a date at the end
        # of time, say): this post is skipped, the others publish.
        problems.append(
            Problem(name, f"cannot be published: {exc}; check the front matter values")
        )
        return None


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


def _stem_and_suffix(path: str) -> tuple[str, str]:
    """Path(path).stem and .suffix: the file name split at its last dot,
    unless that dot starts or ends the name."""
    name = os.path.basename(path)
    dot = name.rfind(".")
    if 0 < dot < len(name) - 1:
        return name[:dot], name[dot:]
    return name, ""


@lru_cache(maxsize=1)
def _handler() -> Handler:
    # Imported on first use: a run with nothing changed parses no YAML at all.
    # Bounded against alias bombs, huge numbers and escaped control characters.
    from .safeyaml import Handler

    return Handler()


def _yaml_error() -> type[yaml.YAMLError]:
    import yaml

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


# The front matter keys read here and in jekyll.document: a key that is one
# of these but for its capitals (`Title:`, as Hugo and Pelican write them) is
# a mistake, never read, which would otherwise go unnoticed.
KEYS = frozenset({
    "title", "date", "categories", "category", "tags", "tag", "author", "authors", "id",
    "permalink", "published", "draft", "description", "excerpt", "excerpt_separator",
    "image", "updated", "last_modified_at", "enclosure", "audio", "banner_image", "slug",
    "feed",
})


# Those and the lower-case keys most other posts have: front matter with no
# other key (nearly all) is told to hold no capitalised key by one C-level
# `issuperset`, ~0.1 µs, where looking at each key took several times that.
USUAL_KEYS = KEYS | {
    "layout", "comments", "subtitle", "summary", "keywords", "lang", "type", "toc",
    "share", "header-img", "redirect_from", "aliases", "weight", "mathjax", "math",
}


def _miscased(meta: dict[Any, Any]) -> list[tuple[str, str]]:
    """(key meant, key written) for each key written with capitals that is read
    here in lower case, and not also written so. Runs on every post."""
    if USUAL_KEYS.issuperset(meta):
        return []
    found: list[tuple[str, str]] = []
    for key in meta:
        if key in USUAL_KEYS or not isinstance(key, str) or key.islower():
            continue
        meant = key.lower()
        if meant in KEYS and meant not in meta and meant not in (m for m, _ in found):
            found.append((meant, key))
    return found


def _not_read(written: str, meant: str) -> str:
    return (
        f"`{written}:` is not read (front matter keys are lower case): did you mean `{meant}`?"
    )


# What a file that is not published may look like, if it is a post in a format
# not read here (yet): front matter opened by `+++` (TOML, Hugo), a JSON
# object (Hugo), or `Key: value` header lines without `---` (Pelican,
# MultiMarkdown, or YAML front matter missing its lines).
TOML_OPENED = re.compile(r"\A\+{3}[ \t]*\n")
JSON_OPENED = re.compile(r'\A\{\s*"')
HEADER_LINE = re.compile(r"([A-Za-z][A-Za-z0-9_ -]{0,40}?)[ \t]*:(?:[ \t].*)?")
HEADER_LINES_READ = 30  # a header block is a few lines; a long text is not one
POST_KEYS = ("title", "date")  # a header block with neither is some other text
KEYS_NAMED = 4  # in the message, then "…"


def _unread(name: str, text: str) -> Problem | None:
    """For a file without front matter: why it is not published and what to do,
    if it looks like a post in a format not read here; else None (a file of
    notes, a page)."""
    if TOML_OPENED.match(text):
        message = (
            "front matter opened by `+++` is TOML (Hugo's), which publisher does not read: "
            "not published; write it as YAML between `---` lines "
            '(`title = "A"` becomes `title: "A"`)'
        )
    elif JSON_OPENED.match(text):
        message = (
            "front matter in `{ }` is JSON (Hugo's), which publisher does not read: "
            "not published; write it as YAML between `---` lines"
        )
    else:
        keys = _header_keys(text)
        if not any(key.lower() in POST_KEYS for key in keys):
            return None
        shown = ", ".join(f"`{key}:`" for key in keys[:KEYS_NAMED])
        shown += ", …" if len(keys) > KEYS_NAMED else ""
        capitals = any(key != key.lower() for key in keys)
        whose = " (Pelican's or MultiMarkdown's)" if capitals else ""
        message = (
            f"header lines {shown}{whose} are not read as front matter: not published; "
            "put a line `---` before and after them"
        )
        if capitals:
            lower = ", ".join(f"`{key.lower()}:`" for key in keys[:KEYS_NAMED])
            message += f", and write the keys in lower case ({lower})"
    return Problem(name, message, line=1, severity="warning", unread=True)


def _header_keys(text: str) -> list[str]:
    """The keys of the `Key: value` lines that open `text` (up to a blank line),
    or [] if a line before that is something else."""
    keys: list[str] = []
    for line in text.split("\n", HEADER_LINES_READ)[:HEADER_LINES_READ]:
        if not line.strip():
            break
        if line[0] in " \t" and keys:
            continue  # a value carried on to the next line
        match = HEADER_LINE.fullmatch(line)
        if match is None:
            return []
        keys.append(match.group(1))
    return keys


class _Invalid(Exception):
    def __init__(self, key: str, message: str) -> None:
        super().__init__(message)
        self.key = key


def _warning(name: str, fm_text: str, key: str, message: str) -> Problem:
    """A warning about the front matter `key`, on the line where it is written.
    (A function, not a closure in each builder: that would be made per post.)"""
    return Problem(name, message, line=_key_line(fm_text, key), severity="warning")


def _key_line(fm_text: str, key: str) -> int | None:
    """The file line on which a top-level key is written."""
    for index, line in enumerate(fm_text.split("\n")):
        if line.startswith(f"{key}:"):
            return index + 1
    return None


def _build_post(
    path: str,
    name: str,
    meta: dict[str, Any],
    fm_text: str,
    config: Config,
    problems: list[Problem],
    size: int | None,
) -> Post:
    tz = config.tz
    stem, suffix = _stem_and_suffix(path)
    m = FILENAME.match(stem)
    slug = m.group(4) if m else stem

    title = meta.get("title")
    if title is None or (isinstance(title, str) and not title.strip()):
        # (A Jekyll site titleizes as Jekyll does: see jekyll.document.)
        written = dict(_miscased(meta)).get("title") if title is None else None
        title = slug.replace("-", " ").replace("_", " ").strip().capitalize() or stem
        if written is not None:
            problems.append(_warning(
                name, fm_text, written, f"{_not_read(written, 'title')} The title is "
                f"{title!r}, from the file name, until then",
            ))
        else:
            problems.append(
                _warning(name, fm_text, "title", f"no title; using {title!r} from the file name")
            )
    elif isinstance(title, (list, dict)):
        raise _Invalid("title", "title must be text, not a list or mapping")
    title = " ".join(str(title).split())

    if "date" in meta and meta["date"] is not None:
        when = parse_date(meta["date"], tz)
        if when is None:
            raise _Invalid(
                "date",
                f"date {meta['date']!r} is not a date; write it as "
                "2025-12-13 or 2025-12-13 09:30:00 +0100",
            )
    elif m:
        try:
            when = datetime(int(m.group(1)), int(m.group(2)), int(m.group(3)), tzinfo=tz)
        except ValueError as exc:
            raise _Invalid("date", f"file name date is not valid: {exc}") from exc
    else:
        raise _Invalid(
            "date", "no date: add `date:` to the front matter or name the file YYYY-MM-DD-slug"
        )
    _check_range(when)

    # Folders above a `_posts` folder are categories, as in Jekyll: en/news/_posts/.
    categories = tuple(
        dict.fromkeys(
            categories_from_path(name)
            + _words(meta.get("categories", meta.get("category")), "categories")
        )
    )
    tags = _words(meta.get("tags", meta.get("tag")), "tags")
    ext_format = FORMATS[suffix.lower()]
    permalink = _permalink(meta, config, when.astimezone(tz), slug, categories)
    url = _on_site(config.site_url, permalink)
    key = str(meta["id"]).strip() if meta.get("id") not in (None, "") else url
    published = meta.get("published", True)
    draft = meta.get("draft", False)
    return _finish(
        path,
        name,
        meta,
        fm_text,
        config,
        problems,
        size,
        _Core(
            key=key,
            url=url,
            title=title,
            when=when,
            author=_person(meta.get("author"), config.site.author),
            categories=categories,
            tags=tags,
            format=ext_format,
            visible=published is not False and draft is not True,
        ),
    )


class _Core(NamedTuple):
    """What Jekyll mode and the plain posts folder decide differently. (A
    NamedTuple: made once per post, it costs a quarter of a frozen dataclass.)"""

    key: str
    url: str
    title: str
    when: datetime
    author: Person | None
    categories: tuple[str, ...]
    tags: tuple[str, ...]
    format: Literal["markdown", "html", "text"]
    visible: bool
    excerpt_only: bool = False
    own_id: bool = False


def _build_jekyll_post(
    path: str,
    name: str,
    meta: dict[str, Any],
    fm_text: str,
    body: str,
    body_line: int,
    config: Config,
    problems: list[Problem],
    size: int | None,
) -> Post | None:
    """A post of a Jekyll site, read as Jekyll reads it (see `jekyll.document`)."""
    from ..jekyll import document
    from ..jekyll.liquid import unknown_tags
    from ..jekyll.rules import settings

    site = config.jekyll_site
    assert site is not None
    jekyll = settings(site)
    try:
        mtime = os.stat(path).st_mtime if "_drafts/" in name else 0.0
        doc = document.read(jekyll, name, meta, config.tz, config.content.permalink, mtime)
    except document.Skip as skip:
        line = _key_line(fm_text, skip.key) if skip.key else None
        severity: Literal["error", "warning"] = "error" if skip.severity == "error" else "warning"
        problems.append(Problem(name, str(skip), line=line, severity=severity))
        return None
    except OSError as exc:
        problems.append(Problem(name, f"cannot read file: {exc.strerror}"))
        return None
    if isinstance(meta.get("title"), (list, dict)):
        raise _Invalid("title", "title must be text, not a list or mapping")
    for line, tag in unknown_tags(body):
        problems.append(
            Problem(
                name,
                f"unknown Liquid tag {{% {tag} %}} (a Jekyll plugin's?): left out",
                line=body_line + line - 1,
                severity="warning",
            )
        )
    meta = doc.meta
    author = document.resolve_author(
        document.author_value(meta, jekyll.raw.get("author")), jekyll.authors
    )
    front_id = meta.get("id")
    url = _on_site(config.site_url, doc.path)
    feed = meta.get("feed")
    return _finish(
        path,
        name,
        meta,
        fm_text,
        config,
        problems,
        size,
        _Core(
            key=str(front_id).strip() if front_id not in (None, "") else _on_site(
                config.site_url, doc.id
            ),
            url=url,
            title=document.feed_title(doc.title, config.jekyll.smart_quotes)
            or doc.title,
            when=doc.date,
            author=Person(**author) if author else None,
            categories=doc.categories,
            tags=doc.tags,
            format=doc.format,  # type: ignore[arg-type]
            # jekyll-feed leaves drafts out unless they are asked for (--drafts).
            visible=meta.get("published", True) is not False
            and (meta.get("draft") is not True or site.drafts),
            excerpt_only=isinstance(feed, dict) and feed.get("excerpt_only") is True,
            own_id=front_id not in (None, ""),
        ),
    )


def _finish(
    path: str,
    name: str,
    meta: dict[str, Any],
    fm_text: str,
    config: Config,
    problems: list[Problem],
    size: int | None,
    core: _Core,
) -> Post:
    """The Post, with what every post reads alike: updates, images, enclosures, excerpts."""
    tz = config.tz
    when = core.when

    _check_range(when)
    updated = when
    for key in ("last_modified_at", "updated"):
        if meta.get(key) is not None:
            parsed = parse_date(meta[key], tz)
            if parsed is None or not in_range(parsed):
                problems.append(
                    _warning(name, fm_text, key, f"{key} {meta[key]!r} is not a date; ignored")
                )
            else:
                updated = max(parsed, when)
            break

    image = _image(meta.get("image"), config.site_url)
    if meta.get("image") is not None and image is None:
        problems.append(
            _warning(name, fm_text, "image", "image must be a path or {path, alt}; ignored")
        )

    enclosure = None
    for key in ("enclosure", "audio"):
        if meta.get(key) is not None:
            found = _enclosure(meta[key], config.site_url)
            if isinstance(found, str):
                problems.append(
                    _warning(name, fm_text, key, f"{key}: {found}; published without it")
                )
            else:
                enclosure = found
            break
    banner = None
    if meta.get("banner_image") is not None:
        banner_image = _image(meta["banner_image"], config.site_url)
        if banner_image is None:
            problems.append(
                _warning(
                    name, fm_text, "banner_image", "banner_image must be a path or URL; ignored"
                )
            )
        else:
            banner = banner_image.url

    # jekyll-feed's summary: `description`, else the excerpt.
    excerpt = meta.get("description")
    if excerpt in (None, "") or isinstance(excerpt, (list, dict)):
        excerpt = meta.get("excerpt")
    if excerpt is not None and not isinstance(excerpt, str):
        excerpt = str(excerpt)
    separator = meta.get("excerpt_separator") or config.content.excerpt_separator
    image, author, banner, key, dropped = clean_post_urls(
        image, core.author, banner, core.key, core.url
    )
    for field, value, what in dropped:
        problems.append(
            _warning(name, fm_text, field, f"{field}: {value!r} is not {what}; left out")
        )

    return Post(
        path=path,
        name=name,
        key=key,
        url=core.url,
        title=core.title,
        date=when.astimezone(UTC),
        updated=updated.astimezone(UTC),
        author=author,
        categories=core.categories,
        tags=core.tags,
        excerpt=excerpt,
        excerpt_separator=str(separator),
        image=image,
        format=core.format,
        size=size if size is not None else os.stat(path).st_size,
        visible=core.visible,
        enclosure=enclosure,
        banner=banner,
        excerpt_only=core.excerpt_only,
        own_id=core.own_id,
    )


def _enclosure(value: Any, site_url: str) -> Enclosure | str:
    """`url`, or `{url, length, type}` (`path` for url too): the Enclosure, or
    what is wrong with it. A site-relative URL is made absolute, as for images;
    a missing type is taken from the file suffix; a missing length is 0."""
    if isinstance(value, str):
        value = {"url": value}
    if not isinstance(value, dict):
        return "expected a URL or {url, length, type}"
    unknown = sorted(str(k) for k in value if k not in ("url", "path", "length", "type"))
    if unknown:
        return f"unknown key {unknown[0]!r} (use url, length, type)"
    url = value.get("url", value.get("path"))
    if not isinstance(url, str) or not url.strip():
        return "url is missing"
    url = url.strip()
    if SCHEME.match(url):
        if urlsplit(url).scheme.lower() not in ("http", "https") or not urlsplit(url).netloc:
            return f"url must be http(s), got {url!r}"
    else:
        url = _on_site(site_url, url)
    length = value.get("length", 0)
    if isinstance(length, str) and length.strip().isdigit():
        length = int(length.strip())
    if isinstance(length, bool) or not isinstance(length, int) or length < 0:
        return f"length must be a whole number of bytes, 0 or more, got {length!r}"
    kind = value.get("type")
    if kind is None:
        kind = MEDIA_SUFFIXES.get(PurePosixPath(urlsplit(url).path).suffix.lower())
        if kind is None:
            return f"type is missing and cannot be told from {url!r}; add type: audio/mpeg"
    if not isinstance(kind, str) or not MIME_TYPE.fullmatch(kind.strip()):
        return f"type must be a MIME type such as audio/mpeg, got {kind!r}"
    return Enclosure(url=url, length=length, type=kind.strip())


def parse_date(value: Any, tz: tzinfo) -> datetime | None:
    """A timezone-aware datetime from what YAML gives; naive values take `tz`."""
    if isinstance(value, datetime):
        return value if value.tzinfo else value.replace(tzinfo=tz)
    if isinstance(value, date):
        return datetime.combine(value, time(), tzinfo=tz)
    if not isinstance(value, str):
        return None
    m = DATE_STRING.match(value.strip())
    if not m:
        # Whatever else Ruby's Time.parse reads on real posts (Jekyll uses it):
        # `Jan 5, 2019`, `2019-04-05 10:00 PM PST`, `2023-01-29 18:30:22 2023 -0800`.
        return parse_time(value, tz)
    year, month, day, hour, minute, second, micro, offset = m.groups()
    zone: tzinfo = tz
    try:
        if offset == "Z":
            zone = UTC
        elif offset:
            digits = offset[1:].replace(":", "")
            delta = timedelta(hours=int(digits[:2]), minutes=int(digits[2:]))
            zone = timezone(delta if offset[0] == "+" else -delta)  # ValueError past 24 h
        return datetime(
            int(year),
            int(month),
            int(day),
            int(hour or 0),
            int(minute or 0),
            int(second or 0),
            int((micro or "0").ljust(6, "0")),
            tzinfo=zone,
        )
    except ValueError:
        return None


# A day inside datetime's range at each end, so that the date can be shown in
# any timezone (offsets are under a day) without OverflowError.
EARLIEST = datetime(1, 1, 2, tzinfo=UTC)
LATEST = datetime(9999, 12, 30, tzinfo=UTC)


def _check_range(when: datetime) -> None:
    if not in_range(when):
        raise _Invalid(
            "date", f"date {when.isoformat()} is out of range: a post must be dated "
            "between the years 1 and 9999 in every timezone"
        )


def in_range(when: datetime) -> bool:
    """True if `when` (timezone-aware) can be converted to any timezone."""
    if 1 < when.year < 9999:
        # In range whatever the offset (always under a day), so no need to
        # compare: that asks a zoneinfo zone for it, ~1 µs on every post.
        return True
    return EARLIEST <= when <= LATEST


def _words(value: Any, key: str) -> tuple[str, ...]:
    """Jekyll splits a string on spaces; a list is taken item by item."""
    if value is None:
        return ()
    if isinstance(value, str):
        items: list[Any] = value.split()
    elif isinstance(value, list):
        items = value
    else:
        items = [value]
    out: list[str] = []
    for item in items:
        if item is None or isinstance(item, (list, dict)):
            raise _Invalid(key, f"{key} must be a list of words or a space-separated string")
        word = " ".join(str(item).split())
        if word and word not in out:
            out.append(word)
    return tuple(out)


def _person(value: Any, default: Person | None) -> Person | None:
    if isinstance(value, str) and value.strip():
        return Person(name=" ".join(value.split()))
    if isinstance(value, dict) and value.get("name"):
        return Person(
            name=" ".join(str(value["name"]).split()),
            email=str(value.get("email") or ""),
            uri=str(value.get("uri") or value.get("url") or ""),
        )
    if isinstance(value, list) and value:
        return _person(value[0], default)
    return default


def _image(value: Any, site_url: str) -> Image | None:
    alt = ""
    if isinstance(value, dict):
        alt = str(value.get("alt") or "")
        value = value.get("path") or value.get("url")
    if not isinstance(value, str) or not value.strip():
        return None
    value = value.strip()
    if SCHEME.match(value):
        return Image(url=value, alt=alt)
    # Jekyll image paths are site-relative, with or without a leading slash.
    return Image(url=_on_site(site_url, value), alt=alt)


def _on_site(site_url: str, path: str) -> str:
    """`path` as an absolute URL under the site (which ends with a slash).

    Non-ASCII and spaces are percent-encoded. Plain concatenation is what
    urljoin would give unless there are dot segments, and it runs on every
    post of every cold build, so urljoin is kept for those only.
    """
    path = path.lstrip("/")
    if not URL_SAFE.fullmatch(path):
        path = quote(path, safe=URL_SAFE_CHARS)
    if "./" in path or path.endswith((".", "..")):
        # "./" first: urljoin would take `javascript:x/./y` for a URL of its own
        # scheme and return it as it is, making a permalink a script link.
        return urljoin(site_url, "./" + path)
    return site_url + path


def _segment(value: str) -> str:
    """A value put into a permalink pattern, escaped as Jekyll does: '?', '#'
    and '%' in a file name or category must not become a query, a fragment
    or a broken escape. (Literal characters of the pattern stay as written.)"""
    if SEGMENT_SAFE.fullmatch(value):
        return value  # the common case, and quote() is slow enough to matter at 100k posts
    return quote(value, safe="-._~!$&'()*+,;=:@")


def _permalink(
    meta: dict[str, Any],
    config: Config,
    when: datetime,
    slug: str,
    categories: tuple[str, ...],
) -> str:
    pattern = meta.get("permalink")
    if not isinstance(pattern, str) or not pattern.strip():
        pattern = config.content.permalink
    pattern = PERMALINK_STYLES.get(pattern, pattern)
    title_slug = str(meta.get("slug") or slug)
    parts = _pattern_parts(pattern)
    out = [parts[0]]
    for index in range(1, len(parts), 2):
        name = parts[index]
        value = PLACEHOLDERS.get(name)
        out.append(value(when, title_slug, categories) if value else f":{name}")
        out.append(parts[index + 1])
    path = "".join(out)
    if not path.startswith("/"):
        path = "/" + path
    # (Not "/" before every path, then collapsed: patterns start with one,
    # and the regexp would then run on every post.)
    return SLASHES.sub("/", path) if "//" in path else path


@lru_cache(maxsize=64)
def _pattern_parts(pattern: str) -> tuple[str, ...]:
    """The permalink pattern split at its placeholders: (text, name, text, ..., text),
    once per pattern instead of a re.sub with a callback per post (4x slower)."""
    return tuple(PLACEHOLDER.split(pattern))


# What each permalink placeholder stands for, from the post's date (in the
# site's timezone), its slug and its categories. Only the placeholders the
# pattern has are computed.
PLACEHOLDER = re.compile(r":([a-z_]+)")
SLASHES = re.compile(r"/{2,}")
PLACEHOLDERS: dict[str, Callable[[datetime, str, tuple[str, ...]], str]] = {
    "year": lambda when, slug, categories: f"{when.year:04d}",
    "short_year": lambda when, slug, categories: f"{when.year % 100:02d}",
    "month": lambda when, slug, categories: f"{when.month:02d}",
    "i_month": lambda when, slug, categories: str(when.month),
    "day": lambda when, slug, categories: f"{when.day:02d}",
    "i_day": lambda when, slug, categories: str(when.day),
    "y_day": lambda when, slug, categories: f"{when.timetuple().tm_yday:03d}",
    "hour": lambda when, slug, categories: f"{when.hour:02d}",
    "minute": lambda when, slug, categories: f"{when.minute:02d}",
    "second": lambda when, slug, categories: f"{when.second:02d}",
    "title": lambda when, slug, categories: _segment(slug),
    "slug": lambda when, slug, categories: _segment(slug),
    "categories": lambda when, slug, categories: "/".join(
        _segment(c.lower().replace(" ", "-")) for c in categories
    ),
    "output_ext": lambda when, slug, categories: ".html",
}
