"""Reading post files: a file or folder that cannot be read is reported by name.

Root reads everything, so unreadable files are made honestly in ways that bind
root too: a symlink to /proc/self/mem (open works, read fails with EIO), a
symlink loop, a posts "folder" that is a file. Permission tests are skipped as root.
"""

from __future__ import annotations

import logging
import os
import re
from datetime import UTC, datetime, timedelta, timezone, tzinfo
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from publisher.content import posts
from publisher.content import site as content
from publisher.content.posts import read_body
from publisher.content.readers import plain, values
from publisher.content.site import load_site
from publisher.errors import ContentError
from publisher.model import Problem

from .conftest import NOW, SiteDir

AS_ROOT = "runs as root, and root ignores file permissions"
UNREADABLE = "/proc/self/mem"  # a regular file whose read fails: EIO from offset 0


def test_unreadable_post_is_a_problem_naming_it(site: SiteDir) -> None:
    site.write_config("[content]\nfollow_symlinks = true  # the link leads out of the folder\n")
    site.post("2026-01-09-ok.md", "title: Fine")
    (site.posts / "2026-01-09-broken.md").symlink_to(UNREADABLE)
    loaded = load_site(site.config(), NOW)
    assert [p.title for p in loaded.posts] == ["Fine"]
    assert [(p.file, p.message, p.severity) for p in loaded.problems] == [
        ("2026-01-09-broken.md", "cannot read file: Input/output error", "error")
    ]


@pytest.mark.permissions
@pytest.mark.skipif(os.geteuid() == 0, reason=AS_ROOT)
def test_post_without_read_permission_is_a_problem(site: SiteDir) -> None:
    path = site.post("2026-01-09-secret.md", "title: Secret")
    path.chmod(0o000)
    loaded = load_site(site.config(), NOW)
    assert [(p.file, p.message) for p in loaded.problems] == [
        ("2026-01-09-secret.md", "cannot read file: Permission denied")
    ]


def test_post_unreadable_after_it_was_read_names_it_with_a_hint(site: SiteDir) -> None:
    path = site.post("2026-01-09-gone.md", "title: Gone")
    (post,) = load_site(site.config(), NOW).posts
    path.unlink()
    path.symlink_to(UNREADABLE)
    with pytest.raises(ContentError) as caught:
        read_body(post)
    assert caught.value.message == "2026-01-09-gone.md: cannot read file: Input/output error"
    assert str(path) in caught.value.hint and "publish again" in caught.value.hint


def test_posts_folder_that_cannot_be_listed_is_a_content_error(tmp_path: Path) -> None:
    not_a_folder = tmp_path / "content"
    not_a_folder.write_text("")
    with pytest.raises(ContentError) as caught:
        list(content.walk(not_a_folder))
    assert caught.value.message == f"posts folder {not_a_folder} cannot be read: Not a directory"
    assert caught.value.hint


@pytest.mark.permissions
@pytest.mark.skipif(os.geteuid() == 0, reason=AS_ROOT)
def test_unreadable_posts_folder_stops_before_emptying_the_feeds(site: SiteDir) -> None:
    site.post("2026-01-09-ok.md", "title: Fine")
    site.posts.chmod(0o000)
    try:
        with pytest.raises(ContentError, match="cannot be read: Permission denied"):
            load_site(site.config(), NOW)
    finally:
        site.posts.chmod(0o755)


def test_symlink_loop_is_skipped_with_a_warning_naming_it(site: SiteDir) -> None:
    site.post("2026-01-09-ok.md", "title: Fine")
    (site.posts / "loop.md").symlink_to("loop.md")
    (site.posts / "folder-loop").symlink_to("folder-loop")
    (site.posts / "here").symlink_to(".")
    loaded = load_site(site.config(), NOW)
    assert [p.title for p in loaded.posts] == ["Fine"]
    assert [(p.file, p.message, p.severity) for p in loaded.problems] == [
        ("folder-loop", "symbolic link loop: skipped", "warning"),
        ("here", "symbolic link to a folder already read (a loop?): not followed", "warning"),
        ("loop.md", "symbolic link loop: skipped", "warning"),
    ]


@pytest.mark.permissions
@pytest.mark.skipif(os.geteuid() == 0, reason=AS_ROOT)
def test_unreadable_subfolder_is_skipped_with_a_warning_naming_it(
    site: SiteDir, caplog: pytest.LogCaptureFixture
) -> None:
    site.post("2026-01-09-ok.md", "title: Fine")
    site.post("private/2026-01-09-hidden.md", "title: Hidden")
    (site.posts / "private").chmod(0o000)
    try:
        with caplog.at_level(logging.WARNING, logger="publisher.content.site"):
            loaded = load_site(site.config(), NOW)
    finally:
        (site.posts / "private").chmod(0o755)
    assert [p.title for p in loaded.posts] == ["Fine"]
    # Named once, as a problem of the load (its caller reports those), not logged too.
    assert [(p.file, p.message, p.severity) for p in loaded.problems] == [
        ("private", "cannot list folder: Permission denied; skipped", "warning")
    ]
    assert caplog.records == []


