"""Validity checks for every feed the tests read: a stand-in for the W3C Feed Validator.

The W3C feedvalidator is on neither PyPI nor Debian, so these check the rules
it checks that matter here, straight from the specs: RFC 4287 for Atom, RSS
2.0 (rssboard.org) for RSS, the JSON Feed 1.1 schema in schemas/ for JSON,
plus feedparser's own well-formedness verdict (bozo) for the XML formats.
Each check fails with the rule that was broken.
"""

from __future__ import annotations

import json
import re
from email.utils import parsedate_to_datetime
from functools import lru_cache
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit
from xml.etree import ElementTree as ET

import feedparser
import jsonschema

ATOM = "{http://www.w3.org/2005/Atom}"
SCHEMA = Path(__file__).parent / "schemas" / "jsonfeed-1.1.schema.json"
# RFC 3339 date-time (Atom date constructs, JSON Feed dates).
RFC3339 = re.compile(
    r"\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d+)?(Z|[+-]\d{2}:\d{2})", re.ASCII
)
MIME = re.compile(r"[A-Za-z0-9][\w!#$&^.+-]*/[A-Za-z0-9][\w!#$&^.+-]*(\s*;.*)?", re.ASCII)
RSS_EMAIL = re.compile(r"[^@\s]+@[^@\s]+\.[^@\s]+( \(.+\))?")


def absolute(iri: str | None) -> bool:
    parts = urlsplit(iri or "")
    return bool(parts.scheme) and (bool(parts.netloc) or parts.scheme in ("urn", "tag", "mailto"))


def check(path: Path) -> Any:
    """Check a feed file by its suffix; returns the XML root or the JSON object."""
    data = path.read_bytes()
    if path.suffix == ".json":
        return check_json(data)
    root = ET.fromstring(data)
    return check_atom(data) if root.tag == f"{ATOM}feed" else check_rss(data)


def _wellformed(data: bytes) -> ET.Element:
    parsed = feedparser.parse(data)
    assert not parsed.bozo, f"feedparser: {parsed.get('bozo_exception')}"
    return ET.fromstring(data)


def _one(parent: ET.Element, tag: str, where: str) -> ET.Element:
    found = parent.findall(tag)
    assert len(found) == 1, f"{where}: needs exactly one {tag}, has {len(found)}"
    return found[0]


def _date(text: str | None, where: str) -> None:
    assert text and RFC3339.fullmatch(text), f"{where}: not an RFC 3339 date: {text!r}"


def check_atom(data: bytes) -> ET.Element:
    """RFC 4287: the feed and entry elements a valid Atom document must have."""
    feed = _wellformed(data)
    assert feed.tag == f"{ATOM}feed", "Atom: the root must be atom:feed"
    assert absolute(_one(feed, f"{ATOM}id", "feed").text), "feed: atom:id must be an IRI"
    assert _one(feed, f"{ATOM}title", "feed").text, "feed: atom:title is empty"
    _date(_one(feed, f"{ATOM}updated", "feed").text, "feed updated")
    for single in ("subtitle", "icon", "logo", "generator", "rights"):
        assert len(feed.findall(f"{ATOM}{single}")) <= 1, f"feed: more than one {single}"
    links = feed.findall(f"{ATOM}link")
    assert all(link.get("href") for link in links), "feed: a link has no href"
    alternates = [(lk.get("type"), lk.get("hreflang")) for lk in links
                  if lk.get("rel", "alternate") == "alternate"]
    assert len(alternates) == len(set(alternates)), "feed: two alternate links of one type"
    selfs = [lk for lk in links if lk.get("rel") == "self"]
    assert len(selfs) == 1 and absolute(selfs[0].get("href")), "feed: needs one absolute self link"
    entries = feed.findall(f"{ATOM}entry")
    feed_author = feed.find(f"{ATOM}author") is not None
    ids = []
    for index, entry in enumerate(entries):
        where = f"entry {index}"
        ident = _one(entry, f"{ATOM}id", where).text
        assert absolute(ident), f"{where}: atom:id must be an absolute IRI, got {ident!r}"
        ids.append(ident)
        assert _one(entry, f"{ATOM}title", where) is not None
        _date(_one(entry, f"{ATOM}updated", where).text, f"{where} updated")
        for published in entry.findall(f"{ATOM}published"):
            _date(published.text, f"{where} published")
        assert len(entry.findall(f"{ATOM}published")) <= 1
        assert feed_author or entry.find(f"{ATOM}author") is not None, (
            f"{where}: no author, and the feed has none"
        )
        for author in entry.findall(f"{ATOM}author"):
            assert author.findtext(f"{ATOM}name"), f"{where}: author without a name"
        elinks = entry.findall(f"{ATOM}link")
        assert all(lk.get("href") for lk in elinks), f"{where}: a link has no href"
        has_alternate = any(lk.get("rel", "alternate") == "alternate" for lk in elinks)
        assert entry.find(f"{ATOM}content") is not None or has_alternate, (
            f"{where}: without content an entry needs an alternate link"
        )
        for link in elinks:
            if link.get("rel") == "enclosure":
                assert link.get("type") and MIME.fullmatch(link.get("type", "")), where
                assert link.get("length", "0").isdigit(), f"{where}: enclosure length"
        for category in entry.findall(f"{ATOM}category"):
            assert category.get("term"), f"{where}: category without a term"
    assert len(ids) == len(set(ids)), "feed: two entries with one id"
    return feed


