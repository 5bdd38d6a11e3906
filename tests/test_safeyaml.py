"""Hostile front matter: a message and the post skipped (or repaired), never a crash.

Each case is one post among good ones; the good ones must publish, and the
feeds must be valid (tests/feedcheck.py), whatever the bad one holds.
"""

from __future__ import annotations

import feedparser
import pytest
import yaml

from publisher.app.pipeline import build
from publisher.content import safeyaml

from .conftest import NOW, SiteDir
from .feedcheck import check

# "Billion laughs": 9^7 = 4.8 million strings from 7 lines.
BOMB = "\n".join(
    [
        'l0: &l0 ["lol", "lol", "lol", "lol", "lol", "lol", "lol", "lol", "lol"]',
        *(
            f"l{i}: &l{i} [{', '.join([f'*l{i - 1}'] * 9)}]"
            for i in range(1, 7)
        ),
    ]
)
BOMB_FIELDS = [
    "excerpt: *l6",
    "date: *l6",
    "id: *l6",
    "author: {name: *l6}",
    "slug: *l6",
    "image: {path: a.png, alt: *l6}",
    "excerpt_separator: *l6",
    "title: *l6",
    "tags: *l6",
    "categories: [*l6]",
    "permalink: *l6",
]


def feed_titles(site: SiteDir) -> list[str]:
    return [e.title for e in feedparser.parse(str(site.out / "feed.xml")).entries]


def publish_one_bad(site: SiteDir, front: str) -> tuple[list[str], list[str]]:
    """Publish a good post and a bad one: (published titles, problem lines)."""
    site.post("2026-01-02-good.md", "title: Good\ndate: 2026-01-02 09:00")
    site.post("2026-01-03-bad.md", front)
    result = build(site.config(), NOW)
    check(site.out / "feed.xml")
    titles = feed_titles(site)
    check(site.out / "rss.xml")
    check(site.out / "feed.json")
    return titles, [str(p) for p in result.summary.problems]


@pytest.mark.parametrize("field", BOMB_FIELDS)
def test_alias_bomb_in_any_field_skips_the_post(site: SiteDir, field: str) -> None:
    titles, problems = publish_one_bad(site, f"{BOMB}\ntitle: Bomb\n{field}")
    assert titles == ["Good"]
    (problem,) = problems
    assert problem.startswith("2026-01-03-bad.md:")
    assert "aliases (*name) expand this value to more than 100,000 values" in problem


def test_modest_aliases_are_fine(site: SiteDir) -> None:
    front = "common: &tags [a, b, c]\ntitle: Reuse\ndate: 2026-01-03\ntags: *tags"
    titles, problems = publish_one_bad(site, front)
    assert problems == []
    assert titles == ["Reuse", "Good"]


def test_an_alias_inside_its_own_value_is_refused(site: SiteDir) -> None:
    titles, problems = publish_one_bad(site, "title: Loop\nexcerpt: &x [a, *x]")
    assert titles == ["Good"]
    assert "refers to the value that contains it" in problems[0]


def test_huge_integer_skips_the_post_naming_the_line(site: SiteDir) -> None:
    digits = "9" * 5000
    for key in ("id", "title", "excerpt", "slug"):
        titles, problems = publish_one_bad(site, f"title: Big\ndate: 2026-01-03\n{key}: {digits}")
        assert titles == ["Good"], key
        assert problems == [
            "2026-01-03-bad.md:4: error: front matter is not valid YAML: a number of "
            "5,000 digits is too large (at most 100); put it in quotes if it is text"
        ], key


def test_hex_integer_too_long_to_print_is_refused_too() -> None:
    with pytest.raises(yaml.YAMLError, match="too large"):
        safeyaml.Handler().load("n: 0x" + "f" * 4000)


