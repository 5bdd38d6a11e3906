from __future__ import annotations

import os
import time
import urllib.parse
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime
from html.parser import HTMLParser
from xml.etree import ElementTree as ET

import feedparser
import pytest

from publisher.app.pipeline import build, build_feeds, publish
from publisher.app.site import load
from publisher.content.render import Renderer
from publisher.report import rebuild_line, summary_lines

from .conftest import NOW, SiteDir
from .feedcheck import check

ATOM = "{http://www.w3.org/2005/Atom}"
MEDIA = "{http://search.yahoo.com/mrss/}"
CONTENT = "{http://purl.org/rss/1.0/modules/content/}"
DC = "{http://purl.org/dc/elements/1.1/}"

MAIN_OUTPUTS = ("feed.xml", "rss.xml", "feed.json", "feeds.html")
TRICKY_TITLE = 'Caf\u00e9 & "quotes" <b>bold</b> \u2014 \u4e2d\u6587 \U0001f600'


def tricky_site(site: SiteDir) -> None:
    site.add_sample()
    site.post(
        "2026-01-05-tricky.md",
        f"""
        title: '{TRICKY_TITLE.replace("'", "''")}'
        date: 2026-01-05 10:00:00
        updated: 2026-01-06 09:30:00
        author: {{name: "Zo\u00eb <Z> & Co"}}
        categories: [Caf\u00e9s, "R&D"]
        tags: "alpha beta"
        excerpt: 'Short & <em>sweet</em> "summary"'
        image: {{path: img/cover.jpg, alt: Cover}}
        """,
        body=(
            "First paragraph with a [relative link](other.html) and ![pic](/img/a.png).\n\n"
            '<img src="b.png" srcset="b.png 1x, b2.png 2x"><script>alert(1)</script>\n\n'
            "| a | b |\n|---|---|\n| 1 | 2 |\n\n~~gone~~\n"
        ),
    )
    site.post(
        "2026-01-04-mailed-author.md",
        "title: With email\nauthor: {name: Mo, email: mo@example.org}\nid: post-42",
        body="Para one.\n\nPara two.\n",
    )


def parse(path):
    data = path.read_bytes()
    parsed = feedparser.parse(data)
    assert not parsed.bozo, parsed.get("bozo_exception")
    return parsed, ET.fromstring(data)


def test_atom_round_trips_every_field(site: SiteDir) -> None:
    tricky_site(site)
    result = build(site.config(), NOW)
    assert result.summary.problems == ()
    feed, tree = parse(site.out / "feed.xml")
    assert feed.version == "atom10"
    assert feed.feed.title == "Example & <Co>"
    assert feed.feed.id == "https://example.org/blog/"
    assert feed.feed.link == "https://example.org/blog/"
    links = {link.rel: link.href for link in feed.feed.links}
    assert links["self"] == "https://example.org/blog/feed.xml"
    assert feed.feed.updated_parsed[:5] == (2026, 1, 6, 8, 30)  # newest entry's update
    assert feed.feed.generator == "publisher"
    titles = [e.title for e in feed.entries]
    assert titles[0] == TRICKY_TITLE  # newest first
    assert titles[1] == "With email"
    assert titles[2].startswith("Breaking: As Trump")

    tricky = feed.entries[0]
    url = "https://example.org/blog/caf%C3%A9s/r&d/2026/01/05/tricky.html"
    assert tricky.id == url
    assert tricky.link == url
    assert tricky.links[0].rel == "alternate" and tricky.links[0].type == "text/html"
    assert tricky.published_parsed[:5] == (2026, 1, 5, 9, 0)
    assert tricky.updated_parsed[:5] == (2026, 1, 6, 8, 30)
    assert tricky.author == "Zo\u00eb <Z> & Co"
    assert [t.term for t in tricky.tags] == ["Caf\u00e9s", "R&D", "alpha", "beta"]
    # Excerpts are markup, as in Jekyll; summaries are their plain text.
    assert tricky.summary == 'Short & sweet "summary"'
    assert tricky.summary_detail.type == "text/plain"
    content = tricky.content[0]
    assert content.type == "text/html"
    base = "https://example.org/blog/caf%C3%A9s/r&amp;d/2026/01/05/"
    assert f'href="{base}other.html"' in content.value
    assert 'src="https://example.org/img/a.png"' in content.value
    entry = tree.findall(f"{ATOM}entry")[0]
    raw_html = entry.findtext(f"{ATOM}content")
    # feedparser's sanitiser drops srcset, so read it from the XML itself.
    assert "https://example.org/blog/caf%C3%A9s/r&amp;d/2026/01/05/b2.png 2x" in raw_html
    assert "<table>" in content.value and "<s>gone</s>" in content.value
    assert "script" not in raw_html
    assert entry.find(f"{MEDIA}thumbnail").get("url") == "https://example.org/blog/img/cover.jpg"
    assert entry.find(f"{MEDIA}content").get("medium") == "image"
    assert entry.find(f"{MEDIA}group") is None
    assert entry.find(f"{ATOM}title").get("type") in (None, "text")

    ident = feed.entries[1]
    assert ident.id == "https://example.org/blog/post-42"
    sample = feed.entries[2]
    assert sample.summary.startswith("Experts say that Russian and Chinese support")
    assert "Nicol\u00e1s Maduro" in sample.content[0].value
    assert sample.author == "badely"


