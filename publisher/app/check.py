"""`check`: every setting and every post validated, rendered and listed,
with what the next digest leaves out; nothing is written."""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass, replace
from datetime import datetime
from pathlib import Path

from ..config.rules import raise_problems
from ..config.settings import Config
from ..content.posts import read_body
from ..errors import ConfigError, PublisherError
from ..mail.ready import check_problems, listed
from ..migration import Comparison, FeedUnreadable, compare, read_feed
from ..model import Post, Problem, Site
from ..store.seen import Archived
from .site import load, next_selection, renderer_for


@dataclass(frozen=True)
class CheckResult:
    """What `check` found. `late` are the posts the next run will set aside as
    archive imports (still time to fix a date); `set_aside` those set aside
    already, or by the very first run (expected)."""

    site: Site
    problems: tuple[Problem, ...]  # sorted by file and line
    comparison: Comparison | None
    late: tuple[Archived, ...]
    set_aside: tuple[Archived, ...]

    @property
    def errors(self) -> int:
        return sum(1 for p in self.problems if p.severity == "error")

    def unpublished(self, now: datetime) -> tuple[Post, ...]:
        """The posts dated after `now`: not published yet."""
        return tuple(p for p in self.site.posts if p.date > now)


def check(config: Config, now: datetime, compare_with: Path | None = None) -> CheckResult:
    """Validate the settings (raising `ConfigError` with every problem), then
    read and render every post; with `compare_with`, compare with that
    jekyll-feed feed."""
    # Every problem at once, each naming its key; mail once it is set up or
    # someone is on the list (`publisher run` refuses to start on the same).
    raise_problems(check_problems(config, listed(config.state_file)))
    site = load(config, now, include_future=True)
    # A file that looks like a post but is not read as one is a warning for
    # a run (the others publish) and an error here: a site whose posts all
    # vanished must not pass `check`.
    problems = [replace(p, severity="error") if p.unread else p for p in site.problems]
    problems += render_problems(config, site, now)
    if config.jekyll_site is None:
        problems += unrendered_liquid(site.posts)
    comparison = None
    if compare_with is not None:
        comparison = _compare(config, site, now, compare_with)
    _, selection = next_selection(config, now, site)
    # (The very first run setting old posts aside is expected: a note.)
    late = tuple(a for a in selection.archived if not a.recorded and not a.first_run)
    rest = tuple(a for a in selection.archived if a not in late)
    ordered = tuple(sorted(problems, key=lambda p: (p.file, p.line or 0)))
    return CheckResult(site, ordered, comparison, late, rest)


def render_problems(config: Config, site: Site, now: datetime) -> list[Problem]:
    """Render every post, so Markdown, HTML or Liquid that breaks shows up."""
    renderer = renderer_for(config, site, now)
    problems: list[Problem] = []
    for post in site.posts:
        try:
            problems.extend(renderer([post])[0].problems)
        except PublisherError as exc:
            problems.append(Problem(post.name, f"cannot render: {exc}"))
    return problems


def unrendered_liquid(posts: Sequence[Post]) -> list[Problem]:
    """A warning for each post with Liquid (`{{ … }}`, `{% … %}`) that a plain posts
    folder publishes as text: it is a Jekyll post, and [jekyll] site renders it."""
    found = []
    for post in posts:
        try:
            body = read_body(post)
        except PublisherError:
            continue
        match = LIQUID.search(body)
        if match is None:
            continue
        found.append(
            Problem(
                post.name,
                f"Liquid left unrendered ({match.group(0)[:40]!r} is published as text): "
                'a Jekyll post? Set [jekyll] site = "PATH" in publisher.toml to render it',
                severity="warning",
            )
        )
    return found


LIQUID = re.compile(r"\{\{.*?\}\}|\{%.*?%\}", re.S)


def _compare(config: Config, site: Site, now: datetime, feed: Path) -> Comparison:
    try:
        theirs = read_feed(feed.read_bytes())
    except (OSError, FeedUnreadable) as exc:
        raise ConfigError(
            f"--compare-with {feed}: cannot read it: {exc}",
            hint="give the Atom feed jekyll-feed wrote (_site/feed.xml after `jekyll build`)",
        ) from exc
    published = tuple(p for p in site.posts if p.date <= now)
    return compare(config, published, theirs)
