"""The post and render caches must never hide a change (the run shortcut: test_runguard)."""

from __future__ import annotations

import os
import time
from pathlib import Path

import feedparser

from publisher.app.pipeline import publish
from publisher.content import posts as post_files
from publisher.content import site as content
from publisher.incremental import cache

from .conftest import NOW, SiteDir


def settle(site: SiteDir) -> None:
    """Age every post file so its mtime is trustworthy (see cache.RACY_NS)."""
    past = time.time() - 60
    for path in site.posts.rglob("*"):
        os.utime(path, (past, past))


def titles(site: SiteDir) -> list[str]:
    return [e.title for e in feedparser.parse(str(site.out / "feed.xml")).entries]


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
        parsed.append(Path(path).name)  # the walk's str
        return real(path, *args, **kwargs)

    monkeypatch.setattr(post_files, "read_post", counting)
    publish(config, NOW)
    assert parsed == ["2026-01-03-p2.md"]
    assert "P2 edited" in titles(site)


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


def test_parallel_parse_fills_the_cache_as_serial_does(
    site: SiteDir, monkeypatch, tmp_path: Path
) -> None:
    for i in range(30):
        site.post(f"2026-01-01-p{i:02d}.md", f"title: P{i}\ntags: [x{i}]\nenclosure: a{i}.mp3")
    site.post("2026-01-01-bad.md", "title: [x")
    settle(site)
    config = site.config()
    serial = cache.PostCache.load(tmp_path / "serial", "fp")
    content.load_site(config, NOW, cache=serial)
    monkeypatch.setattr(content, "PARALLEL_MIN", 1)
    parallel = cache.PostCache.load(tmp_path / "parallel", "fp")
    calls: list[int] = []
    content.load_site(config, NOW, cache=parallel, meanwhile=lambda: calls.append(1))
    assert parallel.rows == serial.rows and len(serial.rows) == 31
    assert calls == [1]  # called while the workers parsed, once
    calls.clear()
    content.load_site(config, NOW, cache=parallel, meanwhile=lambda: calls.append(1))
    assert calls == []  # nothing to parse: no workers, nothing to wait for


def test_posts_share_what_they_repeat(site: SiteDir, monkeypatch, tmp_path: Path) -> None:
    """Equal authors, category and tag lists are one object across posts (100,000
    posts would otherwise hold 100,000 copies), and nothing else changes."""
    for i in range(6):
        site.post(
            f"2026-01-0{i + 1}-p{i}.md",
            f"title: P{i}\nauthor: Desk\ncategories: [news, world]\ntags: [a, b]",
        )
    site.post("2026-01-09-u.md", "title: U\nauthor: Desk\nupdated: 2026-01-10 12:00:00")
    settle(site)
    config = site.config()
    serial = content.load_site(config, NOW)
    monkeypatch.setattr(content, "PARALLEL_MIN", 1)
    store = cache.PostCache.load(tmp_path, "fp")
    parallel = content.load_site(config, NOW, cache=store)
    store.save()
    cached = content.load_site(config, NOW, cache=cache.PostCache.load(tmp_path, "fp"))
    for site_ in (parallel, cached):
        assert site_.posts == serial.posts
        shared = [p for p in site_.posts if p.categories]
        assert len(shared) == 6
        assert all(p.author is shared[0].author for p in site_.posts)
        assert all(p.categories is shared[0].categories for p in shared)
        assert all(p.tags is shared[0].tags for p in shared)
        assert all(p.key is p.url and p.updated is p.date for p in shared)
        (updated,) = [p for p in site_.posts if p.title == "U"]
        assert updated.updated > updated.date


def test_render_cache_renders_only_the_edited_post(site: SiteDir, monkeypatch) -> None:
    from publisher.content import render

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

    def counting(post, *args):  # type: ignore[no-untyped-def]
        rendered.append(post.name)
        return real(post, *args)

    monkeypatch.setattr(render, "render", counting)
    publish(config, NOW)
    assert rendered == ["2026-01-02-p1.md"]
    entries = {e.title: e for e in feedparser.parse(str(site.out / "feed.xml")).entries}
    assert "Edited body" in entries["P1"].content[0].value
    assert "https://example.org/blog/2026/01/02/y.html" in entries["P1"].content[0].value
    assert "Body 0" in entries["P0"].content[0].value  # from the cache, unchanged


def test_a_file_not_read_stays_named_through_workers_and_the_cache(
    site: SiteDir, monkeypatch, tmp_path: Path
) -> None:
    """Its warning, and that `check` counts it an error, come back from a worker
    process and from the post cache as they were made."""
    site.post("2026-01-01-ok.md", "title: OK")
    site.post("hugo.md", None, body='+++\ntitle = "Hugo"\n+++\nBody.\n')
    settle(site)
    config = site.config()
    serial = content.load_site(config, NOW)
    (problem,) = serial.problems
    assert problem.unread and problem.file == "hugo.md"
    monkeypatch.setattr(content, "PARALLEL_MIN", 1)
    store = cache.PostCache.load(tmp_path, "fp")
    assert content.load_site(config, NOW, cache=store).problems == serial.problems
    store.save()
    cached = content.load_site(config, NOW, cache=cache.PostCache.load(tmp_path, "fp"))
    assert cached.problems == serial.problems
