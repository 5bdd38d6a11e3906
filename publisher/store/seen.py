"""When each post was first seen published: what the digest selects by.

A post's date says when its author says it was written, not when readers
could first see it: a post finished in the afternoon and dated that morning,
or saved with a date-only `date:` (midnight), is dated before the digest that
went out in between. Selecting by date misses it for ever. So every run that
loads the site records, per post key, the moment it first saw the post
published, and the digest takes every post first seen since the last one
that no digest holds yet.

Two kinds of post are *archive imports*, recorded but never mailed (unless
`publisher digest --include FILE` asks for one):

- on the very first run that records anything (a new site, or an upgrade from
  a publisher that selected by date), every post dated before the window
  the old rule used: `first_window_days` back, or the last digest's cutoff;
- afterwards, a post whose date is more than `[digest] backdated_days` older
  than the moment it is first seen: an archive of old posts copied in.

Nothing here compares a first-seen time with the clock, so a clock that jumps
back or forth can neither hide a post nor mail one twice: a post is mailed
once, when it is pending and published, and `pending` is cleared in the
transaction that records the digest.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from ..model import Post
from .digests import digested

BASELINE_KEY = "first_seen.since"  # meta: when first-seen recording began


@dataclass(frozen=True, slots=True)
class Archived:
    """A post recorded (or about to be) as an archive import: not mailed."""

    file: str  # relative to the posts folder
    key: str
    dated: datetime
    seen_at: datetime  # first seen; `now` for one not recorded yet
    first_run: bool  # set aside by the first run rather than by backdated_days
    recorded: bool = True  # False: what the next run will decide, not recorded yet


@dataclass(frozen=True)
class Rules:
    """The two windows that make a post an archive import."""

    backdated: timedelta  # [digest] backdated_days
    first_window: timedelta  # [digest] first_window_days, for the very first run


@dataclass(frozen=True, slots=True)
class Decision:
    post: Post
    pending: bool  # goes into the next digest
    archived: bool  # an archive import
    first_run: bool


def _archived(
    decisions: Iterable[Decision], now: datetime, recorded: bool = True
) -> list[Archived]:
    found = [
        Archived(d.post.name, d.post.key, d.post.date, now, d.first_run, recorded)
        for d in decisions
        if d.archived
    ]
    return sorted(found, key=lambda a: (a.dated, a.file))

class Seen:
    """When each post was first seen published, and which go into the next digest."""

    def __init__(self, conn: sqlite3.Connection) -> None:
        self._conn = conn

    def baseline(self) -> datetime | None:
        row = self._conn.execute("SELECT value FROM meta WHERE key = ?", (BASELINE_KEY,)).fetchone()
        return datetime.fromisoformat(row[0]) if row else None

    def _last_cutoff(self) -> datetime | None:
        row = self._conn.execute("SELECT cutoff FROM digests ORDER BY id DESC LIMIT 1").fetchone()
        return datetime.fromisoformat(row[0]) if row else None

    def _known(self) -> set[str]:
        return {r[0] for r in self._conn.execute("SELECT post_key FROM first_seen")}

    def _decide(
        self, posts: Sequence[Post], now: datetime, rules: Rules
    ) -> list[Decision]:
        """What recording `posts` (none of them known yet) at `now` would decide."""
        if not posts:
            return []
        first_run = self.baseline() is None
        if first_run:
            cutoff = self._last_cutoff()
            since = cutoff if cutoff is not None else now - rules.first_window
        mailed = digested(self._conn, [p.key for p in posts])
        decisions = []
        for post in posts:
            if post.key in mailed:  # mailed before first-seen was recorded (an upgrade)
                decisions.append(Decision(post, False, False, first_run))
                continue
            old = post.date <= since if first_run else now - post.date > rules.backdated
            decisions.append(Decision(post, not old, old, first_run))
        return decisions

    def record(
        self, posts: Iterable[Post], now: datetime, rules: Rules
    ) -> list[Archived]:
        """Record every post of `posts` not seen before as first seen `now`, in one
        transaction. Returns the ones set aside as archive imports, oldest first.

        `posts` are the site's published posts; a post dated after `now` (shown
        early with --future) is not published yet and waits for its date.

        Cost: one read of the known keys (a few ms per 10,000 posts), then one
        insert per new post.
        """
        now = now.astimezone(UTC)  # one offset in the store: its times compare as text too
        due = [p for p in posts if p.date <= now]
        own = not self._conn.in_transaction  # else it joins the caller's
        if own:
            self._conn.execute("BEGIN IMMEDIATE")
        try:
            known = self._known()
            new = [p for p in due if p.key not in known]
            decisions = self._decide(new, now, rules)
            seen_at = now.isoformat()  # once: a first run records every post (100,000 rows)
            self._conn.executemany(
                "INSERT INTO first_seen (post_key, seen_at, dated, file, archived, pending) "
                "VALUES (?, ?, ?, ?, ?, ?)",
                [
                    (d.post.key, seen_at, d.post.date.isoformat(), d.post.name,
                     int(d.archived), int(d.pending))
                    for d in decisions
                ],
            )
            if self.baseline() is None:
                self._conn.execute(
                    "INSERT INTO meta (key, value) VALUES (?, ?)", (BASELINE_KEY, now.isoformat())
                )
        except BaseException:
            if own:
                self._conn.execute("ROLLBACK")
            raise
        if own:
            self._conn.execute("COMMIT")
        return _archived(decisions, now)

    def pending_keys(self) -> set[str]:
        """The posts that go into the next digest once published (a small set)."""
        return {
            r[0] for r in self._conn.execute("SELECT post_key FROM first_seen WHERE pending = 1")
        }

    def would_be_pending(
        self, posts: Sequence[Post], now: datetime, rules: Rules
    ) -> tuple[set[str], list[Archived]]:
        """For a run that records nothing (`digest --preview`, `check`): the keys of
        the posts not seen yet that recording them now would make pending, and
        the ones it would set aside as archive imports."""
        known = self._known()
        decisions = self._decide([p for p in posts if p.date <= now and p.key not in known],
                            now, rules)
        return {d.post.key for d in decisions if d.pending}, _archived(decisions, now, False)

    def unmailed_archive(
        self, posts: Sequence[Post], since: datetime | None
    ) -> list[Archived]:
        """The published posts recorded as archive imports after `since` (the last
        digest; None = ever) and not included since: what the next digest leaves
        out, for `check` and `digest --preview` to name."""
        # Times are stored in UTC (`record`), so they compare as text; an old
        # import, set aside before the last digest, is not even read.
        after = since.astimezone(UTC).isoformat() if since is not None else ""
        rows = self._conn.execute(
            "SELECT post_key, seen_at, dated, file FROM first_seen "
            "WHERE archived = 1 AND pending = 0 AND included_at IS NULL AND seen_at > ?",
            (after,),
        ).fetchall()
        if not rows:
            return []
        by_key = {p.key: p for p in posts}
        first = self.baseline()
        found = []
        for key, seen_at, dated, file in rows:
            post = by_key.get(key)
            seen = datetime.fromisoformat(seen_at)
            if post is None or (since is not None and seen <= since):
                continue
            found.append(Archived(post.name or file, key, datetime.fromisoformat(dated), seen,
                                  first is not None and seen == first))
        return sorted(found, key=lambda a: (a.dated, a.file))

    def include(self, post: Post, now: datetime) -> bool:
        """Put `post` into the next digest (`publisher digest --include`), inside
        the caller's transaction. False if it is pending already."""
        row = self._conn.execute(
            "SELECT pending FROM first_seen WHERE post_key = ?", (post.key,)
        ).fetchone()
        now = now.astimezone(UTC)
        if row is None:
            self._conn.execute(
                "INSERT INTO first_seen (post_key, seen_at, dated, file, archived, pending, "
                "included_at) VALUES (?, ?, ?, ?, 0, 1, ?)",
                (post.key, now.isoformat(), post.date.isoformat(), post.name, now.isoformat()),
            )
            return True
        if row[0]:
            return False
        self._conn.execute(
            "UPDATE first_seen SET pending = 1, included_at = ? WHERE post_key = ?",
            (now.isoformat(), post.key),
        )
        return True

    def mark_mailed(self, keys: Iterable[str]) -> None:
        """Inside the transaction that records a digest: its posts are no longer pending."""
        self._conn.executemany(
            "UPDATE first_seen SET pending = 0 WHERE post_key = ? AND pending = 1",
            [(k,) for k in keys],
        )
