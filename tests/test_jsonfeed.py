"""JSON Feed 1.1: schema-valid, the Atom feed's twin field by field, byte-stable."""

from __future__ import annotations

import copy
import json
import os
import textwrap
import time
from datetime import datetime

import feedparser
import pytest

from publisher.app.pipeline import build

from .conftest import NOW, SiteDir
from .feedcheck import check, check_json, json_errors
from .test_feeds import TRICKY_TITLE, tricky_site


def parsed_time(value: str) -> tuple[int, ...]:
    return tuple(datetime.fromisoformat(value).utctimetuple())[:6]


def test_json_feed_matches_the_atom_feed_field_by_field(site: SiteDir) -> None:
    tricky_site(site)
    build(site.config(), NOW)
    doc = check(site.out / "feed.json")
    atom = feedparser.parse((site.out / "feed.xml").read_bytes())
    assert doc["version"] == "https://jsonfeed.org/version/1.1"
    assert doc["title"] == atom.feed.title == "Example & <Co>"
    assert doc["home_page_url"] == atom.feed.link == "https://example.org/blog/"
    assert doc["feed_url"] == "https://example.org/blog/feed.json"
    assert doc["description"] == atom.feed.subtitle == 'Notes from "the" field'
    assert doc["language"] == "en"
    assert doc["authors"] == [{"name": "Site Author"}]
    assert "hubs" not in doc  # no [feeds] hub
    assert len(doc["items"]) == len(atom.entries) == 3
    for item, entry in zip(doc["items"], atom.entries, strict=True):
        assert item["id"] == entry.id
        assert item["url"] == entry.link
        assert item["title"] == entry.title
        assert item["summary"] == entry.summary
        assert parsed_time(item["date_published"]) == tuple(entry.published_parsed)[:6]
        assert parsed_time(item["date_modified"]) == tuple(entry.updated_parsed)[:6]
        assert item.get("tags", []) == [t.term for t in entry.get("tags", [])]
        assert [a["name"] for a in item["authors"]] == [entry.author_detail.name]
    # feedparser sanitises HTML, so compare the content with the raw Atom text.
    raw = (site.out / "feed.xml").read_text(encoding="utf-8")
    tricky = doc["items"][0]
    assert tricky["title"] == TRICKY_TITLE
    assert tricky["image"] == "https://example.org/blog/img/cover.jpg"
    assert "<table>" in tricky["content_html"] and "script" not in tricky["content_html"]
    assert 'srcset="https://example.org/blog/caf%C3%A9s/r&amp;d/2026/01/05/b.png 1x' in (
        tricky["content_html"]
    )
    assert "b2.png 2x" in raw
    assert doc["items"][1]["id"] == "https://example.org/blog/post-42"


def test_icons_hub_and_summary_only_posts(site: SiteDir) -> None:
    site.write_config(
        text=textwrap.dedent(
            """
            [site]
            url = "https://example.org/blog"
            title = "T"
            icon = "favicon.png"
            logo = "/logo.png"
            author = {name = "A", uri = "https://example.org/a"}
            [content]
            max_post_bytes = 200
            [feeds]
            hub = "https://hub.example.org/"
            """
        )
    )
    site.post("2026-01-02-big.md", "title: Big", body="Opening.\n\n" + "word " * 100)
    build(site.config(), NOW)
    doc = check_json((site.out / "feed.json").read_bytes())
    assert doc["icon"] == "https://example.org/logo.png"
    assert doc["favicon"] == "https://example.org/blog/favicon.png"
    assert doc["authors"] == [{"name": "A", "url": "https://example.org/a"}]
    assert doc["hubs"] == [{"type": "WebSub", "url": "https://hub.example.org/"}]
    (item,) = doc["items"]
    assert "content_html" not in item and item["content_text"] == "Opening."


def test_json_feed_is_byte_stable_and_can_be_switched_off(site: SiteDir) -> None:
    tricky_site(site)
    config = site.config()
    build(config, NOW)
    path = site.out / "feed.json"
    before, mtime = path.read_bytes(), os.stat(path).st_mtime_ns
    time.sleep(0.01)
    again = build(config, NOW.replace(day=20))
    assert not [f for f in again.feeds if f.written]
    assert path.read_bytes() == before and os.stat(path).st_mtime_ns == mtime
    assert before.endswith(b"\n") and json.loads(before)  # UTF-8, not ASCII escapes
    assert "Café".encode() in before and "中文 😀".encode() in before
    site.write_config('[feeds]\njson = ""\n')
    result = build(site.config(), NOW)
    assert "feed.json" not in [f.name for f in result.feeds]


GOOD = {
    "version": "https://jsonfeed.org/version/1.1",
    "title": "T",
    "home_page_url": "https://example.org/",
    "items": [
        {
            "id": "1",
            "content_text": "x",
            "date_published": "2026-01-05T09:00:00+00:00",
            "attachments": [{"url": "https://example.org/a.mp3", "mime_type": "audio/mpeg"}],
        }
    ],
    "_ext": {"about": "https://example.org/ext"},
}


def broken(change: str) -> dict[str, object]:
    doc = copy.deepcopy(GOOD)
    item = doc["items"][0]  # type: ignore[index]
    if change == "no id":
        del item["id"]
    elif change == "no content":
        del item["content_text"]
    elif change == "version 1.0 url":
        doc["version"] = "https://jsonfeed.org/version/1"
    elif change == "bad date":
        item["date_published"] = "2026-01-05 09:00"
    elif change == "relative url":
        doc["home_page_url"] = "/blog/"
    elif change == "attachment without type":
        del item["attachments"][0]["mime_type"]
    elif change == "unknown key":
        doc["hub"] = "https://hub.example.org/"
    elif change == "extension not an object":
        doc["_ext"] = "text"
    elif change == "empty author":
        doc["authors"] = [{}]
    return doc


def test_the_schema_accepts_a_valid_feed() -> None:
    assert json_errors(GOOD) == []


@pytest.mark.parametrize(
    "change",
    ["no id", "no content", "version 1.0 url", "bad date", "relative url",
     "attachment without type", "unknown key", "extension not an object", "empty author"],
)
def test_the_schema_rejects_what_the_spec_forbids(change: str) -> None:
    assert json_errors(broken(change)), change