def test_rss_round_trips_every_field(site: SiteDir) -> None:
    tricky_site(site)
    build(site.config(), NOW)
    feed, tree = parse(site.out / "rss.xml")
    assert feed.version == "rss20"
    channel = tree.find("channel")
    assert channel.findtext("link") == "https://example.org/blog/"
    assert channel.find(f"{ATOM}link").get("href") == "https://example.org/blog/rss.xml"
    assert channel.find(f"{ATOM}link").get("rel") == "self"
    assert channel.findtext("description") == 'Notes from "the" field'
    assert channel.findtext("language") == "en"
    assert parsedate_to_datetime(channel.findtext("lastBuildDate")) == datetime(
        2026, 1, 6, 8, 30, tzinfo=UTC
    )

    items = channel.findall("item")
    tricky, mailed, sample = items
    # Rendered as HTML (as many readers do), the title is its text: see rss_text.
    assert as_html(tricky.findtext("title")) == (TRICKY_TITLE, [])
    guid = tricky.find("guid")
    assert guid.get("isPermaLink") == "true"
    assert guid.text == tricky.findtext("link")
    assert parsedate_to_datetime(tricky.findtext("pubDate")) == datetime(
        2026, 1, 5, 9, 0, tzinfo=UTC
    )
    assert tricky.findtext("description") == 'Short &amp; sweet "summary"'  # HTML
    assert "<table>" in tricky.findtext(f"{CONTENT}encoded")
    assert [c.text for c in tricky.findall("category")] == ["Caf\u00e9s", "R&D", "alpha", "beta"]
    assert tricky.findtext(f"{DC}creator") == "Zo\u00eb <Z> & Co"
    assert tricky.find("author") is None
    assert tricky.find(f"{MEDIA}thumbnail").get("url") == "https://example.org/blog/img/cover.jpg"

    assert mailed.findtext("author") == "mo@example.org (Mo)"
    assert mailed.find(f"{DC}creator") is None
    assert mailed.find("guid").get("isPermaLink") == "false"
    assert mailed.findtext("guid") == "https://example.org/blog/post-42"
    assert mailed.findtext("description") == "Para one."
    assert sample.findtext(f"{DC}creator") == "badely"

    entries = feed.entries
    assert shown(entries[0].title_detail) == TRICKY_TITLE
    assert entries[0].author == "Zo\u00eb <Z> & Co"
    assert entries[0].content[0].value.startswith("<p>First paragraph")


def test_rebuild_is_byte_identical_and_not_rewritten(site: SiteDir) -> None:
    tricky_site(site)
    config = site.config()
    first = build(config, NOW)
    assert all(f.written for f in first.feeds)
    before = {n: (site.out / n).read_bytes() for n in MAIN_OUTPUTS}
    mtimes = {n: os.stat(site.out / n).st_mtime_ns for n in before}
    time.sleep(0.01)
    later = datetime(2026, 1, 20, tzinfo=NOW.tzinfo)
    second = build(config, later)
    assert not any(f.written for f in second.feeds)
    for name, data in before.items():
        assert (site.out / name).read_bytes() == data
        assert os.stat(site.out / name).st_mtime_ns == mtimes[name]
    # No temp files are left behind.
    assert sorted(p.name for p in site.out.iterdir()) == sorted(MAIN_OUTPUTS)


