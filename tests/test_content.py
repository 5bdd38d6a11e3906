from __future__ import annotations

import os
from datetime import UTC, datetime, timedelta, timezone
from zoneinfo import ZoneInfo

import pytest

from publisher.content.readers.values import parse_date
from publisher.content.site import listing, load_site
from publisher.errors import ContentError

from .conftest import NOW, SiteDir

PARIS = ZoneInfo("Europe/Paris")
PLUS_ONE = timezone(timedelta(hours=1))
MINUS_530 = timezone(-timedelta(hours=5, minutes=30))


def load(site: SiteDir, now: datetime = NOW, future: bool = False):
    return load_site(site.config(), now, include_future=future)


def good(site: SiteDir, name: str = "2026-01-01-good.md") -> None:
    site.post(name, "title: Good post\ndate: 2026-01-01 09:00:00")


def messages(result) -> list[str]:
    return [str(p) for p in result.problems]


def test_sample_post_reads_with_jekyll_semantics(site: SiteDir) -> None:
    site.add_sample()
    result = load(site)
    assert result.problems == ()
    (post,) = result.posts
    assert post.title.startswith("Breaking: As Trump targets Venezuela")
    # Naive date in front matter takes the site timezone.
    assert post.date == datetime(2025, 12, 13, 0, 35, 21, tzinfo=PARIS)
    assert post.author is not None and post.author.name == "badely"
    assert post.categories == ("News",)
    assert post.tags == ()
    assert post.url == (
        "https://example.org/blog/news/2025/12/13/russia-china-venezuela-support.html"
    )
    assert post.key == post.url
    assert post.image is not None
    assert post.image.url == (
        "https://example.org/blog/assets/images/ac9cf7ebc39f46c3e1a61ed026c27581.jpg"
    )
    assert post.excerpt is not None and post.excerpt.startswith("Experts say")


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("2025-12-13 00:35:21 +0100", datetime(2025, 12, 13, 0, 35, 21, tzinfo=PLUS_ONE)),
        ("2025-12-13T00:35:21Z", datetime(2025, 12, 13, 0, 35, 21, tzinfo=UTC)),
        ("2025-12-13 08:00", datetime(2025, 12, 13, 8, 0, tzinfo=PARIS)),
        ("2025-12-13", datetime(2025, 12, 13, tzinfo=PARIS)),
        ("2025-12-13 00:35:21 -05:30", datetime(2025, 12, 13, 0, 35, 21, tzinfo=MINUS_530)),
    ],
)
def test_date_strings(value: str, expected: datetime) -> None:
    assert parse_date(value, PARIS) == expected


def test_date_from_file_name_and_yaml_forms(site: SiteDir) -> None:
    site.post("2026-01-02-from-name.md", "title: From name")
    site.post("a.md", "title: Yaml datetime\ndate: 2026-01-03 10:00:00 +02:00")
    site.post("b.md", "title: Yaml date\ndate: 2026-01-04")
    result = load(site)
    dates = {p.title: p.date for p in result.posts}
    assert dates["From name"] == datetime(2026, 1, 2, tzinfo=PARIS)
    assert dates["Yaml datetime"] == datetime(2026, 1, 3, 8, 0, tzinfo=UTC)
    assert dates["Yaml date"] == datetime(2026, 1, 4, tzinfo=PARIS)


def test_front_matter_keys_as_jekyll_writes_them(site: SiteDir) -> None:
    site.post(
        "2026-01-05-keys.md",
        """
        title: Keys
        date: 2026-01-05 10:00:00
        last_modified_at: 2026-01-06 11:00:00
        author: {name: Ana, email: ana@example.org, uri: "https://ana.example"}
        categories: Travel Food
        tags: [one, two, one]
        image: {path: /img/pic.jpg, alt: "A pic"}
        id: urn:uuid:1234
        permalink: /:year/:title/
        custom_key: kept and ignored
        """,
    )
    (post,) = load(site).posts
    assert post.updated == datetime(2026, 1, 6, 11, 0, tzinfo=PARIS)
    assert post.author is not None and post.author.email == "ana@example.org"
    assert post.categories == ("Travel", "Food")
    assert post.tags == ("one", "two")
    assert post.image is not None
    assert post.image.url == "https://example.org/blog/img/pic.jpg"
    assert post.image.alt == "A pic"
    assert post.key == "urn:uuid:1234"
    assert post.url == "https://example.org/blog/2026/keys/"


