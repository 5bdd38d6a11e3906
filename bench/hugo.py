"""Hugo on the same posts, for the side-by-side column of `python -m bench.run`.

Hugo (the Debian package `hugo`, 0.111 here) builds a minimal site whose content
folder is the publisher site's own `content/`: the same files, byte for byte.
The configuration asks for what publisher makes: one RSS feed of the 20 newest
posts, and nothing else (no HTML pages, taxonomies, sitemap or robots.txt), so
both tools read and parse every post and render the newest 20.

Hugo has no state between runs: every build reads and renders everything, so
"nothing changed" and "one post touched" cost it what a warm-cache cold run does.
Its output folder is left in place between the timed runs except for "cold".
"""

from __future__ import annotations

import shutil
from pathlib import Path

CONFIG = """\
baseURL = "https://news.example.org/"
title = "Bench News"
languageCode = "en"
contentDir = "{content}"
publishDir = "public"
disableKinds = ["taxonomy", "term", "section", "sitemap", "robotsTXT", "404"]
# Posts are parsed and listed, never written as pages: the site is one RSS feed.
[[cascade]]
[cascade._build]
render = "never"
[cascade._target]
kind = "page"
[outputs]
home = ["RSS"]
[services.rss]
limit = 20
"""


def command() -> str | None:
    """The `hugo` executable, or None when it is not installed."""
    return shutil.which("hugo")


def make_site(folder: Path, content: Path) -> Path:
    """A Hugo site in `folder` reading posts from `content` (absolute)."""
    folder.mkdir(parents=True, exist_ok=True)
    escaped = str(content.resolve()).replace("\\", "\\\\").replace('"', '\\"')
    (folder / "config.toml").write_text(CONFIG.format(content=escaped), encoding="utf-8")
    return folder


def build_args(folder: Path) -> list[str]:
    """`hugo` arguments for one quiet build of the site in `folder`, cache kept inside it."""
    return ["--quiet", "--source", str(folder), "--cacheDir", str(folder / "cache")]


def reset(folder: Path) -> None:
    """No output and no cache: what a first build sees."""
    for name in ("public", "resources", "cache"):
        shutil.rmtree(folder / name, ignore_errors=True)


def feed(folder: Path) -> Path:
    return folder / "public" / "index.xml"
