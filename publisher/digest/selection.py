"""Choose the posts for the next digest and issue it into the state store.

A post is mailed once at most: it must be published, in no earlier digest,
and first seen published since then by some run (`store.seen`), whatever
its date says. Archive imports (posts already old when first seen, or there
before the very first run) are never mailed unless `publisher digest
--include` asks; editing a sent post never sends it again.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING

from ..config.settings import Config
from ..files import write_atomic
from ..model import Post, Site
from ..store import seen
from ..store.digests import DigestRecord
from ..store.store import Store

if TYPE_CHECKING:
    from .letter import Letter


@dataclass(frozen=True)
class Selection:
    posts: tuple[Post, ...]  # newest first
    since: datetime  # the last digest's time, or where the first one starts
    # Published posts the next digest leaves out as archive imports: the ones
    # recorded since the last digest, and (for a run that records nothing)
    # the ones that recording would set aside.
    archived: tuple[seen.Archived, ...] = ()


def rules(config: Config) -> seen.Rules:
    return seen.Rules(
        backdated=timedelta(days=config.digest.backdated_days),
        first_window=timedelta(days=config.digest.first_window_days),
    )


def record_seen(site: Site, state: Store, config: Config, now: datetime) -> list[seen.Archived]:
    """Record the posts this run sees published for the first time; the archive
    imports among them. Every run that loads the site for publishing calls it,
    the feeds-only ones too, so a post's first-seen time is when it went out."""
    return state.seen.record(site.posts, now, rules(config))


def select(
    site: Site,
    state: Store,
    config: Config,
    now: datetime,
    recorded: bool = True,
    archive: bool = True,
) -> Selection:
    """The next digest's posts: pending (first seen since the last digest, or
    included) and published now, newest first, none in an earlier digest.

    `recorded=False` for a run that records nothing (`digest --preview`,
    `check`): the posts not seen yet count as first seen now. `archive=False`
    leaves `Selection.archived` empty, for a caller that does not show it
    (`publish`): after an import of 100,000 posts it is 100,000 rows read and
    as many objects held, for one line that `record_seen` already gives.
    """
    last = state.digests.last_cutoff()
    since = last if last is not None else now - timedelta(days=config.digest.first_window_days)
    keys = state.seen.pending_keys()
    archived = state.seen.unmailed_archive(site.posts, last) if archive else []
    if not recorded:
        more, new_archive = state.seen.would_be_pending(site.posts, now, rules(config))
        keys |= more
        archived = sorted([*archived, *new_archive], key=lambda a: (a.dated, a.file))
    candidates = [p for p in site.posts if p.key in keys and p.date <= now]
    done = state.digests.digested_keys([p.key for p in candidates])
    posts = tuple(p for p in candidates if p.key not in done)
    return Selection(posts, since, tuple(archived))


def digest_paths(config: Config, slug: str) -> tuple[Path, Path]:
    folder = config.out_dir / "digest"
    return folder / f"{slug}.html", folder / f"{slug}.txt"


def issue(
    config: Config, state: Store, letter: Letter, selection: Selection, now: datetime
) -> DigestRecord:
    """Write the public web copy, then record the digest in one transaction.

    Every selected post is recorded, the ones behind "and N more" too: they
    were announced and their date is before the new cutoff.

    All inside one write transaction, so two processes can never pick the
    same slug. Files first: a crash before the commit leaves files that the
    next run overwrites under the same slug, never a recorded digest without
    its page.
    """
    # lazy: the templates, only for a digest to issue; a run that selects
    # nothing (most runs) and `build` need none
    from . import archive  # noqa: PLC0415
    from .letter import public_copy, with_web_url  # noqa: PLC0415

    with state.transaction():
        slug = state.digests.free_slug(f"{now.astimezone(config.tz):%Y-%m-%d}")
        html, text = with_web_url(config, letter.html, letter.text, slug)
        web_html, web_text = public_copy(config, html, text)
        for name in (slug, "latest"):
            html_path, text_path = digest_paths(config, name)
            write_atomic(html_path, web_html.encode("utf-8"))
            write_atomic(text_path, web_text.encode("utf-8"))
        digest_id = state.digests.record(
            slug=slug,
            issued_at=now,
            cutoff=now,
            subject=letter.subject,
            html=html,
            text=text,
            more=letter.more,
            posts=[(p.key, p.title, p.url) for p in selection.posts],
        )
        state.seen.mark_mailed(p.key for p in selection.posts)
        # Recipients are fixed now: whoever subscribes later never gets this digest.
        state.ledger.enqueue(digest_id)
    record = state.digests.get(digest_id)
    assert record is not None
    # After the commit, so the list includes this digest; a crash between the
    # two leaves an index one digest short until the next issue.
    archive.write_index(config, state)
    return record
