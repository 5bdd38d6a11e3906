"""`publish` and `build`: the pipeline the CLI and the scheduler both call.

content -> site model -> feeds -> out/; site + state -> digest -> out/ + state;
state -> delivery. `now` is always a parameter so tests and the scheduler
control time.

A run whose inputs match the last full run's stops after scanning the folder
and reports what that run reported: see `cache.RunGuard` and `guard`. Such a
run imports this module's header and no more: each step of a full run imports
its own work (rendering, the feed writers, digest/, mail/) where it starts,
marked `# lazy:`, so a replayed run never loads it.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Sequence
from dataclasses import dataclass, replace
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING

from ..config.settings import Config
from ..errors import ExitCode, PublisherError
from ..feeds import plan as feedset
from ..feeds.cache import FeedCache
from ..feeds.formats import builder
from ..files import write_if_changed
from ..incremental import cache
from ..model import Site, Summary
from ..store.digests import DigestRecord
from ..store.seen import Archived
from ..store.store import Store
from .guard import GuardedRun, gc_paused, guarded_run, load_cached
from .site import renderer_for

if TYPE_CHECKING:
    from ..content.render import Renderer
    from ..feeds.websub import PingReport
    from ..mail.delivery import DeliverySummary, Progress

# Named as before the move: log watchers match "publisher.pipeline:".
log = logging.getLogger("publisher.pipeline")


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
    # Posts first seen by this run and set aside as archive imports.
    archived: tuple[Archived, ...] = ()


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
    # Posts this run saw published for the first time and set aside as archive
    # imports: never mailed, so the report names them.
    archived: tuple[Archived, ...] = ()
    # For a replayed run: what its answer depended on (see `shortcut`).
    watched: cache.Watched | None = None
    # For a full run the next identical run can replay: that replay's result
    # (with its `watched`), for the shortcut to record now. None if it would
    # not replay, or would deliver mail.
    as_replayed: PublishResult | None = None

    @property
    def exit_code(self) -> ExitCode:
        if self.delivery_error is not None:
            return self.delivery_error.exit_code
        return ExitCode.SKIPPED if self.summary.errors else ExitCode.OK


def build_feeds(
    config: Config, site: Site, renderer: Renderer | None = None
) -> tuple[FeedResult, ...]:
    """Write every feed of `feedset.plan` whose bytes changed, then the feeds page.

    A feed whose posts and settings are as when it was last written is not
    even built (`feedcache`): a run costs what changed, not what exists.
    """
    # lazy: the rendering stack and the feeds page, only for a full run
    from ..content.render import Renderer  # noqa: PLC0415
    from ..feeds.page import page  # noqa: PLC0415

    renderer = renderer or Renderer(max_post_bytes=config.content.max_post_bytes)
    if renderer.jekyll is None and config.jekyll_site is not None:
        renderer = renderer_for(config, site, site.now, renderer.stored)
    stored = FeedCache.load(config)
    feeds = feedset.plan(config, site).feeds
    results = []
    for feed in feeds:
        path = config.out_dir / feed.path
        written = False
        if not stored.fresh(feed):
            written = write_if_changed(
                path, builder(feed.format)(renderer(feed.posts), config, feed)
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
    # lazy: urllib.request, only with [feeds] hub and a changed feed
    from ..feeds.websub import ping  # noqa: PLC0415

    return ping(config.feeds.hub, changed, timeout=config.feeds.hub_timeout)


def _no_new_posts(config: Config, since: datetime) -> str:
    return f"no new posts since {since.astimezone(config.tz):%Y-%m-%d %H:%M}"


def run_digest(
    config: Config,
    site: Site,
    state: Store,
    now: datetime,
    renderer: Renderer | None = None,
) -> DigestResult:
    # lazy: digest/, only for a full run
    from ..digest import selection as digest  # noqa: PLC0415

    # First-seen times before selecting: recording twice is harmless.
    archived = tuple(digest.record_seen(site, state, config, now))
    # What the next digest leaves out is `archived`, recorded just now: the
    # selection need not read it again.
    selection = digest.select(site, state, config, now, archive=False)
    if not selection.posts:
        return DigestResult(None, 0, 0, _no_new_posts(config, selection.since), archived)
    # lazy: the templating stack, only for a digest to issue
    from ..digest.letter import compose  # noqa: PLC0415

    renderer = renderer or renderer_for(config, site, now)
    shown = selection.posts[: config.digest.max_posts]
    letter = compose(config, renderer(shown), now, total=len(selection.posts))
    record = digest.issue(config, state, letter, selection, now)
    log.info("digest %s issued with %d posts", record.slug, len(selection.posts))
    return DigestResult(record, len(letter.posts), letter.more, "", archived)


def build(config: Config, now: datetime, include_future: bool = False) -> PublishResult:
    """`publish` without the digest (and so without delivery): the feeds only."""
    return publish(config, now, include_future=include_future, with_digest=False)


def publish(
    config: Config,
    now: datetime,
    include_future: bool = False,
    with_digest: bool = True,
    progress: Progress | None = None,
) -> PublishResult:
    """Publish the site as it stands at `now`: load, feeds, digest, deliver.

    1. load: read the posts folder into a `Site` (`include_future` publishes
       posts dated after `now` too);
    2. feeds: write the Atom and RSS feeds to `config.out_dir`, each only if
       its bytes changed;
    3. digest (`with_digest`): issue a digest of the posts no digest holds
       yet, if there are any, into the state store and `out/digest/`;
    4. deliver (`with_digest`): send every message still pending, reporting
       to `progress`.

    When nothing the feeds and the digest depend on changed since the last
    full run, steps 1-3 are replayed from `cache.RunGuard` instead, and the
    result says `unchanged`; step 4 still runs if mail is pending.

    Returns what was done; `exit_code` maps it to the command line's status.
    A bad post does not raise: it is in `summary.problems`. A delivery failure
    does not raise either: the feeds and digest are done, and it is returned
    as `delivery_error`. Raises `ContentError` if the posts folder is missing,
    `StateError` if the state store cannot be used, `TemplateError` if a digest
    template fails, and `OutputError` if out/ or the state folder cannot be written.

    Cost: an unchanged run is a scan of the posts folder, a stat of each feed,
    a read of the small run record and (with the digest) one query of the
    state store. A full run also parses the posts that
    are new or edited since the last run (`cache.PostCache`), renders the feed
    and digest posts not rendered before (`cache.RenderCache`), and sends mail.
    """
    started = time.perf_counter()
    with guarded_run(config, include_future, with_digest) as run:
        replay = run.guard.replay(now)
        if replay is not None:
            result = replace(_replayed(config, replay, with_digest), watched=run.watched())
        else:
            result = _full_run(config, now, run, include_future)
        return _deliver(config, run.state, now, progress, result, started)


def _full_run(
    config: Config, now: datetime, run: GuardedRun, include_future: bool
) -> PublishResult:
    """Steps 1-3 done, through the caches, with the cycle collector paused;
    then remembered for the next run to replay."""
    run.forget_shortcut()
    fingerprint = cache.config_fingerprint(config)
    with gc_paused():
        site = load_cached(config, now, include_future, run, fingerprint, run.state is not None)
        renderer = renderer_for(
            config, site, now, cache.RenderCache.load(config.state_dir, fingerprint)
        )
        feeds = build_feeds(config, site, renderer)
        pinged = announce(config, feeds)
        if run.state is not None:
            digest = run_digest(config, site, run.state, now, renderer)
            archived = digest.archived
        else:
            digest, archived = None, tuple(_record_seen(config, site, now))
        renderer.save()
    result = PublishResult(Summary.of(site), feeds, digest, 0.0, websub=pinged, archived=archived)
    paths = [feed.path for feed in feeds]
    replay = run.remember(result.summary, paths, feeds[0].entries,
                          _reason_next_time(config, digest, now))
    if replay is None:
        return result
    replayed = _replayed(config, replay, run.state is not None)
    return replace(result, as_replayed=replace(replayed, watched=run.written(paths)))


def _record_seen(config: Config, site: Site, now: datetime) -> list[Archived]:
    """First-seen times are recorded by every full run (`run_digest` does it for
    the digest's): a feeds-only run (`build`, the service's rebuilds) opens the
    state store just for this. Otherwise a post published on Tuesday by a
    rebuild would be first seen by Monday's digest run, six days after readers
    saw it in the feeds."""
    # lazy: digest/, only for a full run
    from ..digest.selection import record_seen  # noqa: PLC0415

    with Store.open(config.state_file) as own:
        return record_seen(site, own, config, now)


def _reason_next_time(config: Config, digest: DigestResult | None, now: datetime) -> str:
    """Why a run with nothing changed would issue no digest."""
    if digest is None:
        return ""
    if digest.record is not None:
        return _no_new_posts(config, now)  # `now` is the new digest's cutoff
    return digest.reason


def _replayed(config: Config, replay: cache.Replay, with_digest: bool) -> PublishResult:
    """Steps 1-3 as the last full run reported them: nothing written, nothing issued."""
    feeds = _replayed_feeds(config, replay.entries)
    digest = DigestResult(None, 0, 0, replay.digest_reason) if with_digest else None
    return PublishResult(replay.summary, feeds, digest, 0.0, unchanged=True)


def _deliver(
    config: Config,
    state: Store | None,
    now: datetime,
    progress: Progress | None,
    result: PublishResult,
    started: float,
) -> PublishResult:
    """Step 4: send what is pending, if anything; the mail code is imported only then."""
    delivery = None
    error = None
    # An unchanged run with nothing pending stays quiet and cheap.
    if state is not None and (state.ledger.pending_count() or not result.unchanged):
        # lazy: mail/, only with mail to send or after a full run
        from ..mail.delivery import deliver_pending  # noqa: PLC0415

        try:
            delivery = deliver_pending(config, state, now, progress)
        except PublisherError as exc:
            error = exc
        if result.as_replayed is not None and state.ledger.pending_count():
            result = replace(result, as_replayed=None)  # a replay would deliver
    return replace(
        result,
        delivery=delivery,
        delivery_error=error,
        seconds=time.perf_counter() - started,
    )


def _replayed_feeds(config: Config, entries: int) -> tuple[FeedResult, ...]:
    """The feeds of the last full run, all unchanged, as `feedcache` listed them."""
    listed = FeedCache.load(config).last_written()
    if not listed:  # no feed cache: the main feeds, as before it existed
        listed = [
            (name, entries, "main", feedset.url_of(config, name))
            for name in feedset.main_paths(config.feeds)
        ]
    feeds = [
        FeedResult(name, config.out_dir / name, False, count, kind, url)
        for name, count, kind, url in listed
    ]
    if config.feeds.page:
        page = config.feeds.page
        feeds.append(
            FeedResult(page, config.out_dir / page, False, len(listed), "page",
                       feedset.url_of(config, page))
        )
    return tuple(feeds)