def test_limit_order_and_future_posts(site: SiteDir) -> None:
    site.write_config("[feeds]\nlimit = 3\n")
    for day in range(1, 8):
        site.post(f"2026-01-0{day}-p{day}.md", f"title: Post {day}")
    site.post("2026-03-01-later.md", "title: Later")
    build(site.config(), NOW)
    feed, _ = parse(site.out / "feed.xml")
    assert [e.title for e in feed.entries] == ["Post 7", "Post 6", "Post 5"]
    build(site.config(), NOW.replace(month=3, day=2))
    feed, _ = parse(site.out / "feed.xml")
    assert [e.title for e in feed.entries] == ["Later", "Post 7", "Post 6"]


def test_huge_post_goes_into_feeds_as_summary_only(site: SiteDir) -> None:
    site.write_config("[content]\nmax_post_bytes = 10000\n")
    site.post("2026-01-02-huge.md", "title: Huge", body="Opening words.\n\n" + "word " * 5000)
    site.post("2026-01-01-small.md", "title: Small", body="Small body.\n")
    build(site.config(), NOW)
    feed, _ = parse(site.out / "feed.xml")
    huge, small = feed.entries
    assert huge.summary == "Opening words."
    assert "content" not in huge
    assert small.content[0].value.strip() == "<p>Small body.</p>"


def test_empty_site_gives_valid_feeds(site: SiteDir) -> None:
    build(site.config(), NOW)
    for name in ("feed.xml", "rss.xml"):
        feed, _ = parse(site.out / name)
        assert feed.entries == []


# -- every feed valid ---------------------------------------------------------


def test_main_feeds_pass_the_validity_checks(site: SiteDir) -> None:
    tricky_site(site)
    site.write_config('[feeds]\nhub = "https://hub.example.org/"\n')
    build(site.config(), NOW)
    atom, rss, doc = (check(site.out / n) for n in ("feed.xml", "rss.xml", "feed.json"))
    hub = "https://hub.example.org/"
    assert [lk.get("href") for lk in atom.findall(f"{ATOM}link") if lk.get("rel") == "hub"] == [hub]
    channel = rss.find("channel")
    rss_hubs = [lk.get("href") for lk in channel.findall(f"{ATOM}link") if lk.get("rel") == "hub"]
    assert rss_hubs == [hub]
    assert doc["hubs"] == [{"type": "WebSub", "url": hub}]
    links = {link.rel: link.href for link in feedparser.parse(site.out / "feed.xml").feed.links}
    assert links["hub"] == hub


# -- enclosures -----------------------------------------------------------------


def podcast_site(site: SiteDir) -> None:
    site.post(
        "2026-01-03-episode.md",
        "title: Episode 2\n"
        "enclosure: {url: /media/ep2.mp3, length: 31415927, type: audio/mpeg}",
    )
    site.post("2026-01-02-audio.md", "title: Episode 1\naudio: https://cdn.example.org/ep1.m4a")
    site.post("2026-01-01-plain.md", "title: No audio")


