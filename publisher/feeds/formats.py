"""The feed formats, one entry each: a new format is a new entry here (and
its builder, and its [feeds] key declared in config/tables.py).

Everything else reads this registry: which feeds `plan` makes and their file
suffixes, the media types of the `<link>` tags and the feeds page's labels
(page.py), and which function builds each (`builder`, for the pipeline).
tests/test_feed_formats.py holds the registry, the config keys and the pages
to one another.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from functools import cache
from typing import TYPE_CHECKING, Literal

if TYPE_CHECKING:  # for the builders' type only: importing them here would circle
    from ..config.settings import Config
    from ..content.render import Rendered
    from .plan import Feed

Format = Literal["atom", "rss", "json"]


@dataclass(frozen=True)
class FeedFormat:
    name: Format  # Feed.format, and the [feeds] key that names its main feed's file
    label: str  # how `publisher feeds` and the feeds page name it
    suffix: str  # a category or tag feed's file: feed/news<suffix>
    media_type: str  # the <link rel="alternate"> type
    # "module:function" in publisher.feeds, imported only when a feed of it is
    # built: a nothing-changed run never loads feedgen.
    builder: str


FORMATS: tuple[FeedFormat, ...] = (
    FeedFormat("atom", "Atom", ".xml", "application/atom+xml", "atom_rss:build_atom"),
    FeedFormat("rss", "RSS", ".rss.xml", "application/rss+xml", "atom_rss:build_rss"),
    FeedFormat("json", "JSON Feed", ".json", "application/feed+json", "json_feed:build_json"),
)
BY_NAME: dict[str, FeedFormat] = {f.name: f for f in FORMATS}

Builder = Callable[["Sequence[Rendered]", "Config", "Feed"], bytes]


@cache
def builder(name: str) -> Builder:
    """The function that builds a feed of format `name` into its bytes."""
    module, _, function = BY_NAME[name].builder.partition(":")
    found: Builder = getattr(importlib.import_module(f".{module}", __package__), function)
    return found
