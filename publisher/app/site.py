"""The steps several commands share: the site at `now`, its renderer, and
what the next digest would hold (recording nothing)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace
from datetime import datetime
from typing import TYPE_CHECKING

from ..config.settings import Config
from ..content import site as content
from ..feeds import plan as feedset
from ..incremental import cache
from ..model import Post, Site
from ..store.store import Store

if TYPE_CHECKING:
    from ..content.render import Renderer
    from ..digest.selection import Selection


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
    # lazy: the rendering stack (markdown-it, Liquid), not on a replayed run's path
    from ..content.render import Renderer  # noqa: PLC0415
    from ..jekyll.liquid import LiquidSite  # noqa: PLC0415

    jekyll = LiquidSite.of(config, site.posts + site.scheduled, now)
    return Renderer(stored=stored, jekyll=jekyll, max_post_bytes=config.content.max_post_bytes)


def next_selection(
    config: Config, now: datetime, site: Site | None = None
) -> tuple[Site, Selection]:
    """What the next digest would hold and leave out, recording nothing: for
    `digest --preview` and `check` (which pass the `site` they loaded). A site
    with no state store yet is read as an empty one (and none is created)."""
    # lazy: digest/ is not on a replayed run's path, which imports this module
    from ..digest import selection as digest  # noqa: PLC0415

    site = site if site is not None else load(config, now)
    path = config.state_file
    with Store.open(path) if path.exists() else Store.empty(path) as state:
        return site, digest.select(site, state, config, now, recorded=False)