def test_enclosures_in_every_format(site: SiteDir) -> None:
    podcast_site(site)
    result = build(site.config(), NOW)
    assert result.summary.problems == ()
    ep2 = "https://example.org/blog/media/ep2.mp3"
    ep1 = "https://cdn.example.org/ep1.m4a"

    rss = check(site.out / "rss.xml")
    items = rss.find("channel").findall("item")
    assert [i.find("enclosure").attrib if i.find("enclosure") is not None else None
            for i in items] == [
        {"url": ep2, "length": "31415927", "type": "audio/mpeg"},
        {"url": ep1, "length": "0", "type": "audio/mp4"},  # 0: unknown, as advised
        None,
    ]
    parsed = feedparser.parse(site.out / "rss.xml")
    assert [(e.href, e.length, e.type) for e in parsed.entries[0].enclosures] == [
        (ep2, "31415927", "audio/mpeg")
    ]

    atom = check(site.out / "feed.xml")
    entries = atom.findall(f"{ATOM}entry")
    encl = [[lk.attrib for lk in e.findall(f"{ATOM}link") if lk.get("rel") == "enclosure"]
            for e in entries]
    assert encl == [
        [{"href": ep2, "rel": "enclosure", "type": "audio/mpeg", "length": "31415927"}],
        [{"href": ep1, "rel": "enclosure", "type": "audio/mp4"}],  # no length: unknown
        [],
    ]
    parsed = feedparser.parse(site.out / "feed.xml")
    assert [(e.href, e.type) for e in parsed.entries[1].enclosures] == [(ep1, "audio/mp4")]
    assert parsed.entries[0].link == "https://example.org/blog/2026/01/03/episode.html"

    doc = check(site.out / "feed.json")
    assert [i.get("attachments") for i in doc["items"]] == [
        [{"url": ep2, "mime_type": "audio/mpeg", "size_in_bytes": 31415927}],
        [{"url": ep1, "mime_type": "audio/mp4"}],
        None,
    ]


@pytest.mark.parametrize(
    ("front", "message"),
    [
        ("enclosure: {url: ftp://example.org/a.mp3, type: audio/mpeg}",
         "enclosure: url must be http(s), got 'ftp://example.org/a.mp3'"),
        ("enclosure: {url: /a.mp3, length: -5}",
         "enclosure: length must be a whole number of bytes, 0 or more, got -5"),
        ("enclosure: {url: /a.mp3, length: big}",
         "enclosure: length must be a whole number of bytes, 0 or more, got 'big'"),
        ("enclosure: {url: /a.mp3, type: mp3}",
         "enclosure: type must be a MIME type such as audio/mpeg, got 'mp3'"),
        ("audio: /episode",
         "audio: type is missing and cannot be told from "
         "'https://example.org/blog/episode'; add type: audio/mpeg"),
        ("enclosure: {length: 5}", "enclosure: url is missing"),
        ("audio: [a, b]", "audio: expected a URL or {url, length, type}"),
        ("enclosure: {url: /a.mp3, size: 5}",
         "enclosure: unknown key 'size' (use url, length, type)"),
    ],
)
def test_a_bad_enclosure_is_a_warning_and_the_post_publishes(
    site: SiteDir, front: str, message: str
) -> None:
    site.post("2026-01-03-ep.md", f"title: Episode\ndate: 2026-01-03\n{front}")
    result = build(site.config(), NOW)
    (problem,) = result.summary.problems
    assert problem.severity == "warning" and problem.file == "2026-01-03-ep.md"
    assert problem.line == 4  # the key's line in the file
    assert problem.message == f"{message}; published without it"
    feed = feedparser.parse(site.out / "rss.xml")
    assert [e.title for e in feed.entries] == ["Episode"]
    assert feed.entries[0].enclosures == []


def test_enclosure_survives_the_post_cache(site: SiteDir) -> None:
    podcast_site(site)
    past = time.time() - 60
    for path in site.posts.iterdir():
        os.utime(path, (past, past))
    config = site.config()
    first = build(config, NOW)
    (site.root / ".publisher" / "last-run.json").unlink()
    (site.root / ".publisher" / "feeds.cache").unlink()
    (site.out / "rss.xml").unlink()
    again = build(config, NOW)  # posts from the cache this time
    assert again.summary == first.summary
    assert "31415927" in (site.out / "rss.xml").read_text()


# -- category and tag feeds -----------------------------------------------------


def taxonomy_site(site: SiteDir) -> None:
    site.write_config('[feeds]\nlimit = 2\ncategories = "all"\ntags = "all"\n')
    site.post("2026-01-01-a.md", "title: A\ncategories: [Cafés]\ntags: [Ümlaut tag, C++]")
    site.post("2026-01-02-b.md", "title: B\ncategories: Cafés\ntags: [c++]")
    site.post("2026-01-03-c.md", "title: C\ncategories: [Cafés, News]\ntags: [東京]")
    site.post("2026-01-04-d.md", "title: D\ncategories: [News]")