# -- reading the text fast, with the same result --------------------------------------

# The front matter pattern as it was before it was made faster (a lazy .*? with
# a line start tried at every character): the new one must split alike.
SLOW_FRONT_MATTER = re.compile(
    r"\A-{3,}[ \t]*(\n.*?)^(?:-{3,}|\.\.\.)[ \t]*(?:\n|\Z)", re.S | re.M
)


@settings(max_examples=500, deadline=None)
@given(st.lists(st.sampled_from(["---", "----", "...", "..", "- --", " ---", "--- ", "---\t",
                                 "... x", "a: b", "", " ", "\r", "x---"]), max_size=8),
       st.sampled_from(["\n", "", "\r\n"]))
def test_front_matter_splits_as_the_lazy_pattern_did(lines: list[str], end: str) -> None:
    text = "\n".join(lines) + end
    new, old = posts.FRONT_MATTER.match(text), SLOW_FRONT_MATTER.match(text)
    assert (new and (new.group(1), new.end())) == (old and (old.group(1), old.end()))


@settings(max_examples=500, deadline=None)
@given(st.text(alphabet=st.characters(exclude_categories=["Cs"])))
def test_illegal_characters_are_found_in_the_bytes_as_in_the_text(text: str) -> None:
    assert posts._has_illegal_xml(text.encode()) == bool(posts.ILLEGAL_XML.search(text))


@pytest.mark.parametrize(
    "char", ["\x00", "\x08", "\x0b", "\x0c", "\x0e", "\x1f", "\ufffe", "\uffff"]
)
def test_each_illegal_character_is_found_in_the_bytes(char: str) -> None:
    assert posts._has_illegal_xml(f"a\n{char}b".encode())
    assert not posts._has_illegal_xml("a\tb\r\n\ufffd\uefbf\u00ef".encode())


def test_read_text_cleans_as_before(tmp_path: Path) -> None:
    """Byte order mark and CRLF removed, control characters removed with a warning a line."""
    path = tmp_path / "post.md"
    path.write_bytes("\ufeff---\r\ntitle: a\x07b\r\n---\r\nc\ufffed\nx\ry\n".encode())
    result = posts.read_text(path, "post.md")
    assert isinstance(result, posts._Text)
    assert result.text == "---\ntitle: ab\n---\ncd\nx\ry\n"
    message = "removed control characters not allowed in XML"
    assert result.problems == [
        Problem("post.md", f"{message} (U+0007)", line=2, severity="warning"),
        Problem("post.md", f"{message} (U+FFFE)", line=4, severity="warning"),
    ]


def test_read_text_reads_a_file_larger_than_one_read(tmp_path: Path) -> None:
    path = tmp_path / "big.md"
    text = "---\ntitle: Big\n---\n" + "".join(f"line {i} é\n" for i in range(50_000))
    path.write_text(text, encoding="utf-8")
    assert path.stat().st_size > 3 * posts.READ_CHUNK
    result = posts.read_text(path, "big.md")
    assert isinstance(result, posts._Text) and result.text == text


def test_read_text_of_a_folder_is_a_problem(tmp_path: Path) -> None:
    assert posts.read_text(tmp_path, "x.md") == Problem("x.md", "cannot read file: Is a directory")


@settings(max_examples=500, deadline=None)
@given(st.text(alphabet=st.sampled_from(
    ["a", "\n", "\t", "\x01", "\x1f", "\ufffd", "\ufffe", "\uffff", "\uffef", "\uefbf",
     "\u00ef", "\u00bf", "\u00be", "\uff0c", "\ufeff", "経", "\U0001f525"])))
def test_noncharacters_are_found_among_their_neighbours(text: str) -> None:
    """U+FFFE and U+FFFF among the characters whose UTF-8 shares bytes with them."""
    assert posts._has_illegal_xml(text.encode()) == bool(posts.ILLEGAL_XML.search(text))


# -- building the Post with less work, with the same result ----------------------------


def offsets() -> st.SearchStrategy[timezone]:
    return st.integers(-(24 * 60 - 1), 24 * 60 - 1).map(
        lambda minutes: timezone(timedelta(minutes=minutes))
    )


ZONES = [ZoneInfo("Pacific/Kiritimati"), ZoneInfo("Pacific/Niue"), ZoneInfo("Europe/London")]


