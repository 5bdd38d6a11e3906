"""The immutable site model that every later step reads and none writes."""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime
from typing import Literal

Severity = Literal["error", "warning"]

# What must not reach a terminal or a log line raw: control characters (a
# newline in a file name would start a fake log line), line separators, and
# the lone surrogates that stand for undecodable bytes in a file name.
UNPRINTABLE = re.compile("[\x00-\x1f\x7f-\x9f\u2028\u2029\ud800-\udfff]")


# What XML 1.0 forbids (tab, newline and carriage return are allowed), and
# lone surrogates, which no UTF-8 output can hold. lxml (feedgen) refuses a
# whole feed over one of them.
XML_ILLEGAL = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\ud800-\udfff\ufffe\uffff]")


def xml_illegal(text: str) -> str:
    """The characters of `text` that XML cannot carry, as `U+001B, U+001C`; ""
    when there are none (the common case: one regexp search)."""
    if XML_ILLEGAL.search(text) is None:
        return ""
    return ", ".join(sorted({f"U+{ord(c):04X}" for c in XML_ILLEGAL.findall(text)}))


def xml_text(text: str) -> str:
    """`text` without the characters XML cannot carry."""
    return XML_ILLEGAL.sub("", text)


def printable(text: str) -> str:
    """`text` on one line, every unprintable character escaped: `\\n`, `\\x1b`,
    and an undecodable byte of a file name as `\\xff`."""
    if not UNPRINTABLE.search(text):
        return text
    return UNPRINTABLE.sub(_escape, text)


def _escape(match: re.Match[str]) -> str:
    code = ord(match.group())
    if 0xDC80 <= code <= 0xDCFF:  # os.fsdecode's stand-in for the byte code - 0xDC00
        return f"\\x{code - 0xDC00:02x}"
    return match.group().encode("unicode_escape").decode("ascii")


@dataclass(frozen=True, slots=True)
class Person:
    name: str
    email: str = ""
    uri: str = ""


@dataclass(frozen=True, slots=True)
class Image:
    url: str
    alt: str = ""


@dataclass(frozen=True, slots=True)
class Enclosure:
    """A media file published with a post (a podcast episode): RSS <enclosure>."""

    url: str  # absolute http(s)
    length: int  # bytes; 0 when unknown, as the RSS Best Practices Profile advises
    type: str  # MIME type, such as audio/mpeg


# Slots: no attribute dict per post, ~120 bytes each (12 MB at 100,000 posts).
@dataclass(frozen=True, slots=True)
class Post:
    """One post's metadata. The body is read again only when it is rendered."""

    path: str  # absolute; a str because 100,000 Path objects cost real time
    name: str  # path relative to the posts folder, used in every message
    key: str  # stable identity: front matter `id`, else the permalink URL
    url: str
    title: str
    date: datetime  # always in UTC: one tzinfo makes sorting and comparing cheap
    updated: datetime  # UTC
    author: Person | None
    categories: tuple[str, ...]
    tags: tuple[str, ...]
    excerpt: str | None  # front matter excerpt, as written
    excerpt_separator: str
    image: Image | None
    format: Literal["markdown", "html", "text"]
    size: int
    visible: bool  # false for `published: false` and drafts
    enclosure: Enclosure | None = None  # front matter `enclosure` or `audio`
    banner: str | None = None  # front matter `banner_image`, an absolute URL
    excerpt_only: bool = False  # front matter `feed: {excerpt_only: true}` (jekyll-feed)
    own_id: bool = False  # the key is the front matter `id`, which no stored id overrides


@dataclass(frozen=True, slots=True)
class Problem:
    file: str
    message: str
    line: int | None = None
    severity: Severity = "error"
    # A file that looks like a post but is not read as one (Hugo's TOML front
    # matter, say): a warning for a run, which publishes the rest, and an
    # error for `check`, so that a site whose posts all vanish cannot pass it.
    unread: bool = False

    def __str__(self) -> str:
        where = f"{self.file}:{self.line}" if self.line else self.file
        return printable(f"{where}: {self.severity}: {self.message}")


def _of_severity(problems: tuple[Problem, ...], severity: Severity) -> tuple[Problem, ...]:
    return tuple(p for p in problems if p.severity == severity)


@dataclass(frozen=True)
class Site:
    """What the posts folder holds at `now`."""

    now: datetime
    posts: tuple[Post, ...]  # published and due, newest first
    scheduled: tuple[Post, ...]  # published but dated after `now`, soonest first
    hidden: int  # drafts and `published: false`
    files_read: int
    problems: tuple[Problem, ...]
    upcoming: Post | None = None  # the next post to come due, --future or not
    skipped: tuple[Post, ...] = ()  # drafts and `published: false`, for `check`

    @property
    def errors(self) -> tuple[Problem, ...]:
        return _of_severity(self.problems, "error")

    @property
    def warnings(self) -> tuple[Problem, ...]:
        return _of_severity(self.problems, "warning")

    @property
    def next_due(self) -> datetime | None:
        return self.upcoming.date if self.upcoming else None


@dataclass(frozen=True)
class Summary:
    """The counts a run reports; `cache.RunGuard` reports them again for an unchanged run."""

    files_read: int
    published: int
    scheduled: int
    next_due: datetime | None
    next_title: str | None
    hidden: int
    problems: tuple[Problem, ...]

    @classmethod
    def of(cls, site: Site) -> Summary:
        return cls(
            files_read=site.files_read,
            published=len(site.posts),
            scheduled=len(site.scheduled),
            next_due=site.next_due,
            next_title=site.upcoming.title if site.upcoming else None,
            hidden=site.hidden,
            problems=site.problems,
        )

    @property
    def errors(self) -> tuple[Problem, ...]:
        return _of_severity(self.problems, "error")

    @property
    def warnings(self) -> tuple[Problem, ...]:
        return _of_severity(self.problems, "warning")
