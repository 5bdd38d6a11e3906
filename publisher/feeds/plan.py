"""Which feeds a site has: the main feeds, and one per category and per tag,
in each format of the registry (formats.py).

Pure: from the configuration and the site model to a list of `Feed`s, each
with its format, its file, its self URL, its title and its posts. Nothing is
rendered or written here.

Paths follow jekyll-feed: `feed/<category>.xml` and `feed/by_tag/<tag>.xml`
for Atom, with `.rss.xml` and `.json` beside them for RSS and JSON Feed.
The name in the path is a slug that keeps every letter of every script
(`feed/by_tag/café.xml`, percent-encoded in URLs), so no tag is ever dropped;
two names that make the same slug ("C++" and "c++") share one feed, with a
warning.
"""

from __future__ import annotations

import re
import unicodedata
from collections import Counter
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Literal
from urllib.parse import quote, urljoin

from ..config.settings import Config, FeedsConfig
from ..model import Post, Problem, Site, xml_text
from .formats import BY_NAME, Format
from .formats import FORMATS as FEED_FORMATS

Kind = Literal["main", "category", "tag"]
Taxonomy = Literal["category", "tag"]

TAXONOMIES: tuple[Taxonomy, ...] = ("category", "tag")

# Read from the registry (formats.py), under the names the callers know.
FORMAT_NAMES = {f.name: f.label for f in FEED_FORMATS}
SUFFIXES = {f.name: f.suffix for f in FEED_FORMATS}
FOLDERS: dict[Kind, str] = {"main": "", "category": "feed/", "tag": "feed/by_tag/"}
# Symbols that carry meaning in names people give tags ("C++", "C#", "R&D").
SYMBOLS = {"+": "plus", "#": "sharp", "&": "and", "@": "at"}
# A file name is at most 255 bytes on common file systems; leave room for the suffix.
SLUG_MAX_BYTES = 200


@dataclass(frozen=True)
class Feed:
    """One feed file: what it holds and how it names itself."""

    kind: Kind
    format: Format
    name: str  # the category or tag as written; "" for the main feeds
    slug: str  # its file name part; "" for the main feeds
    path: str  # relative to the output folder, "/"-separated
    url: str  # absolute, percent-encoded: the feed's self link
    title: str
    description: str
    home: str  # the site URL: every feed's alternate link
    posts: tuple[Post, ...]  # newest first, at most [feeds] limit
    own_url_id: bool = False  # a Jekyll site: the main feed's id is its URL, as jekyll-feed's

    @property
    def media_type(self) -> str:
        return BY_NAME[self.format].media_type

    @property
    def feed_id(self) -> str:
        """The Atom feed id: the site for the main feed (as before; a Jekyll site's
        is the feed's URL, as jekyll-feed's), else the feed's URL."""
        return self.home if self.kind == "main" and not self.own_url_id else self.url


@dataclass(frozen=True)
class Plan:
    feeds: tuple[Feed, ...]
    problems: tuple[Problem, ...]  # names that share a slug


def slugify(name: str) -> str:
    """A file-name-safe, URL-ready form of `name` that keeps every letter.

    NFKC-normalised and lower-cased; letters, digits and combining marks of
    any script stay; `+ # & @` become words; anything else separates words
    with one hyphen. A name with nothing left (only emoji, say) becomes its
    code points (`u1f389`), so it still has a feed of its own.
    """
    # Lower-casing the Turkish dotted capital I leaves a combining dot on the i.
    text = unicodedata.normalize("NFKC", name).lower().replace("i\u0307", "i")
    words: list[str] = []
    word: list[str] = []
    for char in text:
        if unicodedata.category(char)[0] in "LNM" and (word or not _is_mark(char)):
            word.append(char)
            continue
        if word:
            words.append("".join(word))
            word = []
        if char in SYMBOLS:
            words.append(SYMBOLS[char])
    if word:
        words.append("".join(word))
    slug = "-".join(words)
    if not slug:
        slug = "-".join(f"u{ord(c):x}" for c in text if not c.isspace()) or "blank"
    return _cut(unicodedata.normalize("NFC", slug))


