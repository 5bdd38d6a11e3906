"""The feed-format registry (feeds/formats.py) is the one list of formats:
what config accepts, what plan makes, what the pages link and what builds."""

from __future__ import annotations

import typing
from pathlib import Path

from publisher.config import settings as config_mod
from publisher.config.declare import declared
from publisher.feeds import formats, page, plan


def config(tmp_path: Path) -> config_mod.Config:
    return config_mod.from_dict({"site": {"url": "https://example.org"}},
                                tmp_path / "publisher.toml")


def test_the_registry_is_the_format_type() -> None:
    assert [f.name for f in formats.FORMATS] == list(typing.get_args(formats.Format))
    for attr in ("name", "label", "suffix", "media_type"):
        values = [getattr(f, attr) for f in formats.FORMATS]
        assert len(set(values)) == len(values), f"two formats share a {attr}"


def test_config_declares_a_file_key_per_format() -> None:
    files = {key for key, decl in declared(config_mod.FeedsConfig) if decl.out_file}
    assert files - {"page"} == set(formats.BY_NAME)


def test_every_format_is_planned_linked_and_built(tmp_path: Path) -> None:
    cfg = config(tmp_path)
    assert plan.formats(cfg.feeds) == tuple(formats.BY_NAME)
    feeds = [plan.main(cfg, f.name) for f in formats.FORMATS]
    html = page.page(cfg, feeds).decode()
    for fmt, feed in zip(formats.FORMATS, feeds, strict=True):
        assert feed.path == getattr(cfg.feeds, fmt.name)
        assert f'type="{fmt.media_type}"' in html and f"({fmt.label})" in html
        assert formats.builder(fmt.name)([], cfg, feed).startswith((b"<?xml", b"{"))


def test_an_empty_optional_key_turns_its_format_off(tmp_path: Path) -> None:
    cfg = config_mod.from_dict({"site": {"url": "https://example.org"}, "feeds": {"json": ""}},
                               tmp_path / "publisher.toml")
    assert plan.formats(cfg.feeds) == ("atom", "rss")
    assert plan.main_paths(cfg.feeds) == ("feed.xml", "rss.xml")