@pytest.mark.parametrize(
    "escaped, code",
    [(r"a\eb", "U+001B"), (r"a\x07b", "U+0007"), (r"a\uFFFEb", "U+FFFE")],
)
def test_control_characters_written_as_escapes_are_removed_with_a_warning(
    site: SiteDir, escaped: str, code: str
) -> None:
    front = (
        f'title: "{escaped}"\ndate: 2026-01-03\nauthor: "{escaped}"\n'
        f'categories: ["{escaped}"]\nexcerpt: "{escaped}"'
    )
    titles, problems = publish_one_bad(site, front)
    assert titles == ["ab", "Good"]  # published, repaired
    message = f"warning: removed control characters not allowed in XML ({code})"
    assert problems == [f"2026-01-03-bad.md:{n}: {message}" for n in (2, 4, 5, 6)]


def test_a_lone_surrogate_escape_never_reaches_a_feed(site: SiteDir) -> None:
    # libyaml refuses the escape (an error); PyYAML's own loader accepts it
    # and the bounded loader removes it (a warning). Either way: valid feeds.
    titles, problems = publish_one_bad(site, 'title: "a\\ud800b"\ndate: 2026-01-03')
    assert titles in (["Good"], ["ab", "Good"])
    assert len(problems) == 1


@pytest.mark.parametrize(
    "value",
    [
        "2026-01-03 10:00:00 +99:00",  # YAML timestamp with an impossible offset
        "2026-02-30",  # YAML timestamp, no such day
        '"2026-01-03 10:00 +9900"',  # a string, parsed by readers.values.parse_date
    ],
)
def test_impossible_dates_are_an_error_not_a_crash(site: SiteDir, value: str) -> None:
    titles, problems = publish_one_bad(site, f"title: When\ndate: {value}")
    assert titles == ["Good"]
    (problem,) = problems
    assert problem.startswith("2026-01-03-bad.md:3: error: ")


@pytest.mark.parametrize(
    "value, zone",
    [
        ("0001-01-01 00:00:00 +0100", "UTC"),
        ("9999-12-31 23:00:00 -0100", "UTC"),
        ("0001-01-01", "Asia/Tokyo"),
        ('"0001-01-01 00:00 +01:00"', "UTC"),
    ],
)
def test_dates_at_the_ends_of_time_are_an_error(site: SiteDir, value: str, zone: str) -> None:
    site.write_config(text=site.config_text().replace('"Europe/Paris"', f'"{zone}"'))
    titles, problems = publish_one_bad(site, f"title: Ancient\ndate: {value}")
    assert titles == ["Good"]
    (problem,) = problems
    assert "is out of range: a post must be dated between the years 1 and 9999" in problem


def test_file_name_date_at_the_end_of_time_is_an_error(site: SiteDir) -> None:
    site.write_config(text=site.config_text().replace('"Europe/Paris"', '"Asia/Tokyo"'))
    site.post("0001-01-01-first.md", "title: First")
    site.post("2026-01-02-good.md", "title: Good")
    result = build(site.config(), NOW)
    assert feed_titles(site) == ["Good"]
    assert [str(p) for p in result.summary.problems] == [
        "0001-01-01-first.md: error: date 0001-01-01T00:00:00+09:18:59 is out of range: "
        "a post must be dated between the years 1 and 9999 in every timezone"
    ]


def test_last_modified_out_of_range_is_ignored_with_a_warning(site: SiteDir) -> None:
    titles, problems = publish_one_bad(
        site, "title: Edited\ndate: 2026-01-03\nlast_modified_at: 9999-12-31 23:00:00 -0100"
    )
    assert titles == ["Edited", "Good"]
    assert [p.split(": ", 2)[1] for p in problems] == ["warning"]


def test_front_matter_over_the_limit_is_refused_before_parsing(site: SiteDir) -> None:
    big = "title: Big\ndate: 2026-01-03\nexcerpt: |\n" + "  word\n" * 200_000
    titles, problems = publish_one_bad(site, big)
    assert titles == ["Good"]
    assert problems == [
        "2026-01-03-bad.md: error: front matter is not valid YAML: front matter is "
        f"{len(big) + 1:,} characters long, more than 1,000,000"
    ]