def test_category_and_tag_feeds_read_back_field_by_field(site: SiteDir) -> None:
    taxonomy_site(site)
    result = build(site.config(), NOW)
    main = feedparser.parse(site.out / "feed.xml")
    main_ids = {e.title: e.id for e in main.entries}
    for title in ("A", "B"):  # beyond the limit in the main feed: read them from a category
        main_ids[title] = f"https://example.org/blog/caf%C3%A9s/2026/01/0{ord(title) - 64}/" \
            f"{title.lower()}.html"
    expect = {
        "feed/cafés": ("category Cafés", ["C", "B"]),
        "feed/news": ("category News", ["D", "C"]),
        "feed/by_tag/c-plus-plus": ("tag C++", ["B", "A"]),
        "feed/by_tag/ümlaut-tag": ("tag Ümlaut tag", ["A"]),
        "feed/by_tag/東京": ("tag 東京", ["C"]),
    }
    for stem, (what, titles) in expect.items():
        base = "https://example.org/blog/" + urllib.parse.quote(stem)
        title = f"Example & <Co>: {what}"

        atom = check(site.out / f"{stem}.xml")
        parsed = feedparser.parse(site.out / f"{stem}.xml")
        assert parsed.version == "atom10"
        assert parsed.feed.title == title
        assert parsed.feed.id == base + ".xml"
        links = {lk.rel: lk for lk in parsed.feed.links}
        assert links["self"].href == base + ".xml"
        assert links["self"].type == "application/atom+xml"
        assert links["alternate"].href == "https://example.org/blog/"
        assert [e.title for e in parsed.entries] == titles
        assert [e.id for e in parsed.entries] == [main_ids[t] for t in titles]
        assert atom.findtext(f"{ATOM}subtitle").endswith("on Example & <Co>")

        check(site.out / f"{stem}.rss.xml")
        parsed = feedparser.parse(site.out / f"{stem}.rss.xml")
        assert parsed.version == "rss20"
        assert shown(parsed.feed.title_detail) == title  # escaped: see rss_text
        assert parsed.feed.link == "https://example.org/blog/"
        rss_self = [lk.href for lk in parsed.feed.links if lk.rel == "self"]
        assert rss_self == [base + ".rss.xml"]
        assert [e.title for e in parsed.entries] == titles
        assert [e.id for e in parsed.entries] == [main_ids[t] for t in titles]

        doc = check(site.out / f"{stem}.json")
        assert doc["title"] == title and doc["feed_url"] == base + ".json"
        assert [i["title"] for i in doc["items"]] == titles
        assert [i["id"] for i in doc["items"]] == [main_ids[t] for t in titles]
    # One warning: "c++" and "C++" share a feed; nothing was dropped.
    (problem,) = result.summary.problems
    assert problem.file == "2026-01-02-b.md" and problem.severity == "warning"
    assert "tag 'c++' has the same feed as tag 'C++'" in problem.message
    written = {f.kind: 0 for f in result.feeds}
    for f in result.feeds:
        written[f.kind] += f.written
    assert written == {"main": 3, "page": 1, "category": 6, "tag": 9}


def test_category_feeds_are_byte_stable_and_cost_what_changed(site: SiteDir) -> None:
    taxonomy_site(site)
    past = time.time() - 60
    for path in site.posts.iterdir():
        os.utime(path, (past, past))
    config = site.config()
    first = build_feeds(config, load(config, NOW), Renderer())
    files = sorted(p for p in site.out.rglob("*") if p.is_file())
    before = {p: (p.read_bytes(), os.stat(p).st_mtime_ns) for p in files}
    time.sleep(0.01)

    renderer = Renderer()
    second = build_feeds(config, load(config, NOW), renderer)
    assert not [f for f in second if f.written]
    assert renderer.memo == {}  # nothing rendered, nothing built
    assert {p: (p.read_bytes(), os.stat(p).st_mtime_ns) for p in files} == before
    assert [f.name for f in second] == [f.name for f in first]
    # Built again from scratch (no feed cache), every feed has the same bytes.
    (site.root / ".publisher" / "feeds.cache").unlink()
    rebuilt = build_feeds(config, load(config, NOW), Renderer())
    assert not [f for f in rebuilt if f.written]
    assert {p: (p.read_bytes(), os.stat(p).st_mtime_ns) for p in files} == before

    site.post("2026-01-04-d.md", "title: D edited\ncategories: [News]")
    os.utime(site.posts / "2026-01-04-d.md", (past + 1, past + 1))
    renderer = Renderer()
    third = build_feeds(config, load(config, NOW), renderer)
    changed = sorted(f.name for f in third if f.written)
    assert changed == sorted(
        ["feed.xml", "rss.xml", "feed.json", "feed/news.xml", "feed/news.rss.xml",
         "feed/news.json"]
    )
    # Rendered only the posts of the feeds that changed: the main feed's and News's.
    assert sorted(p.title for p in (r.post for r in renderer.memo.values())) == ["C", "D edited"]