def _is_mark(char: str) -> bool:
    return unicodedata.category(char)[0] == "M"


def _cut(slug: str) -> str:
    data = slug.encode("utf-8")
    if len(data) <= SLUG_MAX_BYTES:
        return slug
    return data[:SLUG_MAX_BYTES].decode("utf-8", "ignore").rstrip("-")


def formats(feeds: FeedsConfig) -> tuple[Format, ...]:
    """The enabled formats: those whose [feeds] key names a file (Atom and RSS
    always: config requires them; JSON Feed unless its name is "")."""
    return tuple(f.name for f in FEED_FORMATS if main_path(feeds, f.name))


def main_path(feeds: FeedsConfig, fmt: Format) -> str:
    """The main feed's file of format `fmt`: its [feeds] key, named as the format."""
    path: str = getattr(feeds, fmt)
    return path


def main_paths(feeds: FeedsConfig) -> tuple[str, ...]:
    """The files of the enabled main feeds, in the registry's order."""
    return tuple(main_path(feeds, fmt) for fmt in formats(feeds))


def url_of(config: Config, path: str) -> str:
    """The absolute URL of a file in the output folder (non-ASCII percent-encoded)."""
    path = quote(path)
    if "./" in path or path.endswith("."):
        return urljoin(config.site_url, path)
    return config.site_url + path  # what urljoin gives without dot segments, faster


def main(config: Config, fmt: Format, posts: tuple[Post, ...] = ()) -> Feed:
    """The site-wide feed of one format: the one that existed before all others."""
    path = main_path(config.feeds, fmt)
    title = config.site.title
    return Feed(
        kind="main",
        format=fmt,
        name="",
        slug="",
        path=path,
        url=url_of(config, path),
        title=title,
        description=config.site.description or title,
        home=config.site_url,
        posts=posts,
        own_url_id=config.jekyll_site is not None,
    )


def plan(config: Config, site: Site) -> Plan:
    """Every feed to write, main feeds first, then categories and tags by slug.

    Cost: one pass over the posts per enabled kind, no rendering.
    """
    limit = config.feeds.limit
    fmts = formats(config.feeds)
    title = config.site.title
    feeds = [main(config, fmt, site.posts[:limit]) for fmt in fmts]
    problems: list[Problem] = []
    for kind in TAXONOMIES:
        wanted = _wanted(config.feeds, kind)
        if wanted == "none":
            continue
        groups = _groups(site.posts, kind, wanted, _slugger(config, kind))
        problems.extend(_clashes(groups, kind))
        for slug in sorted(groups):
            group = groups[slug]
            # As the posts' own copies are cleaned on their way out (render.finish),
            # which warns about it: a category from Jekyll's front matter defaults
            # can hold what XML cannot carry.
            name = xml_text(group.listed or group.usual(kind))
            for fmt in fmts:
                path = f"{FOLDERS[kind]}{slug}{SUFFIXES[fmt]}"
                feeds.append(
                    Feed(
                        kind=kind,
                        format=fmt,
                        name=name,
                        slug=slug,
                        path=path,
                        url=url_of(config, path),
                        title=f"{title}: {kind} {name}",
                        description=_description(kind, name, title),
                        home=config.site_url,
                        posts=tuple(group.posts[:limit]),
                    )
                )
    return Plan(tuple(feeds), tuple(problems))


def _wanted(feeds: FeedsConfig, kind: Taxonomy) -> str | tuple[str, ...]:
    return feeds.categories if kind == "category" else feeds.tags


def _description(kind: str, name: str, site_title: str) -> str:
    if kind == "category":
        return f"Posts in the category “{name}” on {site_title}"
    return f"Posts tagged “{name}” on {site_title}"


