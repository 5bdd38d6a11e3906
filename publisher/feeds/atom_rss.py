"""Build the Atom and RSS 2.0 feeds with feedgen.

Two FeedGenerator instances, one per format: feedgen shares one set of links
between the formats and the RSS channel <link> would otherwise be whichever
link was added last. Everything time-like comes from the posts, never the
clock, so an unchanged site yields byte-identical feeds.

Each builder takes the `feedset.Feed` it builds (the main feed by default):
its title, id and self link say whether it is the whole site, a category or a
tag. With `[feeds] hub`, both formats name the WebSub hub (`rel="hub"`).
"""

from __future__ import annotations

import html
from collections.abc import Callable, Sequence
from datetime import datetime
from typing import Any
from urllib.parse import urljoin, urlsplit

from feedgen.ext.base import BaseEntryExtension
from feedgen.feed import FeedEntry, FeedGenerator
from feedgen.util import xml_elem

from .. import __version__
from ..config.settings import Config
from ..content.render import Rendered
from ..model import Person
from .plan import Feed, main, url_of

ATOM_NS = "http://www.w3.org/2005/Atom"


class _AtomLinks(BaseEntryExtension):  # type: ignore[misc]
    """Rewrites entry <link> elements with all their attributes.

    feedgen 1.0.0 drops every attribute of an Atom entry link but `href`
    (feedgen issue #135), so readers would not know which link is the
    alternate. The links stay set through feedgen too, because feedgen insists
    on an alternate link for entries without content.
    """

    def __init__(self) -> None:
        self.links: list[dict[str, str]] = []

    def extend_ns(self) -> dict[str, str]:
        return {}

    def extend_atom(self, entry: Any) -> Any:
        position = list(entry).index(entry.find("updated")) + 1
        for stale in entry.findall("link"):
            entry.remove(stale)
        for attrs in self.links:
            link = xml_elem("link", entry, **attrs)
            entry.remove(link)
            entry.insert(position, link)
            position += 1
        return entry

    def extend_rss(self, item: Any) -> Any:
        return item


class _RssHub(BaseEntryExtension):  # type: ignore[misc]
    """Adds <atom:link rel="hub"> to the RSS channel, after the self link.

    feedgen writes only the self link among a channel's atom:links.
    """

    def __init__(self) -> None:
        self.hub = ""

    def extend_ns(self) -> dict[str, str]:
        return {}

    def extend_rss(self, feed: Any) -> Any:
        if self.hub:
            channel = feed.find("channel")
            found = channel.find(f"{{{ATOM_NS}}}link")
            position = list(channel).index(found) + 1 if found is not None else len(channel)
            link = xml_elem(f"{{{ATOM_NS}}}link", channel, href=self.hub, rel="hub")
            channel.remove(link)
            channel.insert(position, link)
        return feed

    def extend_atom(self, feed: Any) -> Any:
        return feed


def entry_id(key: str, config: Config) -> str:
    """An IRI for the post: its `id` if that is already one, else made absolute
    against the site as jekyll-feed does."""
    if urlsplit(key).scheme:
        return key
    return urljoin(config.site_url, key.lstrip("/"))


def feed_url(config: Config, name: str) -> str:
    return url_of(config, name)


def newest_update(items: Sequence[Rendered], config: Config) -> datetime:
    if not items:
        # An empty feed still needs a stable date: the epoch in the site zone.
        return datetime(1970, 1, 1, tzinfo=config.tz)
    return max(r.post.updated for r in items)


def rss_text(text: str) -> str:
    """Plain text for an RSS element the spec calls text but many readers render
    as HTML (a title, the channel's description): as it is when HTML would show
    it the same, else HTML-escaped, so that `<script>` in a title stays words.
    (Readers that show it as text then show the entities: only titles with
    markup-like characters pay that.)"""
    if "<" in text or ("&" in text and html.unescape(text) != text):
        return html.escape(text, quote=False)
    return text


def rss_html(text: str) -> str:
    """Plain text (an excerpt) for an RSS element that is HTML by the spec (an
    item's description): always escaped, or readers run what it quotes."""
    return html.escape(text, quote=False)


def _channel(
    fg: FeedGenerator,
    config: Config,
    items: Sequence[Rendered],
    feed: Feed,
    text: Callable[[str], str] = str,
) -> None:
    site = config.site
    fg.title(text(feed.title))
    fg.description(text(feed.description))
    fg.language(site.language)
    fg.generator("publisher", version=__version__)
    fg.updated(newest_update(items, config))
    if site.author is not None:
        fg.author(_author_dict(site.author))
    if site.icon:
        fg.icon(urljoin(config.site_url, site.icon))
    if site.logo:
        fg.logo(urljoin(config.site_url, site.logo))


def _author_dict(person: Person) -> dict[str, str]:
    data = {"name": person.name}
    if person.email:
        data["email"] = person.email
    if person.uri:
        data["uri"] = person.uri
    return data


