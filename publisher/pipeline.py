"""The whole job as plain functions: the CLI and the scheduler both call these.

content -> site model -> feeds -> out/; site + state -> digest -> out/ + state.
`now` is always a parameter so tests and the scheduler control time.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING

from . import content
from .config import Config
from .model import Post, Site
from .state import DigestRecord, State, open_state

if TYPE_CHECKING:
    from .delivery import DeliverySummary, Progress

log = logging.getLogger(__name__)

EXIT_OK = 0
EXIT_ERROR = 1
EXIT_SKIPPED = 3  # published, but some posts were skipped for errors
EXIT_BUSY = 4  # another publisher held the lock past the wait bound


@dataclass(frozen=True)
class FeedResult:
    name: str
    path: Path
    written: bool
    entries: int


@dataclass(frozen=True)
class DigestResult:
    record: DigestRecord | None
    posts: int
    more: int
    reason: str  # why none was issued, or ""


@dataclass
class Renderer:
    """Renders each post at most once per run, only when asked."""

    cache: dict[str, object] = field(default_factory=dict)

    def __call__(self, posts: Sequence[Post]) -> list:  # type: ignore[type-arg]
        from .render import render

        out = []
        for post in posts:
            item = self.cache.get(post.key)
            if item is None:
                item = self.cache[post.key] = render(post)
            out.append(item)
        return out


@dataclass(frozen=True)
class PublishResult:
    site: Site
    feeds: tuple[FeedResult, ...]
    digest: DigestResult | None
    seconds: float
    delivery: DeliverySummary | None = None

    @property
    def exit_code(self) -> int:
        return EXIT_SKIPPED if self.site.errors else EXIT_OK


def load(config: Config, now: datetime, include_future: bool = False) -> Site:
    return content.load_site(config, now, include_future=include_future)


def build_feeds(config: Config, site: Site, renderer: Renderer | None = None) -> tuple[
    FeedResult, ...
]:
    from .feeds import build_atom, build_rss
    from .files import write_if_changed

    renderer = renderer or Renderer()
    items = renderer(site.posts[: config.feeds.limit])
    results = []
    for name, builder in ((config.feeds.atom, build_atom), (config.feeds.rss, build_rss)):
        path = config.out_dir / name
        written = write_if_changed(path, builder(items, config))
        results.append(FeedResult(name, path, written, len(items)))
    return tuple(results)


def run_digest(
    config: Config,
    site: Site,
    state: State,
    now: datetime,
    renderer: Renderer | None = None,
) -> DigestResult:
    from . import digest
    from .newsletter import compose

    selection = digest.select(site, state, config, now)
    if not selection.posts:
        since = selection.since.astimezone(config.tz)
        return DigestResult(None, 0, 0, f"no new posts since {since:%Y-%m-%d %H:%M}")
    renderer = renderer or Renderer()
    letter = compose(config, renderer(selection.posts), now)
    record = digest.issue(config, state, letter, selection, now)
    log.info("digest %s issued with %d posts", record.slug, len(selection.posts))
    return DigestResult(record, len(letter.posts), letter.more, "")


def build(config: Config, now: datetime, include_future: bool = False) -> PublishResult:
    started = time.perf_counter()
    site = load(config, now, include_future)
    feeds = build_feeds(config, site)
    return PublishResult(site, feeds, None, time.perf_counter() - started)


def publish(
    config: Config,
    now: datetime,
    include_future: bool = False,
    with_digest: bool = True,
    progress: Progress | None = None,
) -> PublishResult:
    started = time.perf_counter()
    site = load(config, now, include_future)
    renderer = Renderer()
    feeds = build_feeds(config, site, renderer)
    digest_result = None
    delivery = None
    if with_digest:
        state = open_state(config.state_file)
        try:
            from .delivery import deliver_pending

            digest_result = run_digest(config, site, state, now, renderer)
            delivery = deliver_pending(config, state, now, progress)
        finally:
            state.close()
    return PublishResult(site, feeds, digest_result, time.perf_counter() - started, delivery)


def preview(config: Config, now: datetime):  # type: ignore[no-untyped-def]
    """The next digest's letter, rendered but not recorded; None if nothing is new."""
    from . import digest
    from .newsletter import compose

    site = load(config, now)
    state = open_state(config.state_file)
    try:
        selection = digest.select(site, state, config, now)
    finally:
        state.close()
    if not selection.posts:
        return site, None
    return site, compose(config, Renderer()(selection.posts), now)
