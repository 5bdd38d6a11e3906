"""One post file of a Jekyll site as Jekyll's `Document` reads it.

From the file's path and front matter: the front matter defaults that apply,
categories (folders above `_posts`, then `categories`, then `category`), tags,
the date, the slug, the title, the URL from the permalink template and the
document `id` that jekyll-feed turns into the entry id. `content.readers.jekyll`
builds the `Post` from this; nothing here reads a file.
"""

from __future__ import annotations

import html
import re
from dataclasses import dataclass
from datetime import datetime, tzinfo
from typing import Any

from .rules import (
    DATE_FILENAME,
    DATELESS_FILENAME,
    Settings,
    categories_from_path,
    deep_merge,
    defaults_for,
    document_id,
    expand_style,
    front_matter_date,
    parse_time,
    placeholders,
    titleize,
    url_from,
)

HTML_EXTS = frozenset((".html", ".htm", ".xhtml"))
TEXT_EXTS = frozenset((".txt", ".text"))


class Skip(Exception):
    """Jekyll would not read this file as a post; `message` says why, `severity` how loud."""

    def __init__(self, message: str, severity: str = "warning", key: str = "") -> None:
        super().__init__(message)
        self.severity = severity
        self.key = key


@dataclass(frozen=True)
class Document:
    meta: dict[str, Any]  # front matter over the defaults that apply
    draft: bool
    date: datetime
    slug: str
    title: str
    title_from_name: bool
    categories: tuple[str, ...]
    tags: tuple[str, ...]
    format: str  # "markdown", "html" or "text"
    path: str  # site-relative URL, as Jekyll's `page.url` (no baseurl)
    id: str  # `page.id`: the path's folder and the slug


def relative(settings: Settings, name: str) -> str:
    """`name` (relative to the site) as Jekyll's relative_path: without collections_dir."""
    folder = settings.collections_dir
    if folder and name.startswith(folder + "/"):
        return name[len(folder) + 1 :]
    return name


# Markdown by name, even where markdown_ext leaves them out (Jekyll would then
# publish the Markdown source unconverted).
MARKDOWN_EXTS = frozenset((".md", ".markdown", ".mkdn", ".mkd", ".mdown", ".mkdown"))


def fmt(settings: Settings, suffix: str) -> str | None:
    suffix = suffix.lower()
    if suffix in settings.markdown_exts or suffix in MARKDOWN_EXTS:
        return "markdown"
    if suffix in HTML_EXTS:
        return "html"
    if suffix in TEXT_EXTS:
        return "text"
    return None


def read(
    settings: Settings,
    name: str,
    front: dict[str, Any],
    local: tzinfo,
    permalink: str,
    mtime: float,
) -> Document:
    """The Document for the file `name` (relative to the site) with front matter
    `front`; Skip when Jekyll would not publish it as a post."""
    rel = relative(settings, name)
    draft, entry, suffix = _place(rel)
    kind = fmt(settings, suffix)
    if kind is None:
        raise Skip(f"no converter for {suffix or 'files without an extension'}: skipped "
                   "(Jekyll needs a plugin for it)")
    meta = deep_merge(defaults_for(settings.defaults, rel), front)
    file_slug, file_date = _from_file_name(entry, draft)
    when = _date(meta, file_date, local, mtime)
    categories = _categories(categories_from_path(rel), meta)
    tags = _tags(meta)
    slug = str(meta["slug"]) if meta.get("slug") not in (None, "") else file_slug
    title = meta.get("title")
    from_name = title is None or (isinstance(title, str) and not title.strip())
    if from_name:
        title = titleize(file_slug)
    output_ext = ".html" if kind in ("markdown", "html") else suffix
    cleaned = re.sub(r"\.+$", "", rel[: -len(suffix)] if suffix else rel)
    cleaned = cleaned.replace("_drafts" if draft else "_posts", "", 1)
    basename = entry.rsplit("/", 1)[-1]
    basename = basename[: -len(suffix)] if suffix else basename
    values = placeholders(
        when.astimezone(local), slug, categories, output_ext, cleaned, basename
    )
    pattern = meta.get("permalink")
    template = pattern if isinstance(pattern, str) and pattern.strip() else expand_style(permalink)
    path = url_from(template, values)
    return Document(
        meta=meta,
        draft=draft,
        date=when,
        slug=slug,
        title=str(title),
        title_from_name=from_name,
        categories=categories,
        tags=tags,
        format=kind,
        path=path,
        id=document_id(path, slug),
    )


