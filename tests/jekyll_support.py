"""Tiny Jekyll sites in tmp_path, and reading back what publisher makes of them."""

from __future__ import annotations

import textwrap
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from xml.etree import ElementTree as ET

import feedparser

from publisher.app.pipeline import build
from publisher.config.settings import Config
from publisher.jekyll import siteconfig

from . import feedcheck
from .conftest import NOW

ATOM = "{http://www.w3.org/2005/Atom}"
CONFIG = """\
title: Jekyll test site
description: Posts from a Jekyll site
url: https://example.org
baseurl: /blog
timezone: Europe/Paris
plugins: [jekyll-feed]
"""


@dataclass
class JekyllDir:
    """A Jekyll site at `root`, with publisher.toml beside it in `root.parent`."""

    root: Path

    def config_yml(self, text: str = CONFIG, name: str = "_config.yml") -> Path:
        path = self.root / name
        path.write_text(textwrap.dedent(text), encoding="utf-8")
        return path

    def write(self, rel: str, text: str) -> Path:
        path = self.root / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text, encoding="utf-8")
        return path

    def post(self, rel: str, front: str | None = "", body: str = "Hello.\n") -> Path:
        if front is None:
            return self.write(rel, body)
        return self.write(rel, f"---\n{textwrap.dedent(front).strip()}\n---\n{body}")

    @property
    def toml(self) -> Path:
        return self.root.parent / "publisher.toml"

    def write_toml(self, extra: str = "") -> Path:
        self.toml.write_text(
            f'[jekyll]\nsite = "{self.root.name}"\n' + textwrap.dedent(extra), encoding="utf-8"
        )
        return self.toml

    def config(self, **kwargs: Any) -> Config:
        if not self.toml.exists():
            self.write_toml()
        return siteconfig.load(self.toml, **kwargs)

    def build(self, config: Config | None = None) -> Config:
        config = config or self.config()
        build(config, NOW)
        return config

    def feed(self, config: Config, name: str = "feed.xml") -> tuple[Any, ET.Element]:
        """(feedparser's reading, the checked ElementTree root) of a feed in out/."""
        path = config.out_dir / name
        for other in ("rss.xml", "feed.json"):
            if (config.out_dir / other).exists():
                feedcheck.check(config.out_dir / other)
        return feedparser.parse(path.read_bytes()), feedcheck.check(path)


def entries(root: ET.Element) -> dict[str, ET.Element]:
    """Atom entries by title."""
    return {e.findtext(f"{ATOM}title") or "": e for e in root.findall(f"{ATOM}entry")}


def entry_id(entry: ET.Element) -> str:
    return entry.findtext(f"{ATOM}id") or ""


def link(entry: ET.Element) -> str:
    found = entry.find(f"{ATOM}link")
    return found.get("href", "") if found is not None else ""