@dataclass
class _Group:
    posts: list[Post]  # newest first
    spellings: list[str]  # the names that make this slug, as posts write them
    listed: str = ""  # the name as written in [feeds], when it is listed

    def uses(self, kind: Taxonomy) -> Counter[str]:
        """How many posts use each spelling (counted only when there are several)."""
        if len(self.spellings) < 2:
            return Counter(self.spellings)
        counts: Counter[str] = Counter()
        for post in self.posts:
            counts.update(n for n in _names(post, kind) if n in self.spellings)
        return counts

    def usual(self, kind: Taxonomy) -> str:
        """The spelling most posts use (the first in sort order on a tie); "" if none."""
        counts = self.uses(kind)
        if not counts:
            return ""
        best = max(counts.values())
        return min(s for s, n in counts.items() if n == best)


def _names(post: Post, kind: Taxonomy) -> tuple[str, ...]:
    return post.categories if kind == "category" else post.tags


def _slugger(config: Config, kind: Taxonomy) -> Callable[[str], str]:
    """How a name becomes its feed's file name: for a Jekyll site, as jekyll-feed
    names it where jekyll-feed makes a feed (so readers keep their subscription):
    a category as written, a tag of letters, digits and `_` as written."""
    if config.jekyll_site is None:
        return slugify
    if kind == "tag":
        return lambda name: name if JEKYLL_TAG.fullmatch(name) else slugify(name)
    return lambda name: name if JEKYLL_CATEGORY.fullmatch(name) else slugify(name)


JEKYLL_TAG = re.compile(r"[A-Za-z0-9_]+")
JEKYLL_CATEGORY = re.compile(r"(?!\.\.?$)[^/\\\x00-\x1f\x7f]{1,200}")


def _groups(
    posts: Iterable[Post],
    kind: Taxonomy,
    wanted: str | tuple[str, ...],
    slug_of: Callable[[str], str] = slugify,
) -> dict[str, _Group]:
    """Posts by the slug of each of their categories (or tags), newest first.

    Runs over every post of the site, so it does the least per name: a dict
    look-up of a slug already made, and an append.
    """
    groups: dict[str, _Group] = {}
    if isinstance(wanted, tuple):
        for name in wanted:
            name = " ".join(name.split())
            groups.setdefault(slug_of(name), _Group([], [], listed=name))
    every = wanted == "all"
    slugs: dict[str, str] = {}
    for post in posts:
        for name in post.categories if kind == "category" else post.tags:
            slug = slugs.get(name)
            if slug is None:
                slug = slugs[name] = slug_of(name)
                group = groups.get(slug)
                if group is None and every:
                    group = groups[slug] = _Group([], [])
                if group is not None:
                    group.spellings.append(name)
            group = groups.get(slug)
            if group is None:
                continue
            if not group.posts or group.posts[-1] is not post:  # "a b" and "a-b" on one post
                group.posts.append(post)
    return groups


def _clashes(groups: dict[str, _Group], kind: Taxonomy) -> list[Problem]:
    """A warning for each spelling that shares its feed with a more used one,
    naming the first post file (by name) that writes it so."""
    problems = []
    for slug, group in sorted(groups.items()):
        if len(group.spellings) < 2:
            continue
        usual = group.usual(kind)
        path = f"{FOLDERS[kind]}{slug}{SUFFIXES['atom']}"
        for other in sorted(s for s in group.spellings if s != usual):
            first = min(p.name for p in group.posts if other in _names(p, kind))
            problems.append(
                Problem(
                    first,
                    f"{kind} {other!r} has the same feed as {kind} {usual!r} ({path}): "
                    "one feed holds the posts of both; write them alike to keep this quiet",
                    severity="warning",
                )
            )
    return problems


def problems(config: Config, site: Site) -> tuple[Problem, ...]:
    """The warnings `plan` gives, without building the feed list."""
    found: list[Problem] = []
    for kind in TAXONOMIES:
        wanted = _wanted(config.feeds, kind)
        if wanted != "none":
            found.extend(_clashes(_groups(site.posts, kind, wanted, _slugger(config, kind)), kind))
    return tuple(found)
