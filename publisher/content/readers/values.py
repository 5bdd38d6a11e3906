"""What every reader shares: the post file formats, the front matter keys, dates,
URLs on the site, and warnings that point at the line of their key."""

from __future__ import annotations

import re
from datetime import UTC, date, datetime, time, timedelta, timezone, tzinfo
from typing import Any, Literal
from urllib.parse import quote, urljoin

from ...jekyll.rules import parse_time
from ...model import Problem

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
DATE_STRING = re.compile(
    r"^(\d{4})-(\d{1,2})-(\d{1,2})"
    r"(?:[ T](\d{1,2}):(\d{2})(?::(\d{2})(?:\.(\d{1,6})\d*)?)?)?"
    r"\s*(Z|[+-]\d{2}:?\d{2})?$"
)
URL_SAFE_CHARS = "/:@-._~!$&'()*+,;=%?#"
URL_SAFE = re.compile(r"[A-Za-z0-9/:@\-._~!$&'()*+,;=%?#]*")
SCHEME = re.compile(r"[A-Za-z][A-Za-z0-9+.\-]*:")


class Invalid(Exception):
    """The post cannot be published because of its front matter `key`."""

    def __init__(self, key: str, message: str) -> None:
        super().__init__(message)
        self.key = key


def warning(name: str, fm_text: str, key: str, message: str) -> Problem:
    """A warning about the front matter `key`, on the line where it is written.
    (A function, not a closure in each reader: that would be made per post.)"""
    return Problem(name, message, line=key_line(fm_text, key), severity="warning")


def key_line(fm_text: str, key: str) -> int | None:
    """The file line on which a top-level key is written."""
    for index, line in enumerate(fm_text.split("\n")):
        if line.startswith(f"{key}:"):
            return index + 1
    return None


# The front matter keys the readers read: a key that is one of these but for
# its capitals (`Title:`, as Hugo and Pelican write them) is a mistake, never
# read, which would otherwise go unnoticed.
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


def miscased(meta: dict[Any, Any]) -> list[tuple[str, str]]:
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


def not_read(written: str, meant: str) -> str:
    return (
        f"`{written}:` is not read (front matter keys are lower case): did you mean `{meant}`?"
    )


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


def check_range(when: datetime) -> None:
    if not in_range(when):
        raise Invalid(
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


def on_site(site_url: str, path: str) -> str:
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
