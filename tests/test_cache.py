"""The post cache and the unchanged-run shortcut must never hide a change."""

from __future__ import annotations

import os
import time
from datetime import timedelta

import feedparser

from publisher import content
from publisher import posts as post_files
from publisher.pipeline import publish

from .conftest import NOW, SiteDir


def settle(site: SiteDir) -> None:
    """Age every post file so its mtime is trustworthy (see content.RACY_NS)."""
    past = time.time() - 60
    for path in site.posts.rglob("*"):
        os.utime(path, (past, past))


def titles(site: SiteDir) -> list[str]:
    return [e.title for e in feedparser.parse(str(site.out / "feed.xml")).entries]


def test_second_run_stops_early_and_reports_the_same(site: SiteDir) -> None:
    site.post("2026-01-09-a.md", "title: A")
    site.post("2026-01-09-bad.md", "title: [broken")
    settle(site)
    config = site.config()
    first = publish(config, NOW)
    assert not first.unchanged
    second = publish(config, NOW + timedelta(minutes=5))
    assert second.unchanged
    assert second.summary == first.summary
    assert second.exit_code == 3  # the broken post is still reported
    assert [str(p) for p in second.summary.errors] == [str(p) for p in first.summary.errors]
    assert second.digest is not None and second.digest.record is None


def test_an_edit_is_seen(site: SiteDir) -> None:
    site.post("2026-01-09-a.md", "title: Before")
    settle(site)
    config = site.config()
    publish(config, NOW)
    site.post("2026-01-09-a.md", "title: After the edit")
    settle(site)  # even with an old mtime, the size differs
    result = publish(config, NOW)
    assert not result.unchanged
    assert titles(site) == ["After the edit"]


def test_same_size_edit_with_new_mtime_is_seen(site: SiteDir) -> None:
    path = site.post("2026-01-09-a.md", "title: AAAA")
    settle(site)
    config = site.config()
    publish(config, NOW)
    site.post("2026-01-09-a.md", "title: BBBB")
    later = time.time() - 30
    os.utime(path, (later, later))
    assert not publish(config, NOW).unchanged
    assert titles(site) == ["BBBB"]


def test_future_post_coming_due_ends_the_shortcut(site: SiteDir) -> None:
    site.post("2026-01-09-a.md", "title: Now")
    site.post("2026-01-11-b.md", "title: Tomorrow\ndate: 2026-01-11 09:00:00")
    settle(site)
    config = site.config()
    publish(config, NOW)
    assert publish(config, NOW + timedelta(hours=1)).unchanged
    due = publish(config, NOW + timedelta(days=1))
    assert not due.unchanged
    assert titles(site) == ["Tomorrow", "Now"]


def test_deleted_output_or_changed_config_is_rebuilt(site: SiteDir) -> None:
    site.post("2026-01-09-a.md", "title: A")
    settle(site)
    publish(site.config(), NOW)
    (site.out / "feed.xml").unlink()
    assert not publish(site.config(), NOW).unchanged
    assert titles(site) == ["A"]
    site.write_config('[feeds]\natom = "atom.xml"\n')
    assert not publish(site.config(), NOW).unchanged
    assert (site.out / "atom.xml").exists()


def test_build_then_publish_still_issues_the_digest(site: SiteDir) -> None:
    site.post("2026-01-09-a.md", "title: A")
    settle(site)
    config = site.config()
    publish(config, NOW, with_digest=False)
    result = publish(config, NOW)
    assert result.digest is not None and result.digest.record is not None


def test_post_cache_parses_only_changed_files(site: SiteDir, monkeypatch) -> None:
    for i in range(5):
        site.post(f"2026-01-0{i + 1}-p{i}.md", f"title: P{i}")
    settle(site)
    config = site.config()
    publish(config, NOW)
    edited = site.post("2026-01-03-p2.md", "title: P2 edited")
    past = time.time() - 30
    os.utime(edited, (past, past))
    parsed: list[str] = []
    real = post_files.read_post

    def counting(path, *args, **kwargs):  # type: ignore[no-untyped-def]
        parsed.append(path.name)
        return real(path, *args, **kwargs)

    monkeypatch.setattr(post_files, "read_post", counting)
    publish(config, NOW)
    assert parsed == ["2026-01-03-p2.md"]
    assert "P2 edited" in titles(site)


def test_fresh_files_are_never_trusted(site: SiteDir) -> None:
    site.post("2026-01-09-a.md", "title: A")  # mtime is now: could still change unseen
    config = site.config()
    publish(config, NOW)
    assert not publish(config, NOW).unchanged


def test_parallel_parse_matches_serial(site: SiteDir, monkeypatch) -> None:
    for i in range(30):
        site.post(f"2026-01-01-p{i:02d}.md", f"title: P{i}\ntags: [x{i}]\nimage: i/{i}.png")
    site.post("2026-01-01-bad.md", "title: [x")
    config = site.config()
    serial = content.load_site(config, NOW)
    monkeypatch.setattr(content, "PARALLEL_MIN", 1)
    parallel = content.load_site(config, NOW)
    assert parallel.posts == serial.posts
    assert parallel.problems == serial.problems


def test_render_cache_renders_only_the_edited_post(site: SiteDir, monkeypatch) -> None:
    from publisher import render

    for i in range(4):
        body = f"Body {i} [link](x{i}.html)\n"
        site.post(f"2026-01-0{i + 1}-p{i}.md", f"title: P{i}", body=body)
    settle(site)
    config = site.config()
    publish(config, NOW)
    edited = site.post("2026-01-02-p1.md", "title: P1", body="Edited body [link](y.html)\n")
    past = time.time() - 30
    os.utime(edited, (past, past))
    rendered: list[str] = []
    real = render.render

    def counting(post):  # type: ignore[no-untyped-def]
        rendered.append(post.name)
        return real(post)

    monkeypatch.setattr(render, "render", counting)
    publish(config, NOW)
    assert rendered == ["2026-01-02-p1.md"]
    entries = {e.title: e for e in feedparser.parse(str(site.out / "feed.xml")).entries}
    assert "Edited body" in entries["P1"].content[0].value
    assert "https://example.org/blog/2026/01/02/y.html" in entries["P1"].content[0].value
    assert "Body 0" in entries["P0"].content[0].value  # from the cache, unchanged


def test_with_future_a_post_coming_due_still_gets_its_digest(site: SiteDir) -> None:
    site.post("2026-01-09-a.md", "title: Now")
    site.post("2026-01-10-b.md", "title: Soon\ndate: 2026-01-10 15:00:00")
    settle(site)
    config = site.config()
    first = publish(config, NOW, include_future=True)
    assert first.digest is not None and first.digest.posts == 1  # "Soon" is not due yet
    assert titles(site) == ["Soon", "Now"]  # but --future puts it in the feeds
    later = publish(config, NOW + timedelta(hours=4), include_future=True)
    assert not later.unchanged
    assert later.digest is not None and later.digest.record is not None
    assert later.digest.posts == 1
