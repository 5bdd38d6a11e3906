"""The whole job as plain functions: the CLI and the scheduler both call these.

content -> site model -> feeds -> out/; site + state -> digest -> out/ + state;
state -> delivery. `now` is always a parameter so tests and the scheduler
control time.

A run whose inputs match the last full run's stops after scanning the folder
and reports what that run reported: see `cache.RunGuard`.
"""

from __future__ import annotations

import gc
import logging
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, replace
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING

from .config.settings import Config
from .content import site as content
from .errors import ExitCode, PublisherError
from .incremental import cache, shortcut
from .model import Post, Site, Summary
from .store.digests import DigestRecord
from .store.seen import Archived
from .store.store import Store

if TYPE_CHECKING:
    from .content.render import Renderer
    from .digest.letter import Letter
    from .digest.selection import Selection
    from .feeds.websub import PingReport
    from .mail.delivery import DeliverySummary, Progress

log = logging.getLogger(__name__)

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

    @property
    def exit_code(self) -> ExitCode:
        if self.delivery_error is not None:
            return self.delivery_error.exit_code
        return ExitCode.SKIPPED if self.summary.errors else ExitCode.OK


def load(
    config: Config,
    now: datetime,
    include_future: bool = False,
    post_cache: cache.PostCache | None = None,
    scanned: content.Listing | None = None,
    record_ids: bool = False,
    meanwhile: Callable[[], object] | None = None,
) -> Site:
    """The site at `now`. For a Jekyll site, each post keeps the entry id it was
    first published under (`store.entry_ids`); `record_ids` records the ids of
    posts published for the first time (publish and build do, check does not)."""
    from .feeds import plan as feedset

    site = content.load_site(
        config, now, include_future=include_future, cache=post_cache, scanned=scanned,
        meanwhile=meanwhile,
    )
    # Names that share a feed are the site's problem too: reported with the
    # posts, as are settings repaired on load (control characters removed).
    clashes = feedset.problems(config, site) + config.notes
    if clashes:
        ordered = sorted(site.problems + clashes, key=lambda p: (p.file, p.line or 0))
        site = replace(site, problems=tuple(ordered))
    if config.jekyll_site is not None:
        site = _first_ids(config, site, now, record_ids)
    return site


def _first_ids(config: Config, site: Site, now: datetime, record: bool) -> Site:
    """Each post with the id it was first published under (unless it has its own `id`)."""
    if not record and not config.state_file.exists():
        return site
    with Store.open(config.state_file) as state:
        stored = state.entry_ids.known()
        if record:
            new = [(p.name, p.key) for p in site.posts if p.name not in stored]
            if new:
                with state.transaction():
                    state.entry_ids.remember(new, now)

    def kept(post: Post) -> Post:
        first = stored.get(post.name)
        if first is None or post.own_id or first == post.key:
            return post
        return replace(post, key=first)

    if not stored:
        return site
    return replace(
        site,
        posts=tuple(kept(p) for p in site.posts),
        scheduled=tuple(kept(p) for p in site.scheduled),
    )


def renderer_for(
    config: Config, site: Site, now: datetime, stored: cache.RenderCache | None = None
) -> Renderer:
    """The run's Renderer; for a Jekyll site with Liquid and kramdown-like Markdown."""
    from .content.render import Renderer
    from .jekyll.liquid import LiquidSite

    jekyll = LiquidSite.of(config, site.posts + site.scheduled, now)
    return Renderer(stored=stored, jekyll=jekyll, max_post_bytes=config.content.max_post_bytes)