@settings(max_examples=1000, deadline=None)
@given(
    st.one_of(
        st.datetimes(min_value=datetime(1, 1, 1), max_value=datetime(1, 1, 4)),
        st.datetimes(min_value=datetime(1, 12, 30), max_value=datetime(2, 1, 3)),
        st.datetimes(min_value=datetime(9998, 12, 29), max_value=datetime(9999, 1, 3)),
        st.datetimes(min_value=datetime(9999, 12, 28), max_value=datetime(9999, 12, 31, 23, 59)),
        st.datetimes(),
    ),
    st.one_of(offsets(), st.sampled_from(ZONES)),
)
def test_in_range_answers_as_comparing(naive: datetime, zone: tzinfo) -> None:
    """Years 2 to 9998 are answered without comparing: the offset is under a day."""
    when = naive.replace(tzinfo=zone)
    assert values.in_range(when) == (values.EARLIEST <= when <= values.LATEST)


@pytest.mark.parametrize("minutes", [-(24 * 60 - 1), -1, 0, 1, 24 * 60 - 1])
def test_in_range_at_the_ends_of_the_years_it_does_not_compare(minutes: int) -> None:
    zone = timezone(timedelta(minutes=minutes))
    for when in (datetime(2, 1, 1, tzinfo=zone), datetime(9998, 12, 31, 23, 59, 59, 999999, zone)):
        assert values.in_range(when) and values.EARLIEST <= when <= values.LATEST


PATH_PIECES = ["a", "b.md", "c.", ".d", "..", ".", "/", "//", "x.y.md", " "]


@settings(max_examples=2000, deadline=None)
@given(st.lists(st.sampled_from(PATH_PIECES), min_size=1, max_size=8).map("".join))
def test_a_path_str_reads_as_its_path(text: str) -> None:
    """The Post's path, stem and suffix from a str are what Path() gave."""
    path = posts._as_path_str(text)
    assert path == str(Path(text))
    if Path(text).name:  # (a file: "." or "/" is never read as a post)
        assert plain._stem_and_suffix(path) == (Path(text).stem, Path(text).suffix)


def test_read_post_of_a_str_is_that_of_its_path(site: SiteDir) -> None:
    site.post("2026-01-09-plain.md", "title: Plain\nimage: a.png")
    site.post("news/2026-01-09-in-a-folder.markdown", "title: In a folder")
    site.post("2026-01-09-no-title.md", "date: 2026-01-09\nid: javascript:x")
    config = site.config()
    root = str(site.posts)
    names = ["2026-01-09-plain.md", "news/2026-01-09-in-a-folder.markdown",
             "2026-01-09-no-title.md"]
    # As the walk gives them, and spelt in ways Path() would rewrite.
    spellings = [f"{root}/{{}}", f"{root}//{{}}", f"{root}/./{{}}", f"{root}/news/../{{}}"]
    for name in names:
        for spelling in spellings:
            text = spelling.format(name)
            from_str: list[Problem] = []
            from_path: list[Problem] = []
            post = posts.read_post(text, site.posts, config, from_str, name=name)
            assert post is not None
            assert post == posts.read_post(Path(text), site.posts, config, from_path, name=name)
            assert from_str == from_path
            assert post.path == str(Path(text))


@pytest.mark.parametrize("pattern", [
    "/:categories/:year/:month/:day/:title:output_ext", ":title", ":categories/:title",
    "/:categories/:title", "//:title//", "/a//b/:title", ":categories", "", "/", ":year:title",
    "pretty", "none", "/:categories//:categories/",
])
@pytest.mark.parametrize("categories", [(), ("News",), ("News", "a b")])
def test_permalink_slashes_as_before(
    site: SiteDir, pattern: str, categories: tuple[str, ...]
) -> None:
    """A "/" before the path and every run of slashes made one, as `"/" + path` then
    collapsing it did, without the collapsing when the pattern starts with "/"."""
    config = site.config()
    when = datetime(2026, 1, 9, tzinfo=UTC)
    got = plain._permalink({"permalink": pattern}, config, when, "a-post", categories)
    expanded = pattern if pattern.strip() else config.content.permalink
    expanded = plain.PLACEHOLDER.sub(
        lambda m: plain.PLACEHOLDERS[m.group(1)](when, "a-post", categories),
        plain.PERMALINK_STYLES.get(expanded, expanded),
    )
    assert got == plain.SLASHES.sub("/", "/" + expanded)


@pytest.mark.parametrize("permalink", [
    "/javascript:alert(document.domain)/./x",
    "javascript:alert(1)/../y",
    "data:text/html,hi/./z",
    "/mailto:a@example.org/.",
])
def test_a_permalink_with_a_scheme_and_dot_segments_stays_on_the_site(
    site: SiteDir, permalink: str
) -> None:
    """Dot segments are resolved with urljoin, which would take `javascript:x/./y`
    for a URL of its own and publish it as the post's link and id."""
    site.post("2026-01-09-trap.md", f"title: Trap\npermalink: {permalink}")
    (post,) = load_site(site.config(), NOW).posts
    base = site.config().site_url
    assert post.url.startswith(base), post.url
    assert post.key == post.url
