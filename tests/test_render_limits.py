"""Rendering under hostile bodies: deep nesting, huge posts, summary-only posts."""

from __future__ import annotations

import json

import feedparser
import pytest

from publisher.app.pipeline import build
from publisher.content import render as render_mod
from publisher.content.render import EXCERPT_SOURCE_LIMIT, MAX_NESTING, render, tame, too_deep

from .conftest import NOW, SiteDir


def test_nesting_depth_counts_real_nesting_only() -> None:
    assert not too_deep("<div>" * 10 + "</div>" * 10)
    assert too_deep("<div>" * (MAX_NESTING + 1))
    # Elements the parser closes by itself, and void ones, do not nest.
    flat = "<p>a" * 5000 + "<li>b" * 5000 + "<br>" * 5000 + "<img src=x>" * 5000
    assert not too_deep(flat)
    assert not too_deep("<div></div>" * 5000)


def test_deep_nesting_is_published_as_text_without_the_sanitiser(
    site: SiteDir, monkeypatch: pytest.MonkeyPatch
) -> None:
    depth = 50_000
    site.post(
        "2026-01-05-deep.md",
        "title: Deep\ndate: 2026-01-05",
        body="<div>" * depth + "x & <script>y</script>" + "</div>" * depth + "\n",
    )
    site.post("2026-01-04-fine.md", "title: Fine\ndate: 2026-01-04", body="*fine*\n")
    seen: list[int] = []
    real = render_mod.nh3.clean

    def measured(html: str, *args, **kwargs):  # type: ignore[no-untyped-def]
        seen.append(html.count("<div"))
        return real(html, *args, **kwargs)

    monkeypatch.setattr(render_mod.nh3, "clean", measured)
    build(site.config(), NOW)
    assert seen and max(seen) == 0  # nh3 never saw the nesting
    entries = {e.title: e for e in feedparser.parse(str(site.out / "feed.xml")).entries}
    assert entries["Deep"].content[0].value == "<p>x &amp; y</p>"
    assert entries["Fine"].content[0].value == "<p><em>fine</em></p>"


def test_summary_only_post_body_is_never_converted(
    site: SiteDir, monkeypatch: pytest.MonkeyPatch
) -> None:
    site.write_config("[content]\nmax_post_bytes = 2000\n")
    body = "First paragraph, the summary.\n\n" + ("<div>" * 30_000 + "x" + "</div>" * 30_000) + "\n"
    site.post("2026-01-05-big.md", "title: Big\ndate: 2026-01-05", body=body)
    converted: list[int] = []
    real = render_mod.to_html

    def counting(source: str, fmt: str, *args):  # type: ignore[no-untyped-def]
        converted.append(len(source))
        return real(source, fmt, *args)

    monkeypatch.setattr(render_mod, "to_html", counting)
    build(site.config(), NOW)
    # Its beginning only: the summary is in it, and a huge body costs no more.
    assert converted and max(converted) <= EXCERPT_SOURCE_LIMIT < len(body)
    (entry,) = feedparser.parse(str(site.out / "feed.xml")).entries
    assert entry.summary == "First paragraph, the summary."
    assert "content" not in entry
    item = json.loads((site.out / "feed.json").read_text())["items"][0]
    assert item["content_text"] == "First paragraph, the summary."


def test_a_huge_first_paragraph_costs_a_bounded_excerpt(site: SiteDir) -> None:
    site.write_config("[content]\nmax_post_bytes = 1000\n")
    path = site.post("2026-01-05-huge.md", "title: Huge\ndate: 2026-01-05",
                     body="word " * 2_000_000)
    from publisher.content.site import load_site

    (post,) = load_site(site.config(), NOW).posts
    rendered = render(post, max_post_bytes=1000)
    assert rendered.html == ""
    assert rendered.excerpt.endswith("…") and len(rendered.excerpt) <= 601
    assert path.stat().st_size > 10_000_000


def test_tame_escapes_what_it_keeps() -> None:
    deep = "<b>" * 600 + "<script>alert(1)</script> &lt;x&gt;" + "</b>" * 600
    assert tame(deep) == "<p>alert(1) &lt;x&gt;</p>\n"