def build_feeds(
    config: Config, site: Site, renderer: Renderer | None = None
) -> tuple[FeedResult, ...]:
    """Write every feed of `feedset.plan` whose bytes changed, then the feeds page.

    A feed whose posts and settings are as when it was last written is not
    even built (`feedcache`): a run costs what changed, not what exists.
    """
    from .content.render import Renderer
    from .feeds import plan as feedset
    from .feeds.atom_rss import build_atom, build_rss
    from .feeds.cache import FeedCache
    from .feeds.json_feed import build_json
    from .feeds.page import page
    from .files import write_if_changed

    builders = {"atom": build_atom, "rss": build_rss, "json": build_json}
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
    from .feeds.websub import ping

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
    from .digest import selection as digest

    # First-seen times before selecting: recording twice is harmless.
    archived = tuple(digest.record_seen(site, state, config, now))
    # What the next digest leaves out is `archived`, recorded just now: the
    # selection need not read it again.
    selection = digest.select(site, state, config, now, archive=False)
    if not selection.posts:
        return DigestResult(None, 0, 0, _no_new_posts(config, selection.since), archived)
    from .digest.letter import compose  # the templating stack, only for a digest to issue

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
    observed = time.time_ns()
    content.check_posts_dir(config)
    _clean_temps(config)
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
        replay = guard.replay(now)
        if replay is not None:
            result = _replayed(config, replay, with_digest)
            posts = tuple((p, st.st_size, st.st_mtime_ns) for _n, p, st in listing.entries)
            outputs = tuple(guard.outputs.items())
            watched = cache.Watched(state_files + outputs, listing.folders, posts, observed)
            result = replace(result, watched=watched)
        else:
            shortcut.forget(str(config.state_dir))
            fingerprint = cache.config_fingerprint(config)
            post_cache = cache.PostCache.load(config.state_dir, fingerprint)
            with _gc_paused():
                site = load(
                    config, now, include_future, post_cache, listing, record_ids=True,
                    meanwhile=lambda: _import_ahead(with_digest),
                )
                # Saved now, not after the digest: its rows need not live on beside
                # the posts (~40 MB at 100,000 posts).
                post_cache.save()
                del post_cache
                renderer = renderer_for(
                    config, site, now, cache.RenderCache.load(config.state_dir, fingerprint)
                )
                feeds = build_feeds(config, site, renderer)
                pinged = announce(config, feeds)
                if state is not None:
                    digest = run_digest(config, site, state, now, renderer)
                    archived = digest.archived
                else:
                    digest, archived = None, tuple(_record_seen(config, site, now))
                renderer.save()
            result = PublishResult(
                Summary.of(site), feeds, digest, 0.0, websub=pinged, archived=archived
            )
            guard.remember(
                result.summary,
                entries=feeds[0].entries,
                digest_reason=_reason_next_time(config, digest, now),
                outputs=[feed.path for feed in feeds],
                last_digest_id=state.digests.last_id() if state is not None else None,
            )
        return _deliver(config, state, now, progress, result, started)
    finally:
        if state is not None:
            state.close()


@contextmanager
def _gc_paused() -> Iterator[None]:
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
    import importlib

    for name in AHEAD + (AHEAD_DIGEST if with_digest else ()):
        importlib.import_module(name)


def _state_files(config: Config) -> list[Path]:
    """The files of the state folder that a replayed run reads."""
    from .feeds.cache import FILE as FEED_CACHE

    wal = config.state_file.with_name(config.state_file.name + "-wal")
    state_dir = config.state_dir
    return [config.state_file, wal, state_dir / cache.RUN_FILE, state_dir / FEED_CACHE]


def _clean_temps(config: Config) -> None:
    """Temp files a killed run left where we write: never uploaded with out/."""
    from .feeds.plan import FOLDERS
    from .files import remove_stale_temps

    out = config.out_dir
    names = (config.feeds.atom, config.feeds.rss, config.feeds.json, config.feeds.page)
    folders = {out, out / "digest", config.state_dir}
    folders.update(out / folder for folder in FOLDERS.values())
    folders.update((out / name).parent for name in names if name)
    for path in remove_stale_temps(sorted(folders)):
        log.info("removed %s, left by an interrupted run", path)


def _record_seen(config: Config, site: Site, now: datetime) -> list[Archived]:
    """First-seen times are recorded by every full run (`run_digest` does it for
    the digest's): a feeds-only run (`build`, the service's rebuilds) opens the
    state store just for this. Otherwise a post published on Tuesday by a
    rebuild would be first seen by Monday's digest run, six days after readers
    saw it in the feeds."""
    from .digest.selection import record_seen

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


def _replayed_feeds(config: Config, entries: int) -> tuple[FeedResult, ...]:
    """The feeds of the last full run, all unchanged, as `feedcache` listed them."""
    from .feeds.cache import FeedCache
    from .feeds.plan import url_of

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
    from .digest.letter import compose, with_web_url

    site, selection = next_selection(config, now)
    if not selection.posts:
        return site, None
    shown = selection.posts[: config.digest.max_posts]
    letter = compose(config, renderer_for(config, site, now)(shown), now,
                     total=len(selection.posts))
    # Not issued, so it has no page of its own yet: link to the latest one.
    html, text = with_web_url(config, letter.html, letter.text, "latest")
    return site, replace(letter, html=html, text=text)


def next_selection(
    config: Config, now: datetime, site: Site | None = None
) -> tuple[Site, Selection]:
    """What the next digest would hold and leave out, recording nothing: for
    `digest --preview` and `check` (which pass the `site` they loaded). A site
    with no state store yet is read as an empty one (and none is created)."""
    from .digest import selection as digest

    site = site if site is not None else load(config, now)
    path = config.state_file
    with Store.open(path) if path.exists() else Store.empty(path) as state:
        return site, digest.select(site, state, config, now, recorded=False)
