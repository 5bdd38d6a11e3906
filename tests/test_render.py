from __future__ import annotations

from publisher.content.render import absolutize, excerpt_of, for_email, plain_text, to_html

from .conftest import NOW, SiteDir

BASE = "https://example.org/blog/2026/01/09/post.html"


def test_every_relative_url_becomes_absolute() -> None:
    html = absolutize(
        '<a href="other.html">a</a><a href="/root.html">b</a><a href="#fn1">c</a>'
        '<a href="https://elsewhere.example/x">d</a><a href="mailto:a@b.c">e</a>'
        '<img src="../img/a.png" srcset="s.png 1x, /l.png 2x">'
        '<video src="v.mp4" poster="p.jpg"></video><blockquote cite="q.html">q</blockquote>',
        BASE,
    )
    assert 'href="https://example.org/blog/2026/01/09/other.html"' in html
    assert 'href="https://example.org/root.html"' in html
    assert 'href="https://example.org/blog/2026/01/09/post.html#fn1"' in html
    assert 'href="https://elsewhere.example/x"' in html
    assert 'href="mailto:a@b.c"' in html
    assert 'src="https://example.org/blog/2026/01/img/a.png"' in html
    srcset = "https://example.org/blog/2026/01/09/s.png 1x, https://example.org/l.png 2x"
    assert f'srcset="{srcset}"' in html
    assert 'poster="https://example.org/blog/2026/01/09/p.jpg"' in html
    assert 'cite="https://example.org/blog/2026/01/09/q.html"' in html


def test_scripts_handlers_and_forms_never_survive() -> None:
    dirty = (
        '<p onclick="x()">hi<script>alert(1)</script></p><form action="/f"><input name=a></form>'
        '<a href="javascript:alert(1)">j</a><iframe src="https://player.example/1"></iframe>'
    )
    feed = absolutize(dirty, BASE)
    assert "onclick" not in feed and "<script" not in feed and "<form" not in feed
    assert "<input" not in feed and "javascript:" not in feed
    assert "<iframe" in feed  # readers may show embeds
    email = for_email(feed)
    assert "<iframe" not in email and "<p>hi</p>" in email


def test_markdown_tables_strikethrough_and_raw_html() -> None:
    html = to_html("| a | b |\n|---|---|\n| 1 | 2 |\n\n~~old~~ <kbd>K</kbd>\n", "markdown")
    assert "<table>" in html and "<s>old</s>" in html and "<kbd>K</kbd>" in html


def test_text_posts_are_escaped_paragraphs() -> None:
    assert to_html("a < b & c\nline\n\nnext", "text") == (
        "<p>a &lt; b &amp; c<br>\nline</p>\n<p>next</p>\n"
    )


def test_plain_text_unescapes_and_collapses() -> None:
    assert plain_text("<p>Caf&eacute; &amp;  <b>bold</b>\n text</p>") == "Café & bold text"


def test_excerpt_rules(site: SiteDir) -> None:
    from publisher.content.posts import read_body
    from publisher.content.site import load_site

    body = "![img](x.png)\n\nFirst *real* paragraph.\n\nSecond.\n"
    site.post("2026-01-01-a.md", "title: A", body=body)
    site.post(
        "2026-01-02-b.md",
        "title: B\nexcerpt_separator: <!--more-->",
        body="Intro one.\n\nIntro two.\n<!--more-->\nRest.\n",
    )
    site.post("2026-01-03-c.md", "title: C", body="word " * 400)
    posts = {p.title: p for p in load_site(site.config(), NOW).posts}
    assert excerpt_of(posts["A"], read_body(posts["A"])) == "First real paragraph."
    assert excerpt_of(posts["B"], read_body(posts["B"])) == "Intro one. Intro two."
    long = excerpt_of(posts["C"], read_body(posts["C"]))
    assert len(long) <= 601 and long.endswith("…")


def test_renderer_renders_once_and_trusts_an_earlier_run(site: SiteDir) -> None:
    import os
    import time

    from publisher.content.render import Renderer, render
    from publisher.content.site import load_site
    from publisher.incremental import cache

    path = site.post("2026-01-09-a.md", "title: A", body="Before [x](x.html)\n")
    past = time.time() - 60
    os.utime(path, (past, past))
    config = site.config()
    post = load_site(config, NOW).posts[0]
    fingerprint = cache.config_fingerprint(config)
    first = Renderer(stored=cache.RenderCache.load(config.state_dir, fingerprint))
    [item] = first([post])
    assert first([post])[0] is item  # once per run
    assert item == render(post)
    assert "https://example.org/blog/2026/01/09/x.html" in item.html
    first.save()
    # Same size and mtime: the render cache keys on them, so a later run
    # takes the stored HTML and never reads the file again.
    mtime = path.stat().st_mtime_ns
    site.post("2026-01-09-a.md", "title: A", body="Beyond [x](x.html)\n")
    os.utime(path, ns=(mtime, mtime))
    later = Renderer(stored=cache.RenderCache.load(config.state_dir, fingerprint))
    assert later([post])[0].html == item.html
    assert "Beyond" in render(post).html