def _common_entry(
    fe: FeedEntry, item: Rendered, config: Config, with_content: bool, rss: bool = False
) -> None:
    """What Atom and RSS entries share. Atom's title and summary are type="text"
    (escaped once, by the XML); RSS's go through `rss_text` and `rss_html`."""
    post = item.post
    fe.id(entry_id(post.key, config))
    fe.title(rss_text(post.title) if rss else post.title)
    fe.published(post.date)
    fe.updated(post.updated)
    for term in dict.fromkeys(post.categories + post.tags):
        fe.category(term=term)
    if item.excerpt:
        fe.summary(rss_html(item.excerpt) if rss else item.excerpt, type="text")
    if with_content and item.html:
        fe.content(item.html, type="html")
    if post.image is not None:
        fe.media.thumbnail(url=post.image.url, group=None)
        fe.media.content(url=post.image.url, medium="image", group=None)


def build_atom(items: Sequence[Rendered], config: Config, feed: Feed | None = None) -> bytes:
    """The Atom 1.0 document for `items` (newest first, already limited), as UTF-8 bytes.

    Pure: no I/O and no clock. The feed's `updated` is the newest entry's, so
    the same posts give byte-identical output and the caller can skip the
    write. Entries keep the given order (feedgen prepends unless told to
    append). Posts over `[content] max_post_bytes` carry their summary only.
    """
    feed = feed or main(config, "atom")
    fg = FeedGenerator()
    fg.load_extension("media", atom=True, rss=False)
    _channel(fg, config, items, feed)
    fg.id(feed.feed_id)
    if config.site.author is None:
        # RFC 4287 4.1.1: a feed whose entries may have no author needs one.
        fg.author({"name": config.site.title})
    fg.subtitle(feed.description)
    fg.link(href=feed.home, rel="alternate", type="text/html")
    fg.link(href=feed.url, rel="self", type=feed.media_type)
    if config.feeds.hub:
        fg.link(href=config.feeds.hub, rel="hub")
    for item in items:
        fe = fg.add_entry(order="append")
        _common_entry(fe, item, config, _wants_content(item, config))
        alternate = {"href": item.post.url, "rel": "alternate", "type": "text/html"}
        fe.link(alternate)
        fe.register_extension("publisher_links", _AtomLinks, atom=True, rss=False)
        fe.publisher_links.links.append(alternate)
        enclosure = item.post.enclosure
        if enclosure is not None:
            link = {"href": enclosure.url, "rel": "enclosure", "type": enclosure.type}
            if enclosure.length:
                link["length"] = str(enclosure.length)  # RFC 4287: a hint, left out if unknown
            fe.link(link)
            fe.publisher_links.links.append(link)
        if item.post.author is not None:
            fe.author(_author_dict(item.post.author))
    data: bytes = fg.atom_str(pretty=True, encoding="UTF-8", xml_declaration=True)
    return data


def build_rss(items: Sequence[Rendered], config: Config, feed: Feed | None = None) -> bytes:
    """The RSS 2.0 twin of `build_atom`: same entries, ids (guid) and byte stability."""
    feed = feed or main(config, "rss")
    fg = FeedGenerator()
    fg.load_extension("media", atom=False, rss=True)
    fg.load_extension("dc", atom=False, rss=True)
    fg.register_extension("publisher_hub", _RssHub, BaseEntryExtension, atom=False, rss=True)
    fg.publisher_hub.hub = config.feeds.hub
    _channel(fg, config, items, feed, rss_text)
    # RSS <link> is the last link set: the self link first, the site last.
    fg.link(href=feed.url, rel="self", type=feed.media_type)
    fg.link(href=feed.home, rel="alternate")
    fg.lastBuildDate(newest_update(items, config))
    for item in items:
        post = item.post
        fe = fg.add_entry(order="append")
        _common_entry(fe, item, config, _wants_content(item, config), rss=True)
        ident = entry_id(post.key, config)
        fe.guid(ident, permalink=ident == post.url)
        fe.link(href=post.url, rel="alternate")
        author = post.author
        if author is not None:
            # RSS <author> must be an email address; a bare name goes to dc:creator.
            if author.email:
                fe.author(_author_dict(author))
            else:
                fe.dc.dc_creator(author.name)
        if post.enclosure is not None:
            # RSS requires length; 0 says "unknown" (RSS Best Practices Profile).
            fe.enclosure(post.enclosure.url, str(post.enclosure.length), post.enclosure.type)
    data: bytes = fg.rss_str(pretty=True, encoding="UTF-8", xml_declaration=True)
    return data


def _wants_content(item: Rendered, config: Config) -> bool:
    """Full text unless the post is too large or asks for its summary only
    (`excerpt_only`, per post or in [feeds], as jekyll-feed's)."""
    if config.feeds.excerpt_only or item.post.excerpt_only:
        return False
    return item.post.size <= config.content.max_post_bytes
