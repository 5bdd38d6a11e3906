"""Jekyll's rules as plain functions, checked against what Jekyll 4.3 and Ruby
3.1 give for the same input (the expected values were read off real runs)."""

from __future__ import annotations

from datetime import datetime
from zoneinfo import ZoneInfo

import pytest

from publisher.jekyll import rules
from publisher.jekyll.markdown import parse_ial, to_html
from publisher.jekyll.typography import smartify

PARIS = ZoneInfo("Europe/Paris")


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("2023-01-29 18:30:22 2023 -0800", "2023-01-29T18:30:22+01:00"),
        ("2023-01-29 18:30:22 -0800", "2023-01-30T03:30:22+01:00"),
        ("2014-3-3", "2014-03-03T00:00:00+01:00"),
        ("14-3-3", "2014-03-03T00:00:00+01:00"),
        ("2019-04-05T10:00:00+02:00", "2019-04-05T10:00:00+02:00"),
        ("2019-04-05 10:00 PST", "2019-04-05T20:00:00+02:00"),
        ("Jan 5, 2019", "2019-01-05T00:00:00+01:00"),
        ("5 January 2019 10:00", "2019-01-05T10:00:00+01:00"),
        ("April 5th 2019", "2019-04-05T00:00:00+02:00"),
        ("2019/04/05", "2019-04-05T00:00:00+02:00"),
        ("Sat, 05 Apr 2019 10:00:00 GMT", "2019-04-05T12:00:00+02:00"),
        ("2019-04-05 10:00 PM", "2019-04-05T22:00:00+02:00"),
        ("2019-04-05 10:00:00 +01", "2019-04-05T11:00:00+02:00"),
        ("2019-04-05 10:00:00 CEST", "2019-04-05T10:00:00+02:00"),
    ],
)
def test_dates_as_ruby_time_parse_reads_them(text: str, expected: str) -> None:
    parsed = rules.parse_time(text, PARIS)
    assert parsed is not None
    assert parsed.astimezone(PARIS).isoformat() == expected


@pytest.mark.parametrize("text", ["2019-04-05 25:00", "yesterday", "2019-02-30"])
def test_dates_ruby_rejects(text: str) -> None:
    assert rules.parse_time(text, PARIS) is None


def test_yaml_values_as_psych_gives_them() -> None:
    naive = datetime(2019, 4, 5, 23, 30)
    assert rules.front_matter_date(naive, PARIS).isoformat() == "2019-04-05T23:30:00+00:00"
    day = rules.front_matter_date(datetime(2019, 4, 5).date(), PARIS)
    assert day.isoformat() == "2019-04-05T00:00:00+02:00"


@pytest.mark.parametrize(
    ("text", "mode", "cased", "expected"),
    [
        ("hash-#1", "pretty", True, "hash-1"),
        ("escape-+ %20[]", "pretty", True, "escape-+-20"),
        ("The _config.yml file", "default", False, "the-config-yml-file"),
        ("The _config.yml file", "pretty", False, "the-_config.yml-file"),
        ("The _config.yml file", "raw", False, "the-_config.yml-file"),
        ("Café au lait", "default", False, "café-au-lait"),
        ("Café au lait", "latin", False, "cafe-au-lait"),
        ("Café au lait", "ascii", False, "caf-au-lait"),
        ("Hello World", "none", True, "Hello World"),
    ],
)
def test_slugify(text: str, mode: str, cased: bool, expected: str) -> None:
    assert rules.slugify(text, mode, cased) == expected


def test_titleize_capitalizes_each_word_as_ruby() -> None:
    assert rules.titleize("my-iOS-app") == "My Ios App"


@pytest.mark.parametrize(
    ("url", "slug", "expected"),
    [
        ("/2016/11/10/snyk.html", "snyk", "/2016/11/10/snyk"),
        ("/2016/11/10/snyk/", "snyk", "/2016/11/10/snyk"),
        ("/snyk.html", "snyk", "/snyk"),
        ("/en/news/2023/01/29/hash-1.html", "hash-#1", "/en/news/2023/01/29/hash-#1"),
    ],
)
def test_document_id_is_the_folder_and_the_slug(url: str, slug: str, expected: str) -> None:
    assert rules.document_id(url, slug) == expected


def test_categories_from_path() -> None:
    assert rules.categories_from_path("en/news/_posts/x.md") == ("en", "news")
    assert rules.categories_from_path("_posts/es/x.md") == ()
    assert rules.categories_from_path("_drafts/x.md") == ()


def test_defaults_most_specific_wins() -> None:
    sets = [
        {"scope": {"path": "", "type": "posts"}, "values": {"a": 1, "b": 1}},
        {"scope": {"path": "en"}, "values": {"a": 2}},
        {"scope": {"path": "en", "type": "post"}, "values": {"b": 3}},
        {"scope": {"path": "fr"}, "values": {"a": 9}},
        {"scope": {"path": "en/*/_posts"}, "values": {"c": 4}},
        {"scope": {"type": "pages"}, "values": {"d": 5}},
    ]
    assert rules.defaults_for(sets, "en/news/_posts/x.md") == {"a": 2, "b": 3, "c": 4}


def test_url_from_template() -> None:
    when = datetime(2023, 1, 29, tzinfo=PARIS)
    values = rules.placeholders(when, "Big Day!", ("Big News", "big news"), ".html", "", "b")
    assert rules.url_from("/:categories/:year/:title:output_ext", values) == (
        "/big%20news/2023/Big-Day!.html"
    )
    assert rules.url_from("/:year/:month_:day/:slug/", values) == "/2023/01_29/big-day/"
    assert rules.url_from("/a/../b/./:title", values) == "/a/b/Big-Day!"


def test_smartify_and_ial() -> None:
    assert smartify('It\'s "so" -- ok... <b title="x">"b"</b>') == (
        "It\u2019s \u201cso\u201d \u2013 ok\u2026 <b title=\"x\">\u201cb\u201d</b>"
    )
    assert parse_ial('.a .b #x data-k="v w" k2=v2 ref') == {
        "id": "x", "data-k": "v w", "k2": "v2", "class": "a b",
    }
    html = to_html("* TOC\n{:toc}\n\n{: .first}\nPara.\n\nNext\n{: #n}\n")
    assert "TOC" not in html
    assert '<p class="first">Para.</p>' in html and '<p id="n">Next</p>' in html
