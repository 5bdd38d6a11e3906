"""Autodiscovery: the `<link rel="alternate">` tags for a site's <head>, and
`out/feeds.html`, a small static page listing every feed.

The page is what a person who clicks a feed link should see instead of raw
XML: each feed's address in a box to copy, and a `feed:` link that desktop
readers open. No XSL stylesheet: browsers are removing XSLT, and a plain page
works everywhere. Pure: the same feeds give the same bytes.
"""

from __future__ import annotations

from collections.abc import Sequence
from html import escape

from ..config.settings import Config
from .plan import FORMAT_NAMES, Feed

HEADINGS = {"main": "Everything", "category": "By category", "tag": "By tag"}

STYLE = """\
:root { color-scheme: light dark; --fg: #1d232b; --muted: #5b6570; --line: #d6dbe1;
  --accent: #0b62a4; --box: #f4f6f8; }
@media (prefers-color-scheme: dark) { :root { --fg: #e6e9ed; --muted: #9aa4ae;
  --line: #38414b; --accent: #6cb4f0; --box: #1f262d; } }
body { margin: 0; font: 16px/1.5 system-ui, -apple-system, "Segoe UI", sans-serif;
  color: var(--fg); background: Canvas; }
main { max-width: 46rem; margin: 0 auto; padding: 2rem 1rem 4rem; }
h1 { font-size: 1.6rem; margin: 0 0 .25rem; }
h2 { font-size: 1.15rem; margin: 2rem 0 .5rem; border-bottom: 1px solid var(--line); }
h3 { font-size: 1rem; margin: 1.25rem 0 .25rem; }
p { margin: .5rem 0; }
.muted { color: var(--muted); }
ul { list-style: none; margin: 0; padding: 0; }
li { display: flex; flex-wrap: wrap; gap: .25rem .75rem; align-items: center; margin: .35rem 0; }
.format { min-width: 6.5rem; font-weight: 600; }
input { flex: 1 1 18rem; font: 14px/1.5 ui-monospace, SFMono-Regular, Menlo, monospace;
  padding: .25rem .45rem; border: 1px solid var(--line); border-radius: 4px;
  background: var(--box); color: var(--fg); }
a { color: var(--accent); }
"""


def link_tags(feeds: Sequence[Feed]) -> str:
    """One `<link rel="alternate">` line per feed, for an HTML <head>."""
    return "".join(_link(feed) + "\n" for feed in feeds)


def _link(feed: Feed) -> str:
    title = f"{feed.title} ({FORMAT_NAMES[feed.format]})"
    return (
        f'<link rel="alternate" type="{feed.media_type}" '
        f'title="{escape(title)}" href="{escape(feed.url)}">'
    )


def page(config: Config, feeds: Sequence[Feed]) -> bytes:
    """The feeds page as UTF-8 HTML: every feed, grouped by what it holds."""
    site = config.site
    title = escape(site.title)
    parts = [
        "<!doctype html>",
        f'<html lang="{escape(site.language)}">',
        "<head>",
        '<meta charset="utf-8">',
        '<meta name="viewport" content="width=device-width, initial-scale=1">',
        f"<title>Feeds of {title}</title>",
        link_tags(feeds).rstrip("\n"),
        f"<style>\n{STYLE}</style>",
        "</head>",
        "<body>",
        "<main>",
        f"<h1>Follow {title}</h1>",
        f'<p class="muted">New posts of <a href="{escape(config.site_url)}">{title}</a> '
        "come to your feed reader as soon as they are published. Pick a feed, copy its "
        "address and add it in your reader (look for “Add feed” or “Subscribe”).</p>",
    ]
    for kind, heading in HEADINGS.items():
        chosen = [f for f in feeds if f.kind == kind]
        if not chosen:
            continue
        parts.append(f"<h2>{heading}</h2>")
        for name, group in _by_name(chosen):
            if kind != "main":
                parts.append(f"<h3>{escape(name)}</h3>")
            parts.append("<ul>")
            parts.extend(_row(feed) for feed in group)
            parts.append("</ul>")
    parts += [
        "<h2>Which one?</h2>",
        "<p>All formats hold the same posts: Atom suits most readers, RSS the oldest "
        "ones, JSON Feed the newest. <b>Open in your reader</b> uses the <code>feed:</code> "
        "link that desktop readers register; if nothing happens, copy the address "
        "instead. Web readers take the address in their subscribe box.</p>",
        "</main>",
        "</body>",
        "</html>",
    ]
    return ("\n".join(parts) + "\n").encode("utf-8")


def _by_name(feeds: list[Feed]) -> list[tuple[str, list[Feed]]]:
    groups: dict[str, list[Feed]] = {}
    for feed in feeds:
        groups.setdefault(feed.slug, []).append(feed)
    return [(group[0].name, group) for group in groups.values()]


def _row(feed: Feed) -> str:
    url = escape(feed.url)
    label = FORMAT_NAMES[feed.format]
    return (
        f'<li><span class="format">{label}</span>'
        f'<input type="text" readonly value="{url}" aria-label="{escape(feed.title)}, '
        f'{label} address">'
        f'<a href="feed:{url}">Open in your reader</a> <a href="{url}">View</a></li>'
    )
