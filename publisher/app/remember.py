"""After a publish the guard replayed, or a full one it will replay: the
record that lets the next identical command answer from
`incremental.shortcut` without loading anything."""

from __future__ import annotations

import os
import time
import tomllib
from collections.abc import Callable, Sequence
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
    lines_of: Callable[[PublishResult], Sequence[Line]],
    config_path: Path | None,
    plain: bool = True,
) -> None:
    """Record what a replay of this run prints (`lines_of` it: what the command
    printed, for a replayed run) as the answer to the same command (`mode`:
    --future, with the digest) on the same inputs. Only for a publisher.toml
    site loaded `plain` (not a Jekyll site, whose settings come from many
    files, nor one with --drafts or --jekyll-config), and a replayed run that
    sent nothing or a full run after which nothing is left to send. Call it
    under the site lock: no other run can change what it records meanwhile."""
    replay = result if result.unchanged else result.as_replayed
    watched = replay.watched if replay is not None else None
    # The files the run wrote, first: the sooner after the run, the less
    # time for a change their stat would not show (see `shortcut`).
    written_ns = time.time_ns()
    expected = watched.written if watched is not None else ()
    written = shortcut.stats(path for path, _stat in expected)
    moved = any(then not in (None, now) for (_p, then), (_p, now) in zip(expected, written,
                                                                       strict=True))
    if (
        replay is None
        or watched is None
        or moved  # changed since the run wrote it (`digest --include` drops the record)
        or (result.unchanged and result.delivery is not None)
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
        due=replay.summary.next_due,
        lines=lines_of(replay),
        code=int(replay.exit_code),
        observed_ns=watched.observed_ns,
        written=written,
        written_ns=written_ns,
        read_posts=result.unchanged,  # a full run read them once: not twice
    )