def test_site_author_is_the_default(site: SiteDir) -> None:
    good(site)
    (post,) = load(site).posts
    assert post.author is not None and post.author.name == "Site Author"


def test_future_drafts_and_unpublished(site: SiteDir) -> None:
    good(site)
    site.post("2026-02-01-future.md", "title: Future\ndate: 2026-02-01 08:00:00")
    site.post("2026-01-02-draft.md", "title: Draft\ndraft: true")
    site.post("2026-01-03-hidden.md", "title: Hidden\npublished: false")
    result = load(site)
    assert [p.title for p in result.posts] == ["Good post"]
    assert [p.title for p in result.scheduled] == ["Future"]
    assert result.next_due == datetime(2026, 2, 1, 8, 0, tzinfo=PARIS)
    assert result.hidden == 2
    assert [p.title for p in load(site, future=True).posts] == ["Future", "Good post"]


def test_discovery_rules(site: SiteDir) -> None:
    good(site)
    site.post("_posts/2026-01-02-jekyll-folder.md", "title: In _posts")
    site.post("_drafts/2026-01-02-draft.md", "title: Drafts folder")
    site.post(".hidden/2026-01-02-x.md", "title: Hidden folder")
    site.post("_private.md", "title: Underscore file\ndate: 2026-01-01")
    site.post("nested/deeper/2026-01-03-nested.markdown", "title: Nested")
    site.post("2026-01-04-text.txt", "title: Text")
    site.post("2026-01-04-page.html", "title: Html")
    site.post("notes.md", None, body="Just notes, no front matter.\n")
    site.post("image.png", "title: not a post extension")
    titles = {p.title for p in load(site).posts}
    assert titles == {"Good post", "In _posts", "Nested", "Text", "Html"}


def test_listing_fingerprint_follows_every_post_file_and_nothing_else(site: SiteDir) -> None:
    good(site)
    first = listing(site.posts)
    assert listing(site.posts).fingerprint == first.fingerprint
    site.post("_drafts/2026-01-02-draft.md", "title: Drafts folder")
    site.post("image.png", "title: not a post extension")
    assert listing(site.posts).fingerprint == first.fingerprint
    path = site.posts / "2026-01-01-good.md"
    st = path.stat()
    os.utime(path, ns=(st.st_atime_ns, st.st_mtime_ns - 1))
    touched = listing(site.posts)
    assert touched.fingerprint != first.fingerprint
    site.post("2026-01-03-new.md", "title: New")
    added = listing(site.posts)
    assert added.fingerprint not in (first.fingerprint, touched.fingerprint)
    assert not added.settled  # just written: its mtime could still lie


# -- bad input: a clear message, and the other posts still publish ----------


def test_malformed_yaml_names_file_and_line(site: SiteDir) -> None:
    good(site)
    site.post("2026-01-02-bad.md", 'title: "unclosed\ndate: 2026-01-02\ntags: [a, b')
    result = load(site)
    assert [p.title for p in result.posts] == ["Good post"]
    (problem,) = result.errors
    assert problem.file == "2026-01-02-bad.md"
    assert problem.line is not None and 2 <= problem.line <= 5
    assert "not valid YAML" in problem.message


def test_missing_title_uses_file_name_with_a_warning(site: SiteDir) -> None:
    good(site)
    site.post("2026-01-02-my-untitled-post.md", "date: 2026-01-02")
    result = load(site)
    assert {p.title for p in result.posts} == {"Good post", "My untitled post"}
    (warning,) = result.warnings
    assert warning.file == "2026-01-02-my-untitled-post.md"
    assert "no title" in warning.message


def test_unparseable_date(site: SiteDir) -> None:
    good(site)
    site.post("x.md", "title: X\ndate: next tuesday")
    result = load(site)
    assert [p.title for p in result.posts] == ["Good post"]
    (problem,) = result.errors
    assert problem.file == "x.md" and problem.line == 3
    assert "'next tuesday' is not a date" in problem.message


