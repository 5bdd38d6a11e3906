"""The configuration a command runs with: publisher.toml, over the Jekyll
site's _config.yml when there is one."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from ..config.settings import Config
from ..jekyll.siteconfig import load


def load_config(
    path: Path | None = None, *, jekyll_config: Sequence[str] = (), drafts: bool = False
) -> Config:
    """The Config for `path` (default ./publisher.toml); a Jekyll site's when it
    names one ([jekyll] site) or the current folder is one without
    publisher.toml. `jekyll_config` replaces the `_config` files read (as
    `jekyll build --config`); `drafts` publishes `_drafts` too. Raises
    `ConfigError` naming the file and key of each problem."""
    return load(path, jekyll_config=jekyll_config, drafts=drafts)
