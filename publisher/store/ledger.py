"""The send ledger: one row per (digest, subscriber), the memory that prevents duplicates.

Rows are created `pending` in the same transaction that records the digest,
for the subscribers active at that moment; a row becomes `sent` in its own
commit right after the transport accepted that message.
"""

from __future__ import annotations

import sqlite3
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING, cast

from .bounces import Bounces
from .state import path_of, rollback, state_error

if TYPE_CHECKING:
    from .subscribers import Status


@dataclass(frozen=True)
class Pending:
    digest_id: int
    subscriber_id: int
    email: str
    name: str
    status: Status  # the subscriber's status now, which may differ from at issue
    attempts: int
    first_name: str = ""


class _commit:
    """One small transaction per ledger change, so a crash loses at most the one
    in flight; inside a transaction already open, the change joins it."""

    def __init__(self, conn: sqlite3.Connection) -> None:
        self.conn = conn
        self.joined = conn.in_transaction

    def __enter__(self) -> None:
        if self.joined:
            return
        try:
            self.conn.execute("BEGIN IMMEDIATE")
        except sqlite3.Error as exc:
            raise state_error(path_of(self.conn), exc) from exc

    def __exit__(self, kind: object, value: object, tb: object) -> None:
        if self.joined:
            return
        if kind is not None:
            rollback(self.conn)
            if isinstance(value, sqlite3.Error):
                raise state_error(path_of(self.conn), value) from value
            return
        try:
            self.conn.execute("COMMIT")
        except sqlite3.Error as exc:
            rollback(self.conn)
            raise state_error(path_of(self.conn), exc) from exc


