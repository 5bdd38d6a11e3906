"""The step every reader shares: from what its dialect decided (a `Core`) to the
`Post`, with what every post reads alike: updates, images, enclosures, excerpts."""

from __future__ import annotations

import os
import re
from datetime import UTC, datetime
from pathlib import PurePosixPath
from typing import Any, Literal, NamedTuple
from urllib.parse import urlsplit

from ...config.settings import Config
from ...model import Enclosure, Image, Person, Post, Problem
from ..urls import clean_post_urls
from .values import SCHEME, check_range, in_range, on_site, parse_date, warning

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


class Core(NamedTuple):
    """What each dialect decides its own way. (A NamedTuple: made once per
    post, it costs a quarter of a frozen dataclass.)"""

    meta: dict[str, Any]  # the front matter as the dialect reads it (Jekyll: with defaults)
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


def finish(
    path: str,
    name: str,
    fm_text: str,
    config: Config,
    problems: list[Problem],
    size: int | None,
    core: Core,
) -> Post:
    """The Post a reader's `core` makes. The steps for keys most posts leave
    out are called only when the key is there: this runs on every post."""
    meta = core.meta
    when = core.when
    check_range(when)
    updated = when
    if "last_modified_at" in meta or "updated" in meta:
        updated = _updated(name, meta, fm_text, config, problems, when)
    image = _image(meta.get("image"), config.site_url)
    if image is None and meta.get("image") is not None:
        problems.append(
            warning(name, fm_text, "image", "image must be a path or {path, alt}; ignored")
        )
    enclosure = None
    if "enclosure" in meta or "audio" in meta:
        enclosure = _enclosure_of(name, meta, fm_text, config.site_url, problems)
    banner = None
    if meta.get("banner_image") is not None:
        banner = _banner(name, meta["banner_image"], fm_text, config.site_url, problems)
    excerpt = _excerpt(meta)
    separator = meta.get("excerpt_separator") or config.content.excerpt_separator
    image, author, banner, key, dropped = clean_post_urls(
        image, core.author, banner, core.key, core.url
    )
    for field, value, what in dropped:
        problems.append(
            warning(name, fm_text, field, f"{field}: {value!r} is not {what}; left out")
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


def _updated(
    name: str,
    meta: dict[str, Any],
    fm_text: str,
    config: Config,
    problems: list[Problem],
    when: datetime,
) -> datetime:
    """When the post was last changed: the first of `last_modified_at` and
    `updated` it has, never before its date."""
    for key in ("last_modified_at", "updated"):
        if meta.get(key) is not None:
            parsed = parse_date(meta[key], config.tz)
            if parsed is None or not in_range(parsed):
                problems.append(
                    warning(name, fm_text, key, f"{key} {meta[key]!r} is not a date; ignored")
                )
                return when
            return max(parsed, when)
    return when


def _enclosure_of(
    name: str, meta: dict[str, Any], fm_text: str, site_url: str, problems: list[Problem]
) -> Enclosure | None:
    """The post's `enclosure` (or else `audio`), if it has a valid one."""
    for key in ("enclosure", "audio"):
        if meta.get(key) is not None:
            found = _enclosure(meta[key], site_url)
            if isinstance(found, str):
                problems.append(
                    warning(name, fm_text, key, f"{key}: {found}; published without it")
                )
                return None
            return found
    return None


def _banner(
    name: str, value: Any, fm_text: str, site_url: str, problems: list[Problem]
) -> str | None:
    """The URL of the post's `banner_image`, if it is a path or a URL."""
    banner_image = _image(value, site_url)
    if banner_image is None:
        problems.append(
            warning(name, fm_text, "banner_image", "banner_image must be a path or URL; ignored")
        )
        return None
    return banner_image.url


def _excerpt(meta: dict[str, Any]) -> str | None:
    """jekyll-feed's summary: `description`, else the excerpt."""
    excerpt = meta.get("description")
    if excerpt in (None, "") or isinstance(excerpt, (list, dict)):
        excerpt = meta.get("excerpt")
    if excerpt is not None and not isinstance(excerpt, str):
        excerpt = str(excerpt)
    return excerpt


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
    return Image(url=on_site(site_url, value), alt=alt)


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
        url = on_site(site_url, url)
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
