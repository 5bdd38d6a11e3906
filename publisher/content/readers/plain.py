"""The reader of a plain posts folder: YAML front matter, dates and slugs from
file names (`2025-12-13-slug.md`), permalinks from `[content] permalink`.

One of the readers behind `readers.Reader`; `jekyll` reads Jekyll sites."""

from __future__ import annotations

import logging
import os
import re
from collections.abc import Callable
from datetime import datetime, tzinfo
from functools import lru_cache
from typing import Any
from urllib.parse import quote

from ...config.settings import Config
from ...jekyll.rules import categories_from_path
from ...model import Person, Problem
from .finish import Core
from .values import (
    FORMATS,
    Invalid,
    check_range,
    miscased,
    not_read,
    on_site,
    parse_date,
    warning,
)

log = logging.getLogger(__name__)

# A miscased `Title:` is said here, with the title used instead (see `_missing_title`).
NOTES_MISCASED = frozenset({"title"})
PERMALINK_STYLES = {
    "date": "/:categories/:year/:month/:day/:title:output_ext",
    "pretty": "/:categories/:year/:month/:day/:title/",
    "ordinal": "/:categories/:year/:y_day/:title:output_ext",
    "none": "/:categories/:title:output_ext",
}
# Jekyll accepts unpadded months and days: 2014-3-3-hello.md.
FILENAME = re.compile(r"^(\d{4})-(\d{1,2})-(\d{1,2})-(.+)$")
SEGMENT_SAFE = re.compile(r"[A-Za-z0-9\-._~!$&'()*+,;=:@]*")


def without_front_matter(name: str, text: str, problems: list[Problem]) -> None:
    """A file without front matter is not a post here. Only now, on a file not
    published, is it worth asking whether it looked like one: the posts that
    publish pay nothing."""
    unread = _unread(name, text)
    if unread is None:
        log.debug("%s: no front matter, not a post", name)
    else:
        problems.append(unread)


def core(
    path: str,
    name: str,
    meta: dict[str, Any],
    fm_text: str,
    body: str,
    body_line: int,
    config: Config,
    problems: list[Problem],
) -> Core:
    """What the front matter and the file name say, the file name filling in
    the title and date the front matter leaves out."""
    tz = config.tz
    stem, suffix = _stem_and_suffix(path)
    m = FILENAME.match(stem)
    slug = m.group(4) if m else stem
    title = meta.get("title")
    if not isinstance(title, str) or not title.strip():
        title = _missing_title(title, meta, slug, stem, name, fm_text, problems)
    title = " ".join(str(title).split())
    if "date" in meta and meta["date"] is not None:
        when = parse_date(meta["date"], tz)
        if when is None:
            raise Invalid(
                "date",
                f"date {meta['date']!r} is not a date; write it as "
                "2025-12-13 or 2025-12-13 09:30:00 +0100",
            )
    else:
        when = _file_name_date(m, tz)
    check_range(when)
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
    url = on_site(config.site_url, permalink)
    return Core(
        meta=meta,
        key=str(meta["id"]).strip() if meta.get("id") not in (None, "") else url,
        url=url,
        title=title,
        when=when,
        author=_person(meta.get("author"), config.site.author),
        categories=categories,
        tags=tags,
        format=ext_format,
        visible=meta.get("published", True) is not False and meta.get("draft", False) is not True,
    )


def _missing_title(
    title: Any,
    meta: dict[str, Any],
    slug: str,
    stem: str,
    name: str,
    fm_text: str,
    problems: list[Problem],
) -> Any:
    """The title when front matter gives no text for it: from the file name,
    with a warning, when there is none; `title` itself when it is some other
    value (a number, a date: written out as text)."""
    if isinstance(title, (list, dict)):
        raise Invalid("title", "title must be text, not a list or mapping")
    if title is not None and not isinstance(title, str):
        return title
    # (A Jekyll site titleizes as Jekyll does: see jekyll.document.)
    written = dict(miscased(meta)).get("title") if title is None else None
    title = slug.replace("-", " ").replace("_", " ").strip().capitalize() or stem
    if written is not None:
        problems.append(warning(
            name, fm_text, written, f"{not_read(written, 'title')} The title is "
            f"{title!r}, from the file name, until then",
        ))
    else:
        problems.append(
            warning(name, fm_text, "title", f"no title; using {title!r} from the file name")
        )
    return title


def _file_name_date(m: re.Match[str] | None, tz: tzinfo) -> datetime:
    """The date a `YYYY-MM-DD-slug` file name gives, for front matter without one."""
    if m is None:
        raise Invalid(
            "date", "no date: add `date:` to the front matter or name the file YYYY-MM-DD-slug"
        )
    try:
        return datetime(int(m.group(1)), int(m.group(2)), int(m.group(3)), tzinfo=tz)
    except ValueError as exc:
        raise Invalid("date", f"file name date is not valid: {exc}") from exc


def _stem_and_suffix(path: str) -> tuple[str, str]:
    """Path(path).stem and .suffix: the file name split at its last dot,
    unless that dot starts or ends the name."""
    name = os.path.basename(path)
    dot = name.rfind(".")
    if 0 < dot < len(name) - 1:
        return name[:dot], name[dot:]
    return name, ""


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
            raise Invalid(key, f"{key} must be a list of words or a space-separated string")
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
