"""What makes a publish run cost what changed: the run guard, the caches,
the stats the shortcut keeps, and the cycle collector paused.

`guarded_run` opens a run (posts folder listed, state opened, guard loaded);
`GuardedRun` replays it or records a full one; `load_cached` reads the site
through the post cache; `gc_paused` keeps the collector out of a full run.
"""

from __future__ import annotations

import gc
import importlib
import logging
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

from ..config.settings import Config
from ..content import site as content
from ..feeds.cache import FILE as FEED_CACHE
from ..feeds.plan import FOLDERS
from ..files import remove_stale_temps
from ..incremental import cache, shortcut
from ..model import Site, Summary
from ..store.store import Store
from .site import load

# Named as before the move: log watchers match "publisher.pipeline:".
log = logging.getLogger("publisher.pipeline")


@dataclass(frozen=True)
class GuardedRun:
    """One publish run's bookkeeping: the listing it scanned, the state store
    (with the digest), the guard that may replay it, and the stats of the
    state files taken before any was read."""

    config: Config
    listing: content.Listing
    state: Store | None
    guard: cache.RunGuard
    state_files: tuple[tuple[str, tuple[int, int]], ...]
    observed_ns: int

    def watched(self) -> cache.Watched:
        """What a replayed run's answer depended on (see `shortcut`)."""
        outputs = tuple(self.guard.outputs.items())
        return cache.Watched(
            self.state_files + outputs, self.listing.folders, self._posts(), self.observed_ns
        )

    def written(self, outputs: Sequence[Path]) -> cache.Watched:
        """What a replay of this full run will depend on: the posts and folders
        as it scanned them, and the files it wrote. Called once the run record
        is written: the files the run is done with are stat'ed now, and must be
        so when recorded (`digest --include` drops the run record meanwhile);
        the state store is still in use, and stat'ed only when recorded."""
        state_file, wal, *done = [str(path) for path in _state_files(self.config)]
        files = ((state_file, None), (wal, None),
                 *shortcut.stats([*done, *(str(path) for path in outputs)]))
        return cache.Watched((), self.listing.folders, self._posts(), self.observed_ns, files)

    def _posts(self) -> tuple[tuple[str, int, int], ...]:
        return tuple((p, st.st_size, st.st_mtime_ns) for _n, p, st in self.listing.entries)

    def forget_shortcut(self) -> None:
        """A full run: the shortcut's record no longer holds."""
        shortcut.forget(str(self.config.state_dir))

    def remember(self, summary: Summary, feeds: Sequence[Path], entries: int,
                 digest_reason: str) -> cache.Replay | None:
        """After a full run: what the next unchanged run replays (None if
        nothing is remembered, the posts being too fresh to trust)."""
        return self.guard.remember(
            summary,
            entries=entries,
            digest_reason=digest_reason,
            outputs=feeds,
            last_digest_id=self.state.digests.last_id() if self.state is not None else None,
        )


@contextmanager
def guarded_run(
    config: Config, include_future: bool, with_digest: bool
) -> Iterator[GuardedRun]:
    """Scan the posts folder, open the state store (with the digest) and load
    the guard; the store is closed on leaving."""
    observed = time.time_ns()
    content.check_posts_dir(config)
    clean_temps(config)
    listing = content.listing(
        config.posts_dir, config.jekyll_site, config.content.follow_symlinks
    )
    # Before anything in the state folder is read: a change from now on is
    # one the shortcut will see.
    state_files = shortcut.stats(_state_files(config))
    state = Store.open(config.state_file) if with_digest else None
    try:
        guard = cache.RunGuard.load(
            config,
            listing,
            include_future=include_future,
            with_digest=with_digest,
            last_digest_id=state.digests.last_id() if state is not None else None,
        )
        yield GuardedRun(config, listing, state, guard, state_files, observed)
    finally:
        if state is not None:
            state.close()


def load_cached(
    config: Config,
    now: datetime,
    include_future: bool,
    run: GuardedRun,
    fingerprint: str,
    with_digest: bool,
) -> Site:
    """The site read through the post cache, saved at once: its rows need not
    live on beside the posts (~40 MB at 100,000 posts)."""
    post_cache = cache.PostCache.load(config.state_dir, fingerprint)
    site = load(
        config, now, include_future, post_cache, run.listing, record_ids=True,
        meanwhile=lambda: _import_ahead(with_digest),
    )
    post_cache.save()
    return site


@contextmanager
def gc_paused() -> Iterator[None]:
    """Python's cycle collector off while a full run builds and uses the site
    model. It would walk every object the model holds each time allocations
    pile up: at 100,000 posts (~1.5 million objects, none in a cycle) that was
    6 s of a 40 s run, 0.5 s of 7 s at 10,000. The few cycles the templating
    leaves are collected once it is back on."""
    was_on = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if was_on:
            gc.enable()


# What the steps after the load import. On a big first run worker processes
# parse the posts while the parent waits: it imports these then, not after
# (premailer alone takes ~0.35 s, most of it cssutils and requests).
AHEAD = ("publisher.content.render", "publisher.feeds.atom_rss", "publisher.feeds.json_feed",
         "publisher.feeds.page")
AHEAD_DIGEST = ("publisher.digest.selection", "publisher.digest.letter", "premailer")


def _import_ahead(with_digest: bool) -> None:
    for name in AHEAD + (AHEAD_DIGEST if with_digest else ()):
        importlib.import_module(name)


def _state_files(config: Config) -> list[Path]:
    """The files of the state folder that a replayed run reads."""
    wal = config.state_file.with_name(config.state_file.name + "-wal")
    state_dir = config.state_dir
    return [config.state_file, wal, state_dir / cache.RUN_FILE, state_dir / FEED_CACHE]


def clean_temps(config: Config) -> None:
    """Temp files a killed run left where we write: never uploaded with out/."""
    out = config.out_dir
    names = config.feeds.out_files().values()
    folders = {out, out / "digest", config.state_dir}
    folders.update(out / folder for folder in FOLDERS.values())
    folders.update((out / name).parent for name in names if name)
    for path in remove_stale_temps(sorted(folders)):
        log.info("removed %s, left by an interrupted run", path)
