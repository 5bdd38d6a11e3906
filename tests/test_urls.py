"""Only web addresses reach a feed, an email or a digest page."""

from __future__ import annotations

import json
import re
from html.parser import HTMLParser
from xml.etree import ElementTree as ET

import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st

from publisher.app.pipeline import publish
from publisher.content import urls
from publisher.content.render import absolutize, for_email

from .conftest import NOW, SiteDir
from .delivery_support import add_subscribers, parse
from .feedcheck import check

HOSTILE = [
    "javascript:alert(1)",
    "JavaScript:alert(1)",
    " javascript:alert(1)",
    "java\tscript:alert(1)",
    "java\nscript:alert(1)",
    "\x01javascript:alert(1)",
    "data:text/html,<script>alert(1)</script>",
    "vbscript:msgbox(1)",
    "file:///etc/passwd",
    "http:no-host",
]


@pytest.mark.parametrize("value", HOSTILE)
def test_safe_url_refuses_what_browsers_would_run(value: str) -> None:
    assert urls.safe_url(value) is None
    assert urls.safe_url(value, allow_mailto=True) is None


def test_safe_url_keeps_web_addresses() -> None:
    assert urls.safe_url("https://example.org/a?b#c") == "https://example.org/a?b#c"
    assert urls.safe_url(" HTTP://example.org/ ") == "HTTP://example.org/"
    assert urls.safe_url("mailto:ann@example.org") is None
    assert urls.safe_url("mailto:ann@example.org", allow_mailto=True) == "mailto:ann@example.org"
    assert urls.safe_url("/relative/path") is None  # make it absolute first


def test_entry_ids() -> None:
    for good in ("https://example.org/1", "tag:example.org,2026:1", "urn:uuid:1234", "/2026/x"):
        assert urls.safe_id(good), good
    for bad in ("javascript:alert(1)", "data:,x", "mailto:a@example.org"):
        assert not urls.safe_id(bad), bad


# -- the fast paths answer as the full reading --------------------------------------------

# What a browser skips or strips, scheme spellings, and what ends or breaks a host.
URL_PIECES = [
    "https://", "http://", "://", "http", "https", "HTTP", "hTtPs", "javascript", "data",
    "mailto", "tag", "urn", "h", "ttps",
    ":", "//", "/", "///", "\\", "?", "#", "@", "[", "]", "::1", ":80", "%0a", "%09",
    "example.org", "a", "A-b.c", "_", "-", ".", "..", "é", "xn--bcher-kva", "evil",
    " ", "\t", "\n", "\r", "\x00", "\x01", "\x1f", "\x7f", "\x85", "\xa0", "\u2028", "\u3000",
]
url_like = st.lists(st.sampled_from(URL_PIECES), max_size=10).map("".join) | st.text(max_size=30)
FAST_PATH_TRAPS = [
    "https://example.org/a", "http://example.org", "https://example.org?q", "https://e.org#f",
    "ht\ttps://example.org/", "htt\nps://example.org/", "https:\t//example.org/",
    "https://\texample.org/", "https://example.org\t/", "https://example.org\n",
    "\x01https://example.org/", " https://example.org/", "\nhttps://example.org/",
    "\x85https://example.org/", "\xa0https://example.org/", "\u3000https://example.org/",
    "https://example.org/ ", "https://example.org/\x00", "https://example.org/\u3000",
    "http:evil", "http:/evil", "http:///evil", "https://", "https:// /", "https:///x",
    "HTTPS://example.org/", "Https://example.org/", "https://example.org:8080/",
    "https://[::1]/", "https://a[/", "https://a]/", "https://u@example.org/",
    "https://exa_mple.org/", "https://é.org/", "https://example.org\\x", "https:\\\\a/",
    "javascript://example.org/%0aalert(1)", "https://example.org/javascript:alert(1)",
]


def outcome(check: object, *args: object) -> object:
    """What a check answers, or the exception it raises (urlsplit raises
    ValueError for a host with one bracket): the fast path must do the same."""
    try:
        return check(*args)  # type: ignore[operator]
    except ValueError as exc:
        return type(exc)


@settings(max_examples=3000, deadline=None)
@given(url_like)
@example("https://example.org/x")
def test_safe_url_answers_as_the_full_check(value: str) -> None:
    for allow_mailto in (False, True):
        assert outcome(urls.safe_url, value, allow_mailto) == outcome(
            urls._checked_url, value, allow_mailto
        )


@settings(max_examples=3000, deadline=None)
@given(url_like)
def test_safe_id_answers_as_the_full_check(value: str) -> None:
    assert urls.safe_id(value) == urls._checked_id(value)


