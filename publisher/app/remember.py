"""After a publish the guard replayed: the record that lets the next
identical command answer from `incremental.shortcut` without loading anything."""

from __future__ import annotations

import os
import tomllib
from collections.abc import Sequence
from pathlib import Path

from ..config import settings as config_mod
from ..config.settings import Config
from ..errors import PublisherError
from ..incremental import shortcut
from ..incremental.shortcut import Line
from .pipeline import PublishResult

__all__ = ["Line", "remember"]


def remember(
    config: Config,
    result: PublishResult,
    mode: tuple[bool, bool],
    lines: Sequence[Line],
    config_path: Path | None,
    plain: bool = True,
) -> None:
    """Record `lines` (what the command printed) as the answer to the same
    command (`mode`: --future, with the digest) on the same inputs. Only for a
    publisher.toml site loaded `plain` (not a Jekyll site, whose settings come
    from many files, nor one with --drafts or --jekyll-config) and a run that
    sent nothing. Call it under the site lock: no other run can change what
    it records meanwhile."""
    watched = result.watched
    if (
        watched is None
        or result.delivery is not None
        or result.delivery_error is not None
        or config.jekyll_site is not None
        or not plain
    ):
        return
    try:
        data = config.file.read_bytes()
        # Record these bytes only if they are what this run ran with.
        if config_mod.from_dict(tomllib.loads(data.decode("utf-8")), config.file) != config:
            return
    except (OSError, ValueError, PublisherError):
        return
    shortcut.remember(
        str(config.state_dir),
        config_path=os.path.abspath(config_path or config_mod.DEFAULT_FILE),
        config_bytes=data,
        mode=mode,
        files=watched.files,
        folders=watched.folders,
        posts=watched.posts,
        due=result.summary.next_due,
        lines=lines,
        code=int(result.exit_code),
        observed_ns=watched.observed_ns,
    )
