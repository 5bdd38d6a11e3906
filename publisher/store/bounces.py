"""Bounces and complaints in the state store: each report once, each event once.

`bounce_messages` remembers every report message read (by its Message-ID, or
a hash of its bytes) and what it turned out to be (its kind, and for a
bounce or complaint whether it proved itself: `outcome`), so reading a
mailbox again changes nothing.
`bounce_events` holds at most one event of each kind per (subscriber,
digest), so two reports about the same message count once.

What an event does to the subscriber:

- hard bounce: `bounced` (an active subscriber) at once;
- complaint (someone pressed "This is spam"): `unsubscribed`, whatever the
  status was: mailing them again hurts every other subscriber's delivery;
- soft bounce: one failure. `max_failures` failures in a row make them
  `bounced`, counting over the digests sent to them in order: a digest the
  server refused (`failed` in the send ledger) or one that came back as a
  soft bounce is a failure; one that was accepted and never came back ends
  the run. A soft bounce arrives after the message was accepted, so this cannot
  be the SMTP session's own counter, which every acceptance resets.

Reports arrive in any order (a Maildir lists them by file name, IMAP by
arrival), so every soft bounce recomputes the subscriber's runs from all
those recorded, never from "the reports read so far up to this digest":
`failures` is the run that ends at their newest digest (what the next
refusal at SMTP adds to) and they are `bounced` once any run reaches
`max_failures`. Both depend only on the set of events, so the state after
reading a set of reports is the same in every order.
"""

from __future__ import annotations

import sqlite3
from datetime import datetime
from typing import Literal

Kind = Literal["hard", "soft", "complaint"]
Outcome = Literal["bounced", "unsubscribed", "counted", "repeated", "unchanged"]

class Bounces:
    """Report messages read and bounce events recorded."""

    def __init__(self, conn: sqlite3.Connection) -> None:
        self._conn = conn

    def known(self, key: str) -> bool:
        row = self._conn.execute("SELECT 1 FROM bounce_messages WHERE key = ?", (key,)).fetchone()
        return row is not None

    def remember(
        self, key: str, kind: str, detail: str, outcome: str, now: datetime
    ) -> None:
        """Mark a report message read (inside the caller's transaction)."""
        self._conn.execute(
            "INSERT OR IGNORE INTO bounce_messages (key, processed_at, kind, detail, outcome) "
            "VALUES (?, ?, ?, ?, ?)",
            (key, now.isoformat(), kind, detail[:500], outcome),
        )

    def latest_sent(self, subscriber_id: int) -> int:
        """The newest digest sent to the subscriber (for a report without VERP); 0 if none."""
        row = self._conn.execute(
            "SELECT MAX(digest_id) FROM sends WHERE subscriber_id = ? AND status = 'sent'",
            (subscriber_id,),
        ).fetchone()
        return int(row[0]) if row and row[0] is not None else 0

    def runs(self, subscriber_id: int) -> tuple[int, int]:
        """(the run of failures that ends at the newest digest, the longest run)
        over every digest sent to the subscriber, from every soft bounce recorded.
        (A hard bounce needs no count: it makes them `bounced` by itself.)"""
        rows = self._conn.execute(
            "SELECT s.status, EXISTS (SELECT 1 FROM bounce_events e "
            "  WHERE e.subscriber_id = s.subscriber_id AND e.digest_id = s.digest_id "
            "  AND e.kind = 'soft') "
            "FROM sends s WHERE s.subscriber_id = ? "
            "AND s.status IN ('sent', 'failed') ORDER BY s.digest_id",
            (subscriber_id,),
        )
        current = longest = 0
        for status, bounced in rows:
            current = current + 1 if status == "failed" or bounced else 0
            longest = max(longest, current)
        return current, longest

    def apply(
        self,
        subscriber_id: int,
        digest_id: int,
        kind: Kind,
        detail: str,
        max_failures: int,
        now: datetime,
    ) -> Outcome:
        """Record one event and act on it (inside the caller's transaction)."""
        row = self._conn.execute(
            "SELECT status FROM subscribers WHERE id = ?", (subscriber_id,)
        ).fetchone()
        if row is None:
            return "unchanged"  # removed since
        status = row[0]
        cur = self._conn.execute(
            "INSERT OR IGNORE INTO bounce_events (subscriber_id, digest_id, kind, at, detail) "
            "VALUES (?, ?, ?, ?, ?)",
            (subscriber_id, digest_id, kind, now.isoformat(), detail[:500]),
        )
        if cur.rowcount == 0:
            return "repeated"
        stamp = now.isoformat()
        if kind == "complaint":
            if status == "unsubscribed":
                return "unchanged"
            self._conn.execute(
                "UPDATE subscribers SET status = 'unsubscribed', updated_at = ? WHERE id = ?",
                (stamp, subscriber_id),
            )
            return "unsubscribed"
        if kind == "soft":
            # Recomputed from every soft bounce recorded, not just this one: a
            # report for an older digest read late may join two runs.
            current, longest = self.runs(subscriber_id)
            self._conn.execute(
                "UPDATE subscribers SET failures = ?, updated_at = ? WHERE id = ?",
                (current, stamp, subscriber_id),
            )
            if longest < max_failures:
                return "counted"
        if status != "active":
            return "unchanged"
        self._conn.execute(
            "UPDATE subscribers SET status = 'bounced', updated_at = ? WHERE id = ?",
            (stamp, subscriber_id),
        )
        return "bounced"
