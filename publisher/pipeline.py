"""The whole job as plain functions: the CLI and the scheduler both call these.

content -> site model -> feeds -> out/; site + state -> digest -> out/ + state.
`now` is always a parameter so tests and the scheduler control time.

A run whose inputs match the last run's (same folder listing, same
configuration, outputs untouched, no future post come due, no digest issued
since) stops after scanning the folder: see `cache.RunRecord`.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING

from . import cache, content
from .config import Config
from .errors import PublisherError
from .model import Post, Site, Summary
from .store.state import DigestRecord, State, open_state

if TYPE_CHECKING:
    from .mail.delivery import DeliverySummary, Progress
    from .newsletter import Letter
    from .render import Rendered
    from .websub import PingReport

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
    entries: int  # posts in the feed; feeds listed, for the page
    kind: str = "main"  # "main", "category", "tag", or "page" for the feeds page
    url: str = ""


@dataclass(frozen=True)
class DigestResult:
    record: DigestRecord | None
    posts: int
    more: int
    reason: str  # why none was issued, or ""


@dataclass
class Renderer:
    """Renders each post at most once per run, only when asked."""

    memo: dict[str, Rendered] = field(default_factory=dict)
    stored: cache.RenderCache | None = None  # what earlier runs rendered

    def __call__(self, posts: Sequence[Post]) -> list[Rendered]:
        from .render import Rendered, render

        out = []
        for post in posts:
            item = self.memo.get(post.key)
            if item is None:
                known = self.stored.get(post) if self.stored is not None else None
                if known is not None:
                    item = Rendered(post=post, html=known[0], excerpt=known[1])
                else:
                    item = render(post)
                    if self.stored is not None:
                        self.stored.put(post, item.html, item.excerpt)
                self.memo[post.key] = item
            out.append(item)
        return out


@dataclass(frozen=True)
class PublishResult:
    summary: Summary
    feeds: tuple[FeedResult, ...]
    digest: DigestResult | None
    seconds: float
    unchanged: bool = False  # stopped early: nothing changed since the last run
    delivery: DeliverySummary | None = None
    # Delivery can fail after the feeds and the digest are done; the result
    # still reports those, then the CLI shows this error.
    delivery_error: PublisherError | None = None
    websub: PingReport | None = None  # with [feeds] hub, when a feed changed

    @property
    def exit_code(self) -> int:
        if self.delivery_error is not None:
            return self.delivery_error.exit_code
        return EXIT_SKIPPED if self.summary.errors else EXIT_OK


def load(
    config: Config,
    now: datetime,
    include_future: bool = False,
    post_cache: cache.PostCache | None = None,
    scanned: content.Listing | None = None,
) -> Site:
    from . import feedset

    site = content.load_site(
        config, now, include_future=include_future, cache=post_cache, scanned=scanned
    )
    # Names that share a feed are the site's problem too: reported with the posts.
    clashes = feedset.problems(config, site)
    if clashes:
        ordered = sorted(site.problems + clashes, key=lambda p: (p.file, p.line or 0))
        site = replace(site, problems=tuple(ordered))
    return site


def build_feeds(
    config: Config, site: Site, renderer: Renderer | None = None
) -> tuple[FeedResult, ...]:
    """Write every feed of `feedset.plan` whose bytes changed, then the feeds page.

    A feed whose posts and settings are as when it was last written is not
    even built (`feedcache`): a run costs what changed, not what exists.
    """
    from . import feedset
    from .feedcache import FeedCache
    from .feedpage import page
    from .feeds import build_atom, build_rss
    from .files import write_if_changed
    from .jsonfeed import build_json

    builders = {"atom": build_atom, "rss": build_rss, "json": build_json}
    renderer = renderer or Renderer()
    stored = FeedCache.load(config)
    feeds = feedset.plan(config, site).feeds
    results = []
    for feed in feeds:
        path = config.out_dir / feed.path
        written = False
        if not stored.fresh(feed):
            written = write_if_changed(
                path, builders[feed.format](renderer(feed.posts), config, feed)
            )
            stored.put(feed)
        results.append(
            FeedResult(feed.path, path, written, len(feed.posts), feed.kind, feed.url)
        )
    stored.save()
    if config.feeds.page:
        path = config.out_dir / config.feeds.page
        written = write_if_changed(path, page(config, feeds))
        url = feedset.url_of(config, config.feeds.page)
        results.append(FeedResult(config.feeds.page, path, written, len(feeds), "page", url))
    return tuple(results)


def announce(config: Config, feeds: Sequence[FeedResult]) -> PingReport | None:
    """Ping the WebSub hub for each feed whose bytes changed; None without a hub
    or a change. Never raises: a hub that fails is a warning in the report."""
    changed = [f.url for f in feeds if f.written and f.kind != "page"]
    if not config.feeds.hub or not changed:
        return None
    from .websub import ping

    return ping(config.feeds.hub, changed, timeout=config.feeds.hub_timeout)


def _no_new_posts(config: Config, since: datetime) -> str:
    return f"no new posts since {since.astimezone(config.tz):%Y-%m-%d %H:%M}"


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
        return DigestResult(None, 0, 0, _no_new_posts(config, selection.since))
    renderer = renderer or Renderer()
    shown = selection.posts[: config.digest.max_posts]
    letter = compose(config, renderer(shown), now, total=len(selection.posts))
    record = digest.issue(config, state, letter, selection, now)
    log.info("digest %s issued with %d posts", record.slug, len(selection.posts))
    return DigestResult(record, len(letter.posts), letter.more, "")


def build(config: Config, now: datetime, include_future: bool = False) -> PublishResult:
    return publish(config, now, include_future=include_future, with_digest=False)


def publish(
    config: Config,
    now: datetime,
    include_future: bool = False,
    with_digest: bool = True,
    progress: Progress | None = None,
) -> PublishResult:
    started = time.perf_counter()
    content.check_posts_dir(config)
    config_fp = cache.config_fingerprint(config)
    listing = content.listing(config.posts_dir)
    signature = cache.listing_fingerprint(
        [("config", 0, 0), ("mode", int(include_future), int(with_digest)), *listing.files]
    )
    state = open_state(config.state_file) if with_digest else None
    try:
        last_id = state.last_digest_id() if state is not None else None
        record = cache.load_run(config.state_dir)
        if record is not None and record.still_valid(
            signature + config_fp, now, last_id
        ):
            result = _unchanged(config, record, with_digest)
            return _deliver(config, state, now, progress, result, started)

        post_cache = cache.PostCache.load(config.state_dir, config_fp)
        site = load(config, now, include_future, post_cache, listing)
        renderer = Renderer(stored=cache.RenderCache.load(config.state_dir, config_fp))
        feeds = build_feeds(config, site, renderer)
        pinged = announce(config, feeds)
        digest_result = None
        if state is not None:
            digest_result = run_digest(config, site, state, now, renderer)
            last_id = state.last_digest_id()
        post_cache.save()
        if renderer.stored is not None:
            renderer.stored.save()
        summary = Summary.of(site)
        if listing.settled:
            if digest_result is not None and digest_result.record is not None:
                reason = _no_new_posts(config, now)
            else:
                reason = digest_result.reason if digest_result else ""
            cache.save_run(
                config.state_dir,
                cache.RunRecord(
                    signature=signature + config_fp,
                    next_due=summary.next_due.isoformat() if summary.next_due else None,
                    outputs=cache.output_stats(f.path for f in feeds),
                    digest_id=last_id,
                    digest_reason=reason,
                    summary={**summary.to_dict(), "entries": feeds[0].entries},
                ),
            )
        else:
            cache.forget_run(config.state_dir)
        result = PublishResult(summary, feeds, digest_result, 0.0, websub=pinged)
        return _deliver(config, state, now, progress, result, started)
    finally:
        if state is not None:
            state.close()


def _deliver(
    config: Config,
    state: State | None,
    now: datetime,
    progress: Progress | None,
    result: PublishResult,
    started: float,
) -> PublishResult:
    """Send what is pending, if anything; the mail code is imported only then."""
    delivery = None
    error = None
    if state is not None:
        from .store.ledger import pending_count

        # An unchanged run with nothing pending stays quiet and cheap.
        if pending_count(state.conn) or not result.unchanged:
            from .mail.delivery import deliver_pending

            try:
                delivery = deliver_pending(config, state, now, progress)
            except PublisherError as exc:
                error = exc
    return replace(
        result,
        delivery=delivery,
        delivery_error=error,
        seconds=time.perf_counter() - started,
    )


def _unchanged(config: Config, record: cache.RunRecord, with_digest: bool) -> PublishResult:
    entries = int(record.summary.get("entries", 0))
    feeds = _replayed_feeds(config, entries)
    digest_result = DigestResult(None, 0, 0, record.digest_reason) if with_digest else None
    return PublishResult(
        Summary.from_dict(record.summary), feeds, digest_result, 0.0, unchanged=True
    )


def _replayed_feeds(config: Config, entries: int) -> tuple[FeedResult, ...]:
    """The feeds of the last full run, all unchanged, as `feedcache` listed them."""
    from .feedcache import FeedCache
    from .feedset import url_of

    listed = FeedCache.load(config).last_written()
    if not listed:  # no feed cache: the main feeds, as before it existed
        listed = [
            (name, entries, "main", url_of(config, name))
            for name in (config.feeds.atom, config.feeds.rss, config.feeds.json)
            if name
        ]
    feeds = [
        FeedResult(name, config.out_dir / name, False, count, kind, url)
        for name, count, kind, url in listed
    ]
    if config.feeds.page:
        page = config.feeds.page
        feeds.append(
            FeedResult(page, config.out_dir / page, False, len(listed), "page",
                       url_of(config, page))
        )
    return tuple(feeds)


def preview(config: Config, now: datetime) -> tuple[Site, Letter | None]:
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
    shown = selection.posts[: config.digest.max_posts]
    return site, compose(config, Renderer()(shown), now, total=len(selection.posts))
