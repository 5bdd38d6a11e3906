"""Reading post files: a file or folder that cannot be read is reported by name.

Root reads everything, so unreadable files are made honestly in ways that bind
root too: a symlink to /proc/self/mem (open works, read fails with EIO), a
symlink loop, a posts "folder" that is a file. Permission tests are skipped as root.
"""

from __future__ import annotations

import logging
import os
from pathlib import Path

import pytest

from publisher import content
from publisher.content import load_site
from publisher.errors import ContentError
from publisher.posts import read_body

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


@pytest.mark.skipif(os.geteuid() == 0, reason=AS_ROOT)
def test_unreadable_subfolder_is_skipped_with_a_warning_naming_it(
    site: SiteDir, caplog: pytest.LogCaptureFixture
) -> None:
    site.post("2026-01-09-ok.md", "title: Fine")
    site.post("private/2026-01-09-hidden.md", "title: Hidden")
    (site.posts / "private").chmod(0o000)
    try:
        with caplog.at_level(logging.WARNING, logger="publisher.content"):
            loaded = load_site(site.config(), NOW)
    finally:
        (site.posts / "private").chmod(0o755)
    assert [p.title for p in loaded.posts] == ["Fine"]
    assert [r.getMessage() for r in caplog.records] == [
        f"{site.posts / 'private'}: cannot list folder: Permission denied"
    ]
