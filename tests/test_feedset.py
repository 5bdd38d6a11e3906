"""Which feeds exist, their paths, slugs, titles, ids and self URLs."""

from __future__ import annotations

import unicodedata

import pytest
from hypothesis import given
from hypothesis import strategies as st

from publisher.app.site import load
from publisher.feeds.plan import SLUG_MAX_BYTES, plan, slugify

from .conftest import NOW, SiteDir


@pytest.mark.parametrize(
    ("name", "slug"),
    [
        ("News", "news"),
        ("Cafés", "cafés"),
        ("R&D", "r-and-d"),
        ("C++", "c-plus-plus"),
        ("C#", "c-sharp"),
        ("machine learning", "machine-learning"),
        ("machine-learning", "machine-learning"),
        ("İstanbul", "istanbul"),
        ("東京", "東京"),
        ("Ａｂｃ", "abc"),  # full-width letters, NFKC
        ("🎉", "u1f389"),
        ("a/b\\c", "a-b-c"),  # never a folder
        ("..", "u2e-u2e"),
    ],
)
def test_slugs_keep_every_letter(name: str, slug: str) -> None:
    assert slugify(name) == slug


@given(st.text(min_size=1).filter(lambda t: t.strip()))
def test_slugs_are_safe_file_names(name: str) -> None:
    slug = slugify(name)
    assert slug and slug == unicodedata.normalize("NFC", slug)
    assert len(slug.encode("utf-8")) <= SLUG_MAX_BYTES
    assert "/" not in slug and "\\" not in slug and slug not in (".", "..")
    assert not slug.startswith("-") and not slug.endswith("-") and "--" not in slug
    assert all(unicodedata.category(c)[0] in "LNM" or c == "-" for c in slug)
    assert slugify(slug) == slug


def tagged_site(site: SiteDir, feeds: str) -> None:
    site.write_config(f"[feeds]\nlimit = 2\n{feeds}")
    site.post("2026-01-01-a.md", "title: A\ncategories: [News, Cafés]\ntags: [python, C++]")
    site.post("2026-01-02-b.md", "title: B\ncategories: News\ntags: [c++, Python]")
    site.post("2026-01-03-c.md", "title: C\ncategories: [News]\ntags: [python]")
    site.post("2026-01-04-d.md", "title: D\ncategories: [Sport]\ndraft: true")


def test_plan_lists_main_then_categories_then_tags(site: SiteDir) -> None:
    tagged_site(site, 'categories = "all"\ntags = "all"\n')
    config = site.config()
    found = plan(config, load(config, NOW))
    paths = [f.path for f in found.feeds]
    assert paths == [
        "feed.xml", "rss.xml", "feed.json",
        "feed/cafés.xml", "feed/cafés.rss.xml", "feed/cafés.json",
        "feed/news.xml", "feed/news.rss.xml", "feed/news.json",
        "feed/by_tag/c-plus-plus.xml", "feed/by_tag/c-plus-plus.rss.xml",
        "feed/by_tag/c-plus-plus.json",
        "feed/by_tag/python.xml", "feed/by_tag/python.rss.xml", "feed/by_tag/python.json",
    ]  # the draft's category has no feed
    by_path = {f.path: f for f in found.feeds}
    cafes = by_path["feed/cafés.xml"]
    assert cafes.url == "https://example.org/blog/feed/caf%C3%A9s.xml"
    assert cafes.feed_id == cafes.url
    assert cafes.title == "Example & <Co>: category Cafés"
    assert cafes.description == "Posts in the category “Cafés” on Example & <Co>"
    assert cafes.media_type == "application/atom+xml"
    news = by_path["feed/news.rss.xml"]
    assert [p.title for p in news.posts] == ["C", "B"]  # newest first, [feeds] limit
    assert news.media_type == "application/rss+xml"
    python = by_path["feed/by_tag/python.json"]
    # Two spellings, one feed, named after the more used one.
    assert python.name == "python" and python.title == "Example & <Co>: tag python"
    assert python.media_type == "application/feed+json"
    main = by_path["feed.xml"]
    assert main.feed_id == "https://example.org/blog/" and main.title == "Example & <Co>"
    # Both "C++" and "c++" are used once: the feed takes the first in sort order.
    assert by_path["feed/by_tag/c-plus-plus.xml"].name == "C++"
    # Each warning names a post that uses the less used (or later) spelling.
    assert [p.file for p in found.problems] == ["2026-01-02-b.md", "2026-01-02-b.md"]
    assert len(found.problems) == 2
    assert all(p.severity == "warning" for p in found.problems)
    texts = " | ".join(p.message for p in found.problems)
    assert "tag 'c++' has the same feed as tag 'C++' (feed/by_tag/c-plus-plus.xml)" in texts
    assert "tag 'Python' has the same feed as tag 'python' (feed/by_tag/python.xml)" in texts


def test_listed_names_only_and_empty_listed_feeds(site: SiteDir) -> None:
    tagged_site(site, 'categories = ["news", "Nothing yet"]\n')
    config = site.config()
    found = plan(config, load(config, NOW))
    paths = [f.path for f in found.feeds if f.kind == "category"]
    assert paths == [
        "feed/news.xml", "feed/news.rss.xml", "feed/news.json",
        "feed/nothing-yet.xml", "feed/nothing-yet.rss.xml", "feed/nothing-yet.json",
    ]
    news = next(f for f in found.feeds if f.path == "feed/news.xml")
    assert news.name == "news"  # as listed
    assert [p.title for p in news.posts] == ["C", "B"]
    empty = next(f for f in found.feeds if f.path == "feed/nothing-yet.xml")
    assert empty.posts == () and empty.title.endswith("category Nothing yet")
    assert not [f for f in found.feeds if f.kind == "tag"]
    assert found.problems == ()  # "news" and "News": the listed name decides, one spelling


def test_json_off_and_defaults_write_main_feeds_only(site: SiteDir) -> None:
    tagged_site(site, 'json = ""\n')
    config = site.config()
    found = plan(config, load(config, NOW))
    assert [f.path for f in found.feeds] == ["feed.xml", "rss.xml"]
    assert found.problems == ()


def test_clash_warnings_reach_the_site_problems(site: SiteDir) -> None:
    tagged_site(site, 'tags = "all"\n')
    site_model = load(site.config(), NOW)
    warnings = [str(p) for p in site_model.warnings]
    clash = "2026-01-02-b.md: warning: tag 'c++' has the same feed"
    assert any(w.startswith(clash) for w in warnings)
    tagged_site(site, "")
    assert load(site.config(), NOW).warnings == ()  # no tag feeds, no clash
