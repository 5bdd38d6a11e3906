"""The posts-folder walk: links, loops, one file once, odd names."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import feedparser
import pytest

from publisher.app.pipeline import build
from publisher.content import site as content
from publisher.content.readers.values import FORMATS
from publisher.content.site import load_site
from publisher.service.watch import Watcher

from .conftest import NOW, SiteDir

CLI = [sys.executable, "-c", "from publisher.cli import main; main()"]


def titles(site: SiteDir) -> list[str]:
    return sorted(e.title for e in feedparser.parse(str(site.out / "feed.xml")).entries)


def problems(site: SiteDir) -> list[tuple[str, str]]:
    return [(p.file, p.message) for p in load_site(site.config(), NOW).problems]


def outside_post(tmp_path: Path) -> Path:
    folder = tmp_path / "private"
    folder.mkdir()
    path = folder / "2026-01-05-diary.md"
    path.write_text("---\ntitle: Private diary\n---\nMy secrets.\n", encoding="utf-8")
    return path


def test_every_post_format_is_walked(site: SiteDir) -> None:
    for suffix in FORMATS:
        site.post(f"2026-01-02-a{suffix}", f"title: {suffix}")
    site.post("2026-01-02-b.rst", "title: not a post")
    names = sorted(name for name, _path, _st in content.walk(site.posts))
    assert names == sorted(f"2026-01-02-a{suffix}" for suffix in FORMATS)


def test_links_out_of_the_posts_folder_are_not_followed(site: SiteDir, tmp_path: Path) -> None:
    diary = outside_post(tmp_path)
    site.post("2026-01-02-good.md", "title: Good")
    (site.posts / "2026-01-05-diary.md").symlink_to(diary)
    (site.posts / "notes").symlink_to(diary.parent)
    result = build(site.config(), NOW)
    assert titles(site) == ["Good"]
    assert "secrets" not in (site.out / "feed.xml").read_text()
    why = (
        "symbolic link to a file outside the posts folder: not followed "
        "(set [content] follow_symlinks = true in publisher.toml to publish it)"
    )
    assert [(p.file, p.message, p.severity) for p in result.summary.problems] == [
        ("2026-01-05-diary.md", why, "warning"),
        ("notes", why, "warning"),
    ]


def test_follow_symlinks_publishes_outside_files_once(site: SiteDir, tmp_path: Path) -> None:
    diary = outside_post(tmp_path)
    site.write_config("[content]\nfollow_symlinks = true\n")
    site.post("2026-01-02-good.md", "title: Good")
    (site.posts / "2026-01-05-diary.md").symlink_to(diary)
    (site.posts / "notes").symlink_to(diary.parent)  # the same file again
    result = build(site.config(), NOW)
    assert titles(site) == ["Good", "Private diary"]
    assert [(p.file, p.message) for p in result.summary.problems] == [
        ("notes/2026-01-05-diary.md",
         "the same file as 2026-01-05-diary.md: published once, under that name"),
    ]


def test_links_inside_the_folder_are_followed_and_never_publish_twice(site: SiteDir) -> None:
    site.post("2026-01-02-good.md", "title: Good")
    site.post("archive/2026-01-03-old.md", "title: Old")
    site.post("_drafts/2026-01-04-draft.md", "title: Linked draft")
    (site.posts / "2026-01-01-alias.md").symlink_to("2026-01-02-good.md")  # sorts first
    (site.posts / "again").symlink_to("archive")
    (site.posts / "2026-01-04-draft.md").symlink_to("_drafts/2026-01-04-draft.md")
    os.link(site.posts / "archive/2026-01-03-old.md", site.posts / "2026-01-03-hard.md")
    build(site.config(), NOW)
    # The draft is published through its link; the real names win over links.
    assert titles(site) == ["Good", "Linked draft", "Old"]
    names = [name for name, _path, _st in content.walk(site.posts)]
    assert names == ["2026-01-02-good.md", "2026-01-03-hard.md", "2026-01-04-draft.md"]


def test_loops_are_warnings_and_the_walk_ends(site: SiteDir) -> None:
    site.post("sub/2026-01-02-good.md", "title: Good")
    (site.posts / "sub" / "up").symlink_to("..")
    (site.posts / "self").symlink_to("self")
    (site.posts / "a.md").symlink_to("b.md")
    (site.posts / "b.md").symlink_to("a.md")
    assert problems(site) == [
        ("a.md", "symbolic link loop: skipped"),
        ("b.md", "symbolic link loop: skipped"),
        ("self", "symbolic link loop: skipped"),
        ("sub/up", "symbolic link to a folder already read (a loop?): not followed"),
    ]


def test_broken_link_to_a_post_is_a_warning(site: SiteDir) -> None:
    (site.posts / "2026-01-02-gone.md").symlink_to("nowhere.md")
    (site.posts / "gone-folder").symlink_to("nowhere")  # not a post by its name: silent
    assert problems(site) == [
        ("2026-01-02-gone.md", "symbolic link to nothing (No such file or directory): skipped")
    ]


def test_watcher_follows_the_same_rules(site: SiteDir, tmp_path: Path) -> None:
    diary = outside_post(tmp_path)
    site.post("2026-01-02-good.md", "title: Good")
    (site.posts / "2026-01-05-diary.md").symlink_to(diary)
    (site.posts / "loop").symlink_to(".")
    assert len(Watcher(site.posts).scan().added) == 1
    assert len(Watcher(site.posts, follow_symlinks=True).scan().added) == 2


def test_file_name_not_utf8_is_an_error_and_the_rest_publish(site: SiteDir) -> None:
    folder = os.fsencode(site.posts)
    with open(os.path.join(folder, b"2026-01-03-caf\xff.md"), "wb") as f:
        f.write(b"---\ntitle: Bad name\n---\nx\n")
    os.mkdir(os.path.join(folder, b"dir\xfe"))
    site.post("2026-01-02-good.md", "title: Good")
    result = build(site.config(), NOW)
    assert titles(site) == ["Good"]
    assert sorted(str(p) for p in result.summary.problems) == [
        "2026-01-03-caf\\xff.md: error: the file name is not valid UTF-8: skipped; rename it",
        "dir\\xfe: error: the folder name is not valid UTF-8: its posts are skipped; rename it",
    ]


def test_newline_in_a_file_name_is_escaped_in_every_message(site: SiteDir) -> None:
    site.post("2026-01-03-a\nerror: fake.md", "title: [unclosed")
    site.post("2026-01-02-good.md", "title: Good")
    proc = subprocess.run(
        [*CLI, "--config", str(site.root / "publisher.toml"), "publish", "--now", NOW.isoformat()],
        capture_output=True, text=True, timeout=60,
    )
    assert proc.returncode == 3, proc.stderr
    assert "Traceback" not in proc.stderr
    lines = proc.stderr.splitlines()
    assert not any(line.startswith("error: fake") for line in lines)
    assert any(line.startswith("2026-01-03-a\\nerror: fake.md:2: error:") for line in lines)


@pytest.mark.parametrize("name", ["2026-01-03-a\x1b[31mred.md", "2026-01-03-a\u2028b.md"])
def test_control_characters_in_names_are_escaped(site: SiteDir, name: str) -> None:
    site.post(name, "title: [unclosed")
    (problem,) = load_site(site.config(), NOW).problems
    text = str(problem)
    assert text.isprintable()
    assert ("\\x1b[31m" in text) != ("\\u2028" in text)