class Ledger:
    """The send ledger: one row per (digest, subscriber)."""

    def __init__(self, conn: sqlite3.Connection, bounces: Bounces) -> None:
        self._conn = conn
        self._bounces = bounces  # a hard refusal is recorded as a hard bounce

    def enqueue(self, digest_id: int) -> int:
        """Fix a new digest's recipients: every subscriber active now. Returns the count."""
        cur = self._conn.execute(
            "INSERT OR IGNORE INTO sends (digest_id, subscriber_id) "
            "SELECT ?, id FROM subscribers WHERE status = 'active' ORDER BY id",
            (digest_id,),
        )
        return cur.rowcount

    def pending_digests(self) -> list[int]:
        return [
            r[0]
            for r in self._conn.execute(
                "SELECT DISTINCT digest_id FROM sends WHERE status = 'pending' ORDER BY digest_id"
            )
        ]

    def pending_count(self) -> int:
        return int(
            self._conn.execute("SELECT COUNT(*) FROM sends WHERE status = 'pending'").fetchone()[0]
        )

    def pending(self, digest_id: int) -> list[Pending]:
        rows = self._conn.execute(
            "SELECT s.digest_id, s.subscriber_id, u.email, u.name, u.status, s.attempts, "
            "u.first_name "
            "FROM sends s JOIN subscribers u ON u.id = s.subscriber_id "
            "WHERE s.digest_id = ? AND s.status = 'pending' ORDER BY s.subscriber_id",
            (digest_id,),
        )
        return [
            Pending(r[0], r[1], r[2], r[3], cast("Status", r[4]), r[5], r[6]) for r in rows
        ]

    def current_status(self, subscriber_id: int) -> Status | None:
        """The subscriber's status now (None once removed): checked right before
        each message, so an unsubscribe that lands during a send is honoured from
        the next message on. One primary-key read, a few microseconds."""
        row = self._conn.execute(
            "SELECT status FROM subscribers WHERE id = ?", (subscriber_id,)
        ).fetchone()
        return cast("Status", row[0]) if row else None

    def mark_sent(
        self, item: Pending, now: datetime, via: str = "", note: str = ""
    ) -> None:
        """Accepted by the transport `via` ("outbox" or "smtp"): see `outbox_sent`.
        `note`: what is uncertain about it (no reply from the server), or ""."""
        with _commit(self._conn):
            self._conn.execute(
                "UPDATE sends SET status = 'sent', attempts = attempts + 1, sent_at = ?, "
                "last_error = ?, via = ? WHERE digest_id = ? AND subscriber_id = ?",
                (now.isoformat(), note, via, item.digest_id, item.subscriber_id),
            )
            # Bounces count consecutive failures; an accepted message resets them.
            self._conn.execute(
                "UPDATE subscribers SET failures = 0 WHERE id = ? AND failures != 0",
                (item.subscriber_id,),
            )

    def mark_failed(
        self,
        item: Pending,
        error: str,
        max_failures: int,
        now: datetime,
        hard: bool = False,
    ) -> bool:
        """A permanent refusal. Returns True when it made the subscriber `bounced`.

        `hard` (no such mailbox): recorded as the hard bounce a DSN would bring, in
        the same transaction, so the subscriber is bounced at once and a DSN
        about the same message later counts nothing twice."""
        with _commit(self._conn):
            self._conn.execute(
                "UPDATE sends SET status = 'failed', attempts = attempts + 1, last_error = ? "
                "WHERE digest_id = ? AND subscriber_id = ?",
                (error[:500], item.digest_id, item.subscriber_id),
            )
            self._conn.execute(
                "UPDATE subscribers SET failures = failures + 1, updated_at = ? WHERE id = ?",
                (now.isoformat(), item.subscriber_id),
            )
            if hard:
                outcome = self._bounces.apply(
                    item.subscriber_id, item.digest_id, "hard", error, max_failures, now
                )
                return outcome == "bounced"
            cur = self._conn.execute(
                "UPDATE subscribers SET status = 'bounced' "
                "WHERE id = ? AND status = 'active' AND failures >= ?",
                (item.subscriber_id, max_failures),
            )
            return cur.rowcount > 0

    def mark_deferred(self, item: Pending, error: str) -> None:
        """Temporary failures used up this run's retries: stays pending for the next run."""
        with _commit(self._conn):
            self._conn.execute(
                "UPDATE sends SET attempts = attempts + 1, last_error = ? "
                "WHERE digest_id = ? AND subscriber_id = ?",
                (error[:500], item.digest_id, item.subscriber_id),
            )

    def mark_skipped(self, item: Pending, reason: str) -> None:
        with _commit(self._conn):
            self._conn.execute(
                "UPDATE sends SET status = 'skipped', last_error = ? "
                "WHERE digest_id = ? AND subscriber_id = ?",
                (reason, item.digest_id, item.subscriber_id),
            )

    def status_counts(self, digest_id: int) -> dict[str, int]:
        return {
            r[0]: int(r[1])
            for r in self._conn.execute(
                "SELECT status, COUNT(*) FROM sends WHERE digest_id = ? GROUP BY status",
                (digest_id,),
            )
        }

    def outbox_sent(self, digest_id: int) -> list[int]:
        """Subscribers whose copy of a digest the outbox took, rather than a server
        (rows from before the transport was recorded say ""): what switching to
        SMTP would leave unmailed."""
        return [
            r[0]
            for r in self._conn.execute(
                "SELECT subscriber_id FROM sends WHERE digest_id = ? AND status = 'sent' "
                "AND via IN ('outbox', '') ORDER BY subscriber_id",
                (digest_id,),
            )
        ]

    def requeue(self, digest_id: int, subscriber_ids: list[int]) -> int:
        """Make these sent rows pending again (`publisher send --resend-outbox`)."""
        with _commit(self._conn):
            cur = self._conn.executemany(
                "UPDATE sends SET status = 'pending', sent_at = NULL "
                "WHERE digest_id = ? AND subscriber_id = ? AND status = 'sent'",
                [(digest_id, sid) for sid in subscriber_ids],
            )
            return cur.rowcount

    def has(self, subscriber_id: int, digest_id: int) -> bool:
        """Whether digest `digest_id` was addressed to subscriber `subscriber_id`."""
        row = self._conn.execute(
            "SELECT 1 FROM sends WHERE subscriber_id = ? AND digest_id = ?",
            (subscriber_id, digest_id),
        ).fetchone()
        return row is not None

    def recipients(self, slug: str) -> list[tuple[int, int, str]]:
        """(digest id, subscriber id, address) of every row of digest `slug`."""
        return self._conn.execute(
            "SELECT d.id, u.id, u.email FROM digests d JOIN sends s ON s.digest_id = d.id "
            "JOIN subscribers u ON u.id = s.subscriber_id WHERE d.slug = ?",
            (slug,),
        ).fetchall()