def _place(rel: str) -> tuple[bool, str, str]:
    """Where the file sits: whether it is a draft, its path inside its
    `_posts` (or `_drafts`) folder, and its suffix ("" if none)."""
    parts = rel.split("/")
    folder = "_posts" if "_posts" in parts[:-1] else "_drafts"
    entry = "/".join(parts[parts.index(folder) + 1 :]) if folder in parts[:-1] else rel
    suffix = "." + entry.rsplit(".", 1)[-1] if "." in entry.rsplit("/", 1)[-1] else ""
    return folder == "_drafts", entry, suffix


def _from_file_name(entry: str, draft: bool) -> tuple[str, str | None]:
    """The slug and date (YYYY-MM-DD, None for a draft) of a post's file name."""
    match = (DATELESS_FILENAME if draft else DATE_FILENAME).match(entry)
    if match is None:
        raise Skip(
            "not named YYYY-MM-DD-title.ext, so Jekyll does not publish it as a post "
            "(nor does publisher); rename it to publish it"
        )
    if draft:
        file_slug, file_date = match.group(1), None
    else:
        file_slug = match.group(4)
        file_date = "-".join(match.group(i) for i in (1, 2, 3))
    return re.sub(r"\.+$", "", file_slug), file_date


def _date(meta: dict[str, Any], file_date: str | None, local: tzinfo, mtime: float) -> datetime:
    """The front matter's date, else the file name's, else (a draft) the file's mtime."""
    if meta.get("date") is not None:
        when = front_matter_date(meta["date"], local)
        if when is None:
            raise Skip(
                f"date {meta['date']!r} is not a date Jekyll can read; write it as "
                "2025-12-13 or 2025-12-13 09:30:00 +0100",
                severity="error",
                key="date",
            )
        return when
    if file_date is not None:
        when = parse_time(file_date, local)
        if when is None:
            raise Skip(f"the date in the file name, {file_date}, is not a date", "error")
        return when
    return datetime.fromtimestamp(mtime, local)  # a draft without a date: its mtime


def _split(value: Any) -> list[str]:
    if value is None:
        return []
    if isinstance(value, str):
        return value.split()
    if isinstance(value, list):
        return [str(v) for v in value if v is not None and not isinstance(v, (list, dict))]
    return [str(value)]


def _categories(from_path: tuple[str, ...], meta: dict[str, Any]) -> tuple[str, ...]:
    """Folders first, then `categories`, then `category` (each kept once, as written)."""
    out: list[str] = []
    single = meta.get("category")
    singles = [str(single)] if isinstance(single, (str, int, float)) else _split(single)
    for name in (*from_path, *_split(meta.get("categories")), *singles):
        name = " ".join(name.split())
        if name and name not in out:
            out.append(name)
    return tuple(out)


def _tags(meta: dict[str, Any]) -> tuple[str, ...]:
    """`tag` (taken whole) when set, else `tags` (a string split on spaces)."""
    single = meta.get("tag")
    items = [str(single)] if isinstance(single, (str, int, float)) else _split(
        single if single is not None else meta.get("tags")
    )
    out: list[str] = []
    for name in items:
        name = " ".join(name.split())
        if name and name not in out:
            out.append(name)
    return tuple(out)


_SCRIPT = re.compile(r"<script.*?</script>|<style.*?</style>|<!--.*?-->", re.S | re.I)
_TAG = re.compile(r"<[^>]*>")


def strip_html(text: str) -> str:
    """Liquid's `strip_html`, then `normalize_whitespace`."""
    return " ".join(_TAG.sub("", _SCRIPT.sub("", text)).split())


def feed_title(title: str, smart: bool) -> str:
    """The title as jekyll-feed prints it (`smartify | strip_html |
    normalize_whitespace`), as plain text."""
    # lazy: only feeds need it, not reading a post (which loads this module)
    from .typography import smartify  # noqa: PLC0415

    text = smartify(title) if smart else title
    return html.unescape(strip_html(text))


def author_value(meta: dict[str, Any], site_author: Any) -> Any:
    """jekyll-feed's author: `author`, else the first of `authors`, else the site's."""
    value = meta.get("author")
    if value in (None, "", []):
        authors = meta.get("authors")
        value = authors[0] if isinstance(authors, list) and authors else None
    if value in (None, "", []):
        value = site_author
    return value


def resolve_author(value: Any, authors: dict[str, Any]) -> dict[str, str] | None:
    """`site.data.authors[author] | default: author`, as name/email/uri."""
    if isinstance(value, list):
        value = value[0] if value else None
    if isinstance(value, (str, int)) and str(value) in authors:
        value = authors[str(value)]
    if isinstance(value, dict):
        name = value.get("name")
        if name in (None, ""):
            return None
        out = {"name": " ".join(str(name).split())}
        for key in ("email", "uri"):
            if value.get(key):
                out[key] = str(value[key]).strip()
        return out
    if isinstance(value, (str, int, float)) and str(value).strip():
        return {"name": " ".join(str(value).split())}
    return None
