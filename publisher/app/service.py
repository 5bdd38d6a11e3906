"""What `publisher run` does beside the pipeline: its start-up check, the
files its scan watches, the record of its digest runs, and the process
plumbing of its bounce reader.

`service/` calls these; it never reaches the store, the mail or the content
parts itself.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from datetime import datetime
from os import stat_result
from pathlib import Path

from ..config.settings import Config, JekyllSite
from ..content.site import die_with_parent, discover
from ..mail.ready import check_service
from ..store.store import Store

__all__ = [
    "check_run",
    "die_with_parent",
    "last_digest_run",
    "note_digest_run",
    "post_files",
]

# In the store's meta table: when the digest job last ran, issued or not.
DIGEST_RUN_KEY = "schedule.digest_ran_at"


def check_run(config: Config, web: bool, environ: Mapping[str, str] | None = None) -> None:
    """Raise ConfigError or SecretMissing if `publisher run` would fail at its
    work (`web`: it serves the list's pages too)."""
    check_service(config, web=web, environ=environ)


def post_files(
    posts_dir: Path, jekyll: JekyllSite | None = None, follow_symlinks: bool = False
) -> Iterator[tuple[Path, stat_result]]:
    """Every candidate post file, with its stat, in a stable order: what the
    scan compares with its last look."""
    return discover(posts_dir, jekyll, follow_symlinks)


def last_digest_run(config: Config) -> datetime | None:
    """When the digest job last ran, issued or not; else the last digest issued."""
    with Store.open(config.state_file) as state:
        last = state.digests.last()
        ran = state.meta.get(DIGEST_RUN_KEY)
    times = []
    if last is not None:
        times.append(last.issued_at)
    if ran is not None:
        times.append(datetime.fromisoformat(ran))
    return max(times) if times else None


def note_digest_run(config: Config, now: datetime) -> None:
    """Remember that the digest job ran at `now`, even if it issued nothing."""
    with Store.open(config.state_file) as state:
        state.meta.set(DIGEST_RUN_KEY, now.isoformat())
