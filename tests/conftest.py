"""Tiny sites in tmp_path, built from text, for every test module."""

from __future__ import annotations

import shutil
import textwrap
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import pytest

from publisher.config import settings as config_mod
from publisher.config.settings import Config

FIXTURES = Path(__file__).parent / "fixtures"
SAMPLE_POST = "2025-12-13-russia-china-venezuela-support.md"
NOW = datetime(2026, 1, 10, 12, 0, tzinfo=UTC)

BASE_CONFIG = """
[site]
url = "https://example.org/blog"
title = "Example & <Co>"
description = "Notes from \\"the\\" field"
author = { name = "Site Author", email = "author@example.org" }
timezone = "Europe/Paris"
"""


@dataclass
class SiteDir:
    root: Path

    @property
    def posts(self) -> Path:
        return self.root / "content"

    @property
    def out(self) -> Path:
        return self.root / "out"

    def config_text(self, extra: str = "") -> str:
        return BASE_CONFIG + textwrap.dedent(extra)

    def write_config(self, extra: str = "", text: str | None = None) -> Path:
        path = self.root / "publisher.toml"
        path.write_text(text if text is not None else self.config_text(extra), encoding="utf-8")
        return path

    def config(self) -> Config:
        return config_mod.load(self.root / "publisher.toml")

    def post(self, name: str, front: str | None = None, body: str = "Hello.\n") -> Path:
        path = self.posts / name
        path.parent.mkdir(parents=True, exist_ok=True)
        if front is None:
            path.write_text(body, encoding="utf-8")
        else:
            path.write_text(f"---\n{textwrap.dedent(front).strip()}\n---\n{body}", encoding="utf-8")
        return path

    def raw(self, name: str, data: bytes) -> Path:
        path = self.posts / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(data)
        return path

    def add_sample(self) -> Path:
        self.posts.mkdir(parents=True, exist_ok=True)
        return Path(shutil.copy(FIXTURES / SAMPLE_POST, self.posts / SAMPLE_POST))


@pytest.fixture
def site(tmp_path: Path) -> SiteDir:
    s = SiteDir(tmp_path)
    s.posts.mkdir()
    s.write_config()
    return s
