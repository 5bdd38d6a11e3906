"""Bounces and complaints in the state store: each report once, each event once.

`bounce_messages` remembers every report message read (by its Message-ID, or
a hash of its bytes), so reading a mailbox again changes nothing.
`bounce_events` holds at most one event of each kind per (subscriber,
digest), so two reports about the same message count once.

What an event does to the subscriber:

- hard bounce: `bounced` (an active subscriber) at once;
- complaint (someone pressed "This is spam"): `unsubscribed`, whatever the
  status was: mailing them again hurts every other subscriber's delivery;
- soft bounce: one failure. `max_failures` failures in a row make them
  `bounced`, counting over the digests sent to them, newest first: a digest
  the server refused (`failed` in the send ledger) or one that came back as
  a bounce is a failure; one that was accepted and never came back ends the
  run. A soft bounce arrives after the message was accepted, so this cannot
  be the SMTP session's own counter, which every acceptance resets.
"""

from __future__ import annotations

import sqlite3
from datetime import datetime
from typing import Literal

Kind = Literal["hard", "soft", "complaint"]
Outcome = Literal["bounced", "unsubscribed", "counted", "repeated", "unchanged"]


def known(conn: sqlite3.Connection, key: str) -> bool:
    row = conn.execute("SELECT 1 FROM bounce_messages WHERE key = ?", (key,)).fetchone()
    return row is not None


def remember(conn: sqlite3.Connection, key: str, kind: str, detail: str, now: datetime) -> None:
    """Mark a report message read (inside the caller's transaction)."""
    conn.execute(
        "INSERT OR IGNORE INTO bounce_messages (key, processed_at, kind, detail) "
        "VALUES (?, ?, ?, ?)",
        (key, now.isoformat(), kind, detail[:500]),
    )


def latest_sent(conn: sqlite3.Connection, subscriber_id: int) -> int:
    """The newest digest sent to the subscriber (for a report without VERP); 0 if none."""
    row = conn.execute(
        "SELECT MAX(digest_id) FROM sends WHERE subscriber_id = ? AND status = 'sent'",
        (subscriber_id,),
    ).fetchone()
    return int(row[0]) if row and row[0] is not None else 0


def failures_in_a_row(conn: sqlite3.Connection, subscriber_id: int, upto: int) -> int:
    """Failures in a row over the digests sent to the subscriber up to digest `upto`."""
    rows = conn.execute(
        "SELECT s.digest_id, s.status, EXISTS (SELECT 1 FROM bounce_events e "
        "  WHERE e.subscriber_id = s.subscriber_id AND e.digest_id = s.digest_id "
        "  AND e.kind IN ('hard', 'soft')) "
        "FROM sends s WHERE s.subscriber_id = ? AND s.digest_id <= ? "
        "AND s.status IN ('sent', 'failed') ORDER BY s.digest_id DESC",
        (subscriber_id, upto),
    )
    count = 0
    for _digest_id, status, bounced in rows:
        if status == "failed" or bounced:
            count += 1
        else:
            break
    return count


def apply(
    conn: sqlite3.Connection,
    subscriber_id: int,
    digest_id: int,
    kind: Kind,
    detail: str,
    max_failures: int,
    now: datetime,
) -> Outcome:
    """Record one event and act on it (inside the caller's transaction)."""
    row = conn.execute("SELECT status FROM subscribers WHERE id = ?", (subscriber_id,)).fetchone()
    if row is None:
        return "unchanged"  # removed since
    status = row[0]
    cur = conn.execute(
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
        conn.execute(
            "UPDATE subscribers SET status = 'unsubscribed', updated_at = ? WHERE id = ?",
            (stamp, subscriber_id),
        )
        return "unsubscribed"
    if kind == "soft":
        run = failures_in_a_row(conn, subscriber_id, digest_id or 2**62)
        conn.execute(
            "UPDATE subscribers SET failures = MAX(failures, ?), updated_at = ? WHERE id = ?",
            (run, stamp, subscriber_id),
        )
        if run < max_failures:
            return "counted"
    if status != "active":
        return "unchanged"
    conn.execute(
        "UPDATE subscribers SET status = 'bounced', updated_at = ? WHERE id = ?",
        (stamp, subscriber_id),
    )
    return "bounced"
