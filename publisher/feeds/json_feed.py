"""Build a JSON Feed 1.1 document (https://www.jsonfeed.org/version/1.1/).

The same entries as the Atom feed, with the same ids: `content_html` (or the
summary as `content_text` for posts over `[content] max_post_bytes`),
`summary`, `image`, `banner_image`, `tags` (categories then tags, as the Atom
categories), `authors`, dates, and `attachments` for an enclosure. The feed
names the site's language, its author, icons and the WebSub hub (`hubs`).
JSON Feed has a field for everything published here, so no `_` extension is
needed.

Pure, like `feeds`: keys in a fixed order and dates from the posts, so the
same posts give byte-identical output.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from datetime import datetime
from typing import Any
from urllib.parse import urljoin

from ..config.settings import Config
from ..content.render import Rendered
from ..model import Person
from .atom_rss import _wants_content, entry_id
from .plan import Feed, main

VERSION = "https://jsonfeed.org/version/1.1"


def build_json(items: Sequence[Rendered], config: Config, feed: Feed | None = None) -> bytes:
    """The JSON Feed for `items` (newest first, already limited), as UTF-8 bytes."""
    feed = feed or main(config, "json")
    site = config.site
    doc: dict[str, Any] = {
        "version": VERSION,
        "title": feed.title,
        "home_page_url": feed.home,
        "feed_url": feed.url,
        "description": feed.description,
    }
    # JSON Feed's icon is the large square image (Atom's logo), its favicon the small one.
    if site.logo:
        doc["icon"] = urljoin(config.site_url, site.logo)
    if site.icon:
        doc["favicon"] = urljoin(config.site_url, site.icon)
    if site.author is not None:
        doc["authors"] = [_author(site.author)]
    doc["language"] = site.language
    if config.feeds.hub:
        doc["hubs"] = [{"type": "WebSub", "url": config.feeds.hub}]
    doc["items"] = [_item(item, config) for item in items]
    text = json.dumps(doc, ensure_ascii=False, indent=2)
    return (text + "\n").encode("utf-8")


def _item(item: Rendered, config: Config) -> dict[str, Any]:
    post = item.post
    out: dict[str, Any] = {"id": entry_id(post.key, config), "url": post.url, "title": post.title}
    if item.html and _wants_content(item, config):
        out["content_html"] = item.html
    else:
        # An item needs content_html or content_text: a huge post gets its summary.
        out["content_text"] = item.excerpt
    if item.excerpt:
        out["summary"] = item.excerpt
    if post.image is not None:
        out["image"] = post.image.url
    if post.banner is not None:
        out["banner_image"] = post.banner
    out["date_published"] = _date(post.date)
    out["date_modified"] = _date(post.updated)
    if post.author is not None:
        out["authors"] = [_author(post.author)]
    terms = list(dict.fromkeys(post.categories + post.tags))
    if terms:
        out["tags"] = terms
    enclosure = post.enclosure
    if enclosure is not None:
        attachment: dict[str, Any] = {"url": enclosure.url, "mime_type": enclosure.type}
        if enclosure.length:
            attachment["size_in_bytes"] = enclosure.length
        out["attachments"] = [attachment]
    return out


def _author(person: Person) -> dict[str, str]:
    # JSON Feed authors have no email field; a mailto: URL would publish the
    # address to scrapers more plainly than Atom does, so it stays out.
    data = {"name": person.name}
    if person.uri:
        data["url"] = person.uri
    return data


def _date(when: datetime) -> str:
    """RFC 3339, as Atom writes it: UTC, seconds, `+00:00`."""
    return when.isoformat()
