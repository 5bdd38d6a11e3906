"""A Jekyll site's posts get the same protection as a posts folder's: bounded
YAML, dates in range, web-only URLs, the safe walk (links, loops, odd names)."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from publisher.pipeline import build

from .conftest import NOW
from .jekyll_support import JekyllDir
from .test_safeyaml import BOMB


@pytest.fixture
def jk(tmp_path: Path) -> JekyllDir:
    site = JekyllDir(tmp_path / "site")
    site.root.mkdir()
    site.config_yml()
    site.write_toml()
    return site


def problems(jk: JekyllDir) -> dict[str, str]:
    result = build(jk.config(), NOW)
    return {p.file: f"{p.severity}: {p.message}" for p in result.summary.problems}


def test_hostile_posts_of_a_jekyll_site_are_skipped_with_a_message(
    jk: JekyllDir, tmp_path: Path
) -> None:
    jk.post("_posts/2026-01-02-good.md", "title: Good")
    jk.post("_posts/2026-01-03-bomb.md", f"{BOMB}\ntitle: Bomb\nexcerpt: *l6")
    jk.post("_posts/0001-01-01-early.md", "title: Early")
    jk.post("_posts/2026-01-03-late.md", "title: Late\ndate: 9999-12-31 23:00:00 -0100")
    jk.post("_posts/2026-01-03-js.md", 'title: JS\nimage: "javascript:alert(1)"')
    (tmp_path / "private.md").write_text("---\ntitle: Private\n---\nsecret\n")
    (jk.root / "_posts" / "2026-01-04-private.md").symlink_to(tmp_path / "private.md")
    (jk.root / "_posts" / "loop").symlink_to(".")
    with open(os.path.join(os.fsencode(jk.root / "_posts"), b"2026-01-05-\xff.md"), "wb") as f:
        f.write(b"---\ntitle: x\n---\n")
    found = problems(jk)
    assert "aliases (*name) expand this value" in found["_posts/2026-01-03-bomb.md"]
    assert "is out of range" in found["_posts/0001-01-01-early.md"]
    assert found["_posts/2026-01-03-late.md"].startswith("error: ")
    assert "is not a web address" in found["_posts/2026-01-03-js.md"]
    assert "outside the posts folder: not followed" in found["_posts/2026-01-04-private.md"]
    assert "already read (a loop?)" in found["_posts/loop"]
    assert "not valid UTF-8" in found["_posts/2026-01-05-\\xff.md"]
    feed = (jk.root / "_site" / "feed.xml").read_text(encoding="utf-8")
    assert "Good" in feed and "JS" in feed
    assert "secret" not in feed and "javascript" not in feed