@pytest.mark.parametrize("value", FAST_PATH_TRAPS + HOSTILE)
def test_fast_paths_on_traps(value: str) -> None:
    for allow_mailto in (False, True):
        assert outcome(urls.safe_url, value, allow_mailto) == outcome(
            urls._checked_url, value, allow_mailto
        )
    assert urls.safe_id(value) == urls._checked_id(value)


def test_fast_paths_take_the_usual_urls() -> None:
    """(Else the tests above compare the full check with itself.)"""
    for value in ("https://news.example.org/2026/01/02/a-post.html", "http://example.org",
                  "https://example.org/a.jpg?w=1#x"):
        assert urls._PLAIN_WEB.match(value), value
    for value in ("HTTPS://example.org/", "https://example.org:8080/", " https://example.org/",
                  "ht\ttps://example.org/", "https:///x", "http:evil"):
        assert not urls._PLAIN_WEB.match(value), value


def test_srcset_keeps_only_web_candidates() -> None:
    assert urls.safe_srcset("javascript:a 1x, https://e.org/b.png 2x") == "https://e.org/b.png 2x"
    assert urls.safe_srcset("javascript:a 1x, data:x 2x") is None


def test_body_html_loses_every_unsafe_url() -> None:
    html = (
        '<a href="javascript:alert(1)">a</a> <a href="mailto:ann@example.org">m</a> '
        '<a href="tel:+123">t</a> <img src="data:image/png;base64,AAAA" '
        'srcset="javascript:x 1x, b.png 2x"> <img src="java&#9;script:alert(1)">'
        '<video poster="javascript:x" src="v.mp4"></video>'
    )
    for cleaned in (absolutize(html, "https://example.org/p/"), for_email(html)):
        assert "javascript" not in cleaned.lower()
        assert "data:" not in cleaned and "tel:" not in cleaned
        assert "mailto:ann@example.org" in cleaned
    feed = absolutize(html, "https://example.org/p/")
    assert 'srcset="https://example.org/p/b.png 2x"' in feed
    assert 'src="https://example.org/p/v.mp4"' in feed


class Attributes(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.values: list[str] = []

    def handle_starttag(self, tag, attrs):  # type: ignore[no-untyped-def]
        url_attributes = {"href", "src", "srcset", "poster", "background", "cite", "action"}
        self.values.extend(v or "" for k, v in attrs if k in url_attributes)


def test_front_matter_urls_reach_no_output(
    site: SiteDir, monkeypatch: pytest.MonkeyPatch
) -> None:
    site.write_config(
        '[delivery]\nfrom = "News <news@example.org>"\n'
        'unsubscribe_url = "https://example.org/unsubscribe"\n'
    )
    monkeypatch.setenv("PUBLISHER_SECRET", "test-secret-0123456789abcdef")
    add_subscribers(site.config(), ["reader@example.org"])
    site.post(
        "2026-01-08-js.md",
        """
        title: Hostile
        date: 2026-01-08 09:00
        id: "javascript:alert(3)"
        image: {path: "javascript:alert(1)", alt: "x"}
        banner_image: "data:text/html,x"
        author: {name: Eve, uri: "javascript:alert(2)"}
        """,
        body='<img srcset="javascript:alert(4) 1x" src="javascript:alert(5)">\n'
        '<a href="javascript:alert(6)">click</a> <a href="https://example.org/ok">ok</a>\n',
    )
    result = publish(site.config(), NOW)
    warnings = [str(p) for p in result.summary.problems]
    assert len(warnings) == 4 and all(": warning: " in w for w in warnings)
    outputs = [site.out / n for n in ("feed.xml", "rss.xml", "feed.json")]
    outputs += sorted((site.out / "digest").glob("*.html"))
    outputs += sorted((site.root / ".publisher" / "outbox").glob("*.eml"))
    assert len(outputs) == 3 + 3 + 1  # feeds; dated copy, latest, index; one message
    for path in outputs[:3]:
        check(path)
    for path in outputs:
        if path.suffix == ".eml":  # quoted-printable: decode every part first
            message = parse(path.read_bytes())
            text = "".join(p.get_content() for p in message.walk() if not p.is_multipart())
            assert "reader@example.org" in str(message["To"])
        else:
            text = path.read_text(encoding="utf-8")
        assert not re.search(r"javascript|data:text", text, re.I), path
    atom = ET.fromstring((site.out / "feed.xml").read_bytes())
    ids = [e.text for e in atom.iter("{http://www.w3.org/2005/Atom}id")]
    assert "https://example.org/blog/2026/01/08/js.html" in ids  # the URL stands in
    item = json.loads((site.out / "feed.json").read_text())["items"][0]
    assert "image" not in item and "banner_image" not in item
    assert item["authors"] == [{"name": "Eve"}]
    page = Attributes()
    page.feed((site.out / "digest" / "latest.html").read_text(encoding="utf-8"))
    assert page.values
    assert all(v.startswith(("http://", "https://", "mailto:")) for v in page.values)
