"""`feeds`: every feed `publish` writes, planned from the posts (nothing written)."""

from __future__ import annotations

from datetime import datetime

from ..config.settings import Config
from ..feeds.page import link_tags
from ..feeds.plan import Plan, plan
from ..incremental.cache import PostCache, config_fingerprint
from .site import load


def feed_plan(config: Config, now: datetime, include_future: bool = False) -> Plan:
    """The site's feeds (with the names that share one as problems), read
    through the post cache publish keeps (not saved: this writes nothing)."""
    known = PostCache.load(config.state_dir, config_fingerprint(config))
    site = load(config, now, include_future=include_future, post_cache=known)
    return plan(config, site)


def discovery_tags(found: Plan) -> str:
    """A <link rel="alternate"> tag per feed, for a site's <head>."""
    return link_tags(found.feeds)