def check_rss(data: bytes) -> ET.Element:
    """RSS 2.0: required channel and item elements, dates, guids and enclosures."""
    root = _wellformed(data)
    assert root.tag == "rss" and root.get("version") == "2.0", "RSS: <rss version='2.0'>"
    channel = _one(root, "channel", "rss")
    for required in ("title", "link", "description"):
        assert _one(channel, required, "channel").text, f"channel: empty <{required}>"
    assert absolute(channel.findtext("link")), "channel: <link> must be an absolute URL"
    for when in ("lastBuildDate", "pubDate"):
        if channel.find(when) is not None:
            assert parsedate_to_datetime(channel.findtext(when)).tzinfo, f"channel {when}"
    selfs = [lk for lk in channel.findall(f"{ATOM}link") if lk.get("rel") == "self"]
    assert len(selfs) == 1 and absolute(selfs[0].get("href")), "channel: one atom:link self"
    guids = []
    for index, item in enumerate(channel.findall("item")):
        where = f"item {index}"
        assert item.findtext("title") or item.findtext("description"), (
            f"{where}: needs a title or a description"
        )
        guid = item.find("guid")
        if guid is not None:
            guids.append(guid.text)
            if guid.get("isPermaLink", "true") == "true":
                assert absolute(guid.text), f"{where}: a permalink guid must be a URL"
        if item.find("link") is not None:
            assert absolute(item.findtext("link")), f"{where}: <link> must be absolute"
        if item.find("pubDate") is not None:
            assert parsedate_to_datetime(item.findtext("pubDate")).tzinfo, f"{where} pubDate"
        if item.find("author") is not None:
            assert RSS_EMAIL.fullmatch(item.findtext("author") or ""), f"{where}: author"
        enclosures = item.findall("enclosure")
        assert len(enclosures) <= 1, f"{where}: readers use one enclosure"
        for enclosure in enclosures:
            assert urlsplit(enclosure.get("url")).scheme in ("http", "https"), where
            assert (enclosure.get("length") or "").isdigit(), f"{where}: enclosure length"
            assert MIME.fullmatch(enclosure.get("type") or ""), f"{where}: enclosure type"
        for category in item.findall("category"):
            assert category.text, f"{where}: empty category"
    assert len(guids) == len(set(guids)), "channel: two items with one guid"
    return root


@lru_cache(maxsize=1)
def _validator() -> jsonschema.protocols.Validator:
    schema = json.loads(SCHEMA.read_text(encoding="utf-8"))
    checker = jsonschema.FormatChecker(formats=())

    # jsonschema checks these formats only with optional packages; check them here,
    # so a bad URL or date cannot pass unseen.
    @checker.checks("uri")
    def is_uri(value: object) -> bool:
        return not isinstance(value, str) or absolute(value)

    @checker.checks("date-time")
    def is_date(value: object) -> bool:
        return not isinstance(value, str) or bool(RFC3339.fullmatch(value))

    cls = jsonschema.validators.validator_for(schema)
    cls.check_schema(schema)
    return cls(schema, format_checker=checker)


def json_errors(doc: Any) -> list[str]:
    return [f"{'/'.join(map(str, e.absolute_path))}: {e.message}"
            for e in _validator().iter_errors(doc)]


def check_json(data: bytes) -> dict[str, Any]:
    """JSON Feed 1.1: UTF-8 JSON, valid against the schema, item ids unique."""
    doc = json.loads(data.decode("utf-8"))
    errors = json_errors(doc)
    assert not errors, errors
    ids = [item["id"] for item in doc["items"]]
    assert len(ids) == len(set(ids)), "two items with one id"
    return dict(doc)