def test_a_deleted_category_feed_ends_the_shortcut(site: SiteDir) -> None:
    taxonomy_site(site)
    past = time.time() - 60
    for path in site.posts.iterdir():
        os.utime(path, (past, past))
    config = site.config()
    publish(config, NOW, with_digest=False)
    assert publish(config, NOW, with_digest=False).unchanged
    (site.out / "feed" / "news.rss.xml").unlink()
    again = publish(config, NOW, with_digest=False)
    assert not again.unchanged
    assert [f.name for f in again.feeds if f.written] == ["feed/news.rss.xml"]
    check(site.out / "feed" / "news.rss.xml")
    replay = publish(config, NOW, with_digest=False)
    assert replay.unchanged
    assert [(f.name, f.kind, f.entries) for f in replay.feeds] == [
        (f.name, f.kind, f.entries) for f in again.feeds
    ]


def test_summary_has_one_line_per_kind(site: SiteDir) -> None:
    taxonomy_site(site)
    config = site.config()
    lines = summary_lines(build(config, NOW), config)
    out = site.out
    assert lines[1:8] == [
        f"Feed: {out}/feed.xml written (2 entries).",
        f"Feed: {out}/rss.xml written (2 entries).",
        f"Feed: {out}/feed.json written (2 entries).",
        f"Feed page: {out}/feeds.html written (18 feeds listed).",
        f"Category feeds: 6 in {out}/feed/: 6 written, 0 unchanged.",
        f"Tag feeds: 9 in {out}/feed/by_tag/: 9 written, 0 unchanged.",
        lines[7],
    ]
    assert lines[7].startswith("Done in ")
    line = rebuild_line(build(config, NOW))
    assert line.endswith(
        "feed.xml unchanged, rss.xml unchanged, feed.json unchanged, feeds.html unchanged, "
        "6 category feeds (0 written), 9 tag feeds (0 written)"
    )


# -- the feeds page and autodiscovery -------------------------------------------


class Links(HTMLParser):
    """Collects <link rel=alternate> tags, inputs and anchors of an HTML page."""

    def __init__(self) -> None:
        super().__init__()
        self.alternates: list[dict[str, str | None]] = []
        self.inputs: list[str | None] = []
        self.hrefs: list[str | None] = []
        self.text: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        a = dict(attrs)
        if tag == "link" and a.get("rel") == "alternate":
            self.alternates.append(a)
        elif tag == "input":
            self.inputs.append(a.get("value"))
        elif tag == "a":
            self.hrefs.append(a.get("href"))

    def handle_data(self, data: str) -> None:
        self.text.append(data)


def test_feeds_page_lists_every_feed(site: SiteDir) -> None:
    taxonomy_site(site)
    result = build(site.config(), NOW)
    urls = [f.url for f in result.feeds if f.kind != "page"]
    page = Links()
    page.feed((site.out / "feeds.html").read_text(encoding="utf-8"))
    assert [a["href"] for a in page.alternates] == urls
    assert page.inputs == urls  # each address in a box to copy
    assert [h for h in page.hrefs if h and h.startswith("feed:")] == [f"feed:{u}" for u in urls]
    text = " ".join(page.text)
    assert "Follow Example & <Co>" in text and "Open in your reader" in text
    for heading in ("Everything", "By category", "By tag", "Cafés", "Ümlaut tag", "東京"):
        assert heading in text
    assert page.alternates[3] == {
        "rel": "alternate",
        "type": "application/atom+xml",
        "title": "Example & <Co>: category Cafés (Atom)",
        "href": "https://example.org/blog/feed/caf%C3%A9s.xml",
    }
    site.write_config('[feeds]\npage = ""\n')
    assert "feeds.html" not in [f.name for f in build(site.config(), NOW).feeds]


