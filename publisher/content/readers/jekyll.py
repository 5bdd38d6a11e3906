"""The reader of a Jekyll site's posts, read as Jekyll reads them: the rules
are `publisher.jekyll.document`'s (defaults, titles, dates, permalinks, drafts),
and this reader turns what it decides into a `Core`.

One of the readers behind `readers.Reader`; `plain` reads a plain posts folder."""

from __future__ import annotations

import os
from typing import Any, Literal

from ...config.settings import Config
from ...jekyll.rules import settings
from ...model import Person, Problem
from .finish import Core
from .values import Invalid, key_line, on_site

# Jekyll publishes the miscased keys' posts all the same: each one is noted.
NOTES_MISCASED: frozenset[str] = frozenset()


def without_front_matter(name: str, text: str, problems: list[Problem]) -> tuple[str, str, int]:
    """Jekyll publishes a _posts file without front matter: as if it were empty."""
    return "\n", text, 1


def core(
    path: str,
    name: str,
    meta: dict[str, Any],
    fm_text: str,
    body: str,
    body_line: int,
    config: Config,
    problems: list[Problem],
) -> Core | None:
    """What `jekyll.document` makes of the post, or None (a problem said why)
    when Jekyll would not publish it."""
    # lazy: a plain posts folder never loads jekyll.document
    from ...jekyll import document  # noqa: PLC0415

    site = config.jekyll_site
    assert site is not None
    jekyll = settings(site)
    try:
        mtime = os.stat(path).st_mtime if "_drafts/" in name else 0.0
        doc = document.read(jekyll, name, meta, config.tz, config.content.permalink, mtime)
    except document.Skip as skip:
        line = key_line(fm_text, skip.key) if skip.key else None
        severity: Literal["error", "warning"] = "error" if skip.severity == "error" else "warning"
        problems.append(Problem(name, str(skip), line=line, severity=severity))
        return None
    except OSError as exc:
        problems.append(Problem(name, f"cannot read file: {exc.strerror}"))
        return None
    if isinstance(meta.get("title"), (list, dict)):
        raise Invalid("title", "title must be text, not a list or mapping")
    _note_unknown_tags(name, body, body_line, problems)
    meta = doc.meta
    author = document.resolve_author(
        document.author_value(meta, jekyll.raw.get("author")), jekyll.authors
    )
    front_id = meta.get("id")
    feed = meta.get("feed")
    return Core(
        meta=meta,
        key=str(front_id).strip() if front_id not in (None, "") else on_site(
            config.site_url, doc.id
        ),
        url=on_site(config.site_url, doc.path),
        title=document.feed_title(doc.title, config.jekyll.smart_quotes) or doc.title,
        when=doc.date,
        author=Person(**author) if author else None,
        categories=doc.categories,
        tags=doc.tags,
        format=doc.format,  # type: ignore[arg-type]
        # jekyll-feed leaves drafts out unless they are asked for (--drafts).
        visible=meta.get("published", True) is not False
        and (meta.get("draft") is not True or site.drafts),
        excerpt_only=isinstance(feed, dict) and feed.get("excerpt_only") is True,
        own_id=front_id not in (None, ""),
    )


def _note_unknown_tags(name: str, body: str, body_line: int, problems: list[Problem]) -> None:
    """A warning for each Liquid tag the body uses that no Jekyll plugin here knows."""
    from ...jekyll.liquid import unknown_tags  # noqa: PLC0415  # lazy: not on a read-only run's path (workers too)

    for line, tag in unknown_tags(body):
        problems.append(
            Problem(
                name,
                f"unknown Liquid tag {{% {tag} %}} (a Jekyll plugin's?): left out",
                line=body_line + line - 1,
                severity="warning",
            )
        )