def test_no_date_at_all(site: SiteDir) -> None:
    good(site)
    site.post("undated.md", "title: X")
    (problem,) = load(site).errors
    assert "no date" in problem.message and problem.file == "undated.md"


def test_non_utf8_bytes(site: SiteDir) -> None:
    good(site)
    site.raw("2026-01-02-latin1.md", "---\ntitle: Caf\u00e9\n---\nline\n".encode("latin-1"))
    result = load(site)
    assert [p.title for p in result.posts] == ["Good post"]
    (problem,) = result.errors
    assert problem.line == 2
    assert "not UTF-8" in problem.message and "0xe9" in problem.message


def test_binary_file(site: SiteDir) -> None:
    good(site)
    site.raw("2026-01-02-binary.md", b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR" + bytes(range(256)))
    result = load(site)
    assert [p.title for p in result.posts] == ["Good post"]
    (problem,) = result.errors
    assert "binary" in problem.message


def test_empty_file(site: SiteDir) -> None:
    good(site)
    site.raw("2026-01-02-empty.md", b"")
    result = load(site)
    assert [p.title for p in result.posts] == ["Good post"]
    (problem,) = result.problems
    assert problem.severity == "warning" and "empty file" in problem.message


def test_control_characters_are_stripped_with_a_warning(site: SiteDir) -> None:
    good(site)
    site.post("2026-01-02-ctrl.md", "title: Bell\x07 and\x1b escape", body="Body\x0c text\n")
    result = load(site)
    titles = {p.title for p in result.posts}
    assert titles == {"Good post", "Bell and escape"}
    lines = sorted(p.line for p in result.warnings if p.file == "2026-01-02-ctrl.md")
    assert lines == [2, 4]
    assert all("U+00" in p.message for p in result.warnings)


def test_duplicate_id_and_permalink_name_both_files(site: SiteDir) -> None:
    site.post("2026-01-01-a.md", "title: A\nid: same")
    site.post("2026-01-02-b.md", "title: B\nid: same")
    site.post("2026-01-03-c.md", "title: C\npermalink: /fixed/")
    site.post("2026-01-04-d.md", "title: D\npermalink: /fixed/")
    result = load(site)
    # The older post keeps its identity; the newer one is skipped.
    assert sorted(p.title for p in result.posts) == ["A", "C"]
    found = {p.file: p.message for p in result.errors}
    assert "already used by 2026-01-01-a.md" in found["2026-01-02-b.md"]
    assert "id 'same'" in found["2026-01-02-b.md"]
    assert "already used by 2026-01-03-c.md" in found["2026-01-04-d.md"]
    assert "permalink" in found["2026-01-04-d.md"]


def test_title_that_is_a_number(site: SiteDir) -> None:
    site.post("2026-01-02-n.md", "title: 2024")
    (post,) = load(site).posts
    assert post.title == "2024"


def test_newline_and_script_in_title(site: SiteDir) -> None:
    site.post("2026-01-02-n.md", 'title: "Line one\\nline two <script>alert(1)</script>"')
    (post,) = load(site).posts
    # Kept as plain text on one line; escaping is each output's job.
    assert post.title == "Line one line two <script>alert(1)</script>"


def test_title_that_is_a_list_is_an_error(site: SiteDir) -> None:
    good(site)
    site.post("2026-01-02-l.md", "title: [a, b]")
    result = load(site)
    (problem,) = result.errors
    assert problem.line == 2 and "title must be text" in problem.message


def test_huge_post_still_reads(site: SiteDir) -> None:
    good(site)
    site.post("2026-01-02-huge.md", "title: Huge", body="word " * 600_000)
    result = load(site)
    assert {p.title for p in result.posts} == {"Good post", "Huge"}
    huge = next(p for p in result.posts if p.title == "Huge")
    assert huge.size > 3_000_000


def test_missing_posts_folder(site: SiteDir) -> None:
    site.write_config('[content]\nposts = "nowhere"\n')
    with pytest.raises(ContentError) as info:
        load(site)
    assert "nowhere" in str(info.value) and "[content] posts" in info.value.hint


def test_url_special_characters_in_slugs_are_escaped(site: SiteDir) -> None:
    site.post("2026-01-01-c#-tips.md", "title: C sharp")
    site.post("2026-01-02-why?.md", "title: Why")
    site.post("2026-01-03-100%-done.md", "title: Done")
    site.post("2026-01-04-café.md", "title: Cafe\ncategories: [R&D, Q?A]")
    urls = {p.title: p.url for p in load(site).posts}
    base = "https://example.org/blog/"
    assert urls["C sharp"] == base + "2026/01/01/c%23-tips.html"
    assert urls["Why"] == base + "2026/01/02/why%3F.html"
    assert urls["Done"] == base + "2026/01/03/100%25-done.html"
    assert urls["Cafe"] == base + "r&d/q%3Fa/2026/01/04/caf%C3%A9.html"


# -- files that look like posts are never dropped without a word ----------------

HUGO_TOML = '+++\ntitle = "Hugo post"\ndate = 2026-01-02T10:00:00Z\n+++\n\nBody.\n'
HUGO_JSON = '{\n  "title": "JSON post",\n  "date": "2026-01-03"\n}\n\nBody.\n'
PELICAN = "Title: Pelican post\nDate: 2026-01-04 10:20\nTags: a, b\n\nBody.\n"
BARE_YAML = "title: No dashes\ndate: 2026-01-05\n\nBody.\n"


def test_posts_in_formats_not_read_are_named_with_the_fix(site: SiteDir) -> None:
    """Hugo's TOML and JSON front matter, Pelican's header lines, YAML without its
    `---` lines: each is a warning naming the file and what to do (publish goes
    on with the others), marked `unread` so that `check` fails on it."""
    good(site)
    site.post("post/hugo.md", None, body=HUGO_TOML)
    site.post("post/json.md", None, body=HUGO_JSON)
    site.post("pelican.md", None, body=PELICAN)
    site.post("2026-01-05-bare.md", None, body=BARE_YAML)
    site.post("notes.md", None, body="Just notes: no front matter.\n")  # not a post: silent
    site.post("html.html", None, body="{% include head.html %}\n<p>x</p>\n")  # nor this
    result = load(site)
    assert [p.title for p in result.posts] == ["Good post"]
    found = {p.file: p for p in result.problems}
    assert sorted(found) == ["2026-01-05-bare.md", "pelican.md", "post/hugo.md", "post/json.md"]
    assert all(p.severity == "warning" and p.unread and p.line == 1 for p in found.values())
    assert found["post/hugo.md"].message == (
        "front matter opened by `+++` is TOML (Hugo's), which publisher does not read: "
        "not published; write it as YAML between `---` lines "
        '(`title = "A"` becomes `title: "A"`)'
    )
    assert found["post/json.md"].message == (
        "front matter in `{ }` is JSON (Hugo's), which publisher does not read: "
        "not published; write it as YAML between `---` lines"
    )
    assert found["pelican.md"].message == (
        "header lines `Title:`, `Date:`, `Tags:` (Pelican's or MultiMarkdown's) are not "
        "read as front matter: not published; put a line `---` before and after them, "
        "and write the keys in lower case (`title:`, `date:`, `tags:`)"
    )
    assert found["2026-01-05-bare.md"].message == (
        "header lines `title:`, `date:` are not read as front matter: not published; "
        "put a line `---` before and after them"
    )


def test_a_capitalised_key_names_the_key_it_meant(site: SiteDir) -> None:
    site.post("2026-01-06-caps.md", "Title: Capital\nTags: [x]\nlayout: post")
    result = load(site)
    (post,) = result.posts
    assert (post.title, post.tags) == ("Caps", ())  # not read: Jekyll's keys are lower case
    assert messages(result) == [
        "2026-01-06-caps.md:2: warning: `Title:` is not read (front matter keys are lower "
        "case): did you mean `title`? The title is 'Caps', from the file name, until then",
        "2026-01-06-caps.md:3: warning: `Tags:` is not read (front matter keys are lower "
        "case): did you mean `tags`?",
    ]