# -- titles are text: they stay text in every format ---------------------------

SCRIPT = "<script>alert(1)</script>"


class _Rendered(HTMLParser):
    """The text an HTML renderer shows for some markup, and the elements it makes."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.text: list[str] = []
        self.elements: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.elements.append(tag)

    def handle_data(self, data: str) -> None:
        self.text.append(data)


def as_html(markup: str) -> tuple[str, list[str]]:
    """(the text shown, the elements made) when a reader renders `markup` as HTML."""
    parser = _Rendered()
    parser.feed(markup)
    parser.close()
    return "".join(parser.text), parser.elements


def shown(detail) -> str:  # type: ignore[no-untyped-def]
    """What a reader shows for one of feedparser's text constructs: plain text as
    it is, HTML as the text it renders to (which must make no element)."""
    if detail.type == "text/plain":
        return str(detail.value)
    text, elements = as_html(detail.value)
    assert elements == [], detail.value
    return text


def test_a_title_with_markup_shows_as_text_in_every_feed_and_the_digest(
    site: SiteDir, monkeypatch: pytest.MonkeyPatch
) -> None:
    """RSS 2.0 says a title is plain text, but many readers render it as HTML
    (and an item's description is HTML by the spec): both carry the text so that
    either reading shows it as written. Atom's type="text" and JSON Feed's title
    and summary are text by their specs: escaped once, or not at all."""
    import email
    import email.policy
    import json

    from publisher.store.store import Store

    monkeypatch.setenv("PUBLISHER_SECRET", "test-secret-0123456789abcdef")
    site.write_config(
        '[delivery]\nfrom = "News <news@example.org>"\n'
        'unsubscribe_url = "https://example.org/unsubscribe"\n'
    )
    site.post(
        "2026-01-09-xss.md",
        f"title: '{SCRIPT}'\ndate: 2026-01-09 10:00",
        body="Writing about `<script>alert(2)</script>` & <b>tags</b>.\n",
    )
    excerpt = "Writing about <script>alert(2)</script> & tags."
    config = site.config()
    state = Store.open(config.state_file)
    with state.transaction():
        state.subscribers.add("reader@example.org", "Reader", NOW)
    state.close()
    result = publish(config, NOW)
    assert result.summary.problems == () and result.delivery is not None

    rss, rss_tree = parse(site.out / "rss.xml")
    item = rss_tree.find("channel/item")
    # The raw XML: rendered as HTML, the title and the description make no element.
    for raw, text in ((item.findtext("title"), SCRIPT), (item.findtext("description"), excerpt),
                      (rss_tree.findtext("channel/title"), "Example & <Co>")):
        assert as_html(raw) == (text, []), raw
    assert shown(rss.entries[0].title_detail) == SCRIPT
    assert shown(rss.entries[0].summary_detail) == excerpt
    assert shown(rss.feed.title_detail) == "Example & <Co>"

    atom, atom_tree = parse(site.out / "feed.xml")
    title = atom_tree.find(f"{ATOM}entry/{ATOM}title")
    assert (title.get("type") or "text", title.text) == ("text", SCRIPT)
    assert shown(atom.entries[0].title_detail) == SCRIPT
    assert shown(atom.entries[0].summary_detail) == excerpt

    doc = json.loads((site.out / "feed.json").read_bytes())
    assert (doc["items"][0]["title"], doc["items"][0]["summary"]) == (SCRIPT, excerpt)

    (eml,) = (config.root / ".publisher" / "outbox").glob("*.eml")
    msg = email.message_from_bytes(eml.read_bytes(), policy=email.policy.default)
    assert SCRIPT in str(msg["Subject"])
    html_part = msg.get_body(("html",)).get_content()
    text, elements = as_html(html_part)
    assert SCRIPT in text and "script" not in elements
    assert SCRIPT in msg.get_body(("plain",)).get_content()
