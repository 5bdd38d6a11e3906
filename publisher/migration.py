"""The migration report: how the feed we would publish differs from a jekyll-feed feed.

A reader subscribed to a site's jekyll-feed feed knows each entry by its id.
Given that feed (the `_site/feed.xml` of the last `jekyll build`, or the one
online), this says, entry by entry, what a reader would see change on
switching: entries whose id changes (they would show up again as new), whose
link changes, that would disappear, or that would appear. `publisher check
--compare-with FEED.xml` prints it.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from xml.etree import ElementTree as ET

from .config.settings import Config
from .feeds.atom_rss import entry_id
from .model import Post

ATOM = "{http://www.w3.org/2005/Atom}"


@dataclass(frozen=True)
class Entry:
    id: str
    link: str
    title: str
    published: datetime | None


@dataclass(frozen=True)
class Comparison:
    theirs: int  # entries in their feed
    same: tuple[Entry, ...]
    id_changed: tuple[tuple[Entry, str], ...]  # their entry, our id for the same link
    link_changed: tuple[tuple[Entry, str], ...]  # their entry, our link for the same id
    removed: tuple[Entry, ...]  # in their feed, not among our posts
    added: tuple[Post, ...]  # in our feed, not in theirs, within the dates theirs covers

    @property
    def differences(self) -> int:
        return len(self.id_changed) + len(self.link_changed) + len(self.removed) + len(
            self.added
        )

    def lines(self, source: str) -> list[str]:
        out = [
            f"Compared with {source} ({self.theirs} entries): {len(self.same)} the same, "
            f"{len(self.id_changed)} id changed, {len(self.link_changed)} link changed, "
            f"{len(self.removed)} removed, {len(self.added)} added."
        ]
        for entry, ours in self.id_changed:
            out.append(
                f"  id changed (readers would see it again as new): {entry.title!r}: "
                f"{entry.id} -> {ours}"
            )
        for entry, ours in self.link_changed:
            out.append(f"  link changed: {entry.title!r}: {entry.link} -> {ours}")
        for entry in self.removed:
            out.append(f"  removed (not among the posts published): {entry.title!r}: {entry.id}")
        for post in self.added:
            out.append(f"  added (not in {source}): {post.name}: {post.title!r}")
        return out


class FeedUnreadable(ValueError):
    """The file given is not an Atom feed."""


def read_feed(data: bytes) -> list[Entry]:
    """The entries of an Atom feed (jekyll-feed writes Atom only)."""
    try:
        root = ET.fromstring(data)
    except ET.ParseError as exc:
        raise FeedUnreadable(f"not well-formed XML: {exc}") from exc
    if root.tag != f"{ATOM}feed":
        raise FeedUnreadable(f"not an Atom feed (its root is <{root.tag}>)")
    entries = []
    for element in root.findall(f"{ATOM}entry"):
        link = ""
        for candidate in element.findall(f"{ATOM}link"):
            if candidate.get("rel", "alternate") == "alternate":
                link = candidate.get("href", "")
                break
        published = element.findtext(f"{ATOM}published") or element.findtext(f"{ATOM}updated")
        entries.append(
            Entry(
                id=(element.findtext(f"{ATOM}id") or "").strip(),
                link=link.strip(),
                title=" ".join((element.findtext(f"{ATOM}title") or "").split()),
                published=_when(published),
            )
        )
    return entries


def _when(text: str | None) -> datetime | None:
    if not text:
        return None
    try:
        return datetime.fromisoformat(text.strip().replace("Z", "+00:00"))
    except ValueError:
        return None


def compare(config: Config, posts: Sequence[Post], theirs: Sequence[Entry]) -> Comparison:
    """Their entries against our published `posts` (newest first, all of them)."""
    ours_by_id = {entry_id(p.key, config): p for p in posts}
    ours_by_link = {p.url: p for p in posts}
    same, id_changed, link_changed, removed = [], [], [], []
    matched: set[str] = set()
    for entry in theirs:
        post = ours_by_id.get(entry.id)
        if post is not None:
            matched.add(post.name)
            if post.url != entry.link:
                link_changed.append((entry, post.url))
            else:
                same.append(entry)
            continue
        post = ours_by_link.get(entry.link)
        if post is not None:
            matched.add(post.name)
            id_changed.append((entry, entry_id(post.key, config)))
        else:
            removed.append(entry)
    dates = [e.published for e in theirs if e.published is not None]
    oldest = min(dates) if dates else None
    added = tuple(
        p
        for p in posts[: config.feeds.limit]
        if p.name not in matched and (oldest is None or p.date >= oldest)
    )
    return Comparison(
        len(theirs), tuple(same), tuple(id_changed), tuple(link_changed), tuple(removed), added
    )
