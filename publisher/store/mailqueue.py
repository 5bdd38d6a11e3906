"""The list's own mail waiting to go out: today, confirmation links.

A sign-up on the web writes its confirmation here, in the same transaction
that records the address; the message is sent later, by whichever process
drains the queue (`publisher serve`, `publisher run`, `publisher send`; see
mail/outgoing.py), and retried until it is accepted, refused for good, or its
link expires. A mail server that is down for an hour therefore loses nothing.

One row per (kind, subscriber): asking again while a confirmation waits only
gives it the newer link; asking again after it went out sends it once more.
Rows whose link has expired are deleted, and with them the sign-ups that were
never confirmed: nothing is kept of people who did not confirm.

Times are Unix seconds (REAL), compared in SQL. A row being sent is claimed
(`claimed_until`) so that two processes draining the queue do not both send
it; a process killed mid-send leaves a claim that lapses by itself.
"""

from __future__ import annotations

import sqlite3
from dataclasses import dataclass
from typing import Literal, cast

Kind = Literal["confirm"]
MailState = Literal["waiting", "sent", "refused"]


@dataclass(frozen=True)
class Queued:
    """One message to send: whom to, and what it says."""

    id: int
    kind: Kind
    subscriber_id: int
    email: str
    link: str
    expires_at: float
    attempts: int


@dataclass(frozen=True)
class Progress:
    """Where a queued message stands."""

    state: MailState
    queued_at: float
    expires_at: float
    next_try: float
    attempts: int
    last_error: str
    sent_at: float | None


@dataclass(frozen=True)
class Unconfirmed:
    """A pending sign-up, for `subscribers list --status pending`: who waits
    since when, and why (None: nothing queued, as for an import)."""

    email: str
    signed_up: str  # ISO 8601, as stored
    confirmation: Progress | None

class MailQueue:
    """The list's own mail waiting to go out."""

    def __init__(self, conn: sqlite3.Connection) -> None:
        self._conn = conn

    def queue_confirmation(
        self,
        subscriber_id: int,
        link: str,
        expires_at: float,
        now: float,
        allowed: bool,
    ) -> None:
        """Queue (or re-arm) the confirmation for `subscriber_id`, in the caller's transaction.

        The same one statement, and one write, whatever the row's state and
        whether `allowed` (the per-address limit) lets a mail go: the time a
        sign-up takes must not tell what was there before. Not allowed, only the
        request count changes. Allowed, the row gets the new link; one that had
        gone out (or been refused) waits again, and one still waiting keeps its
        place and its backoff.
        """
        self._conn.execute(
            """
            INSERT INTO mail_queue (kind, subscriber_id, link, queued_at, expires_at, next_try)
            VALUES ('confirm', :subscriber, :link, :now, :expires, :now)
            ON CONFLICT (kind, subscriber_id) DO UPDATE SET
                requests = requests + 1,
                link = CASE WHEN :allowed THEN excluded.link ELSE link END,
                expires_at = CASE WHEN :allowed THEN excluded.expires_at ELSE expires_at END,
                queued_at = CASE WHEN :allowed AND state != 'waiting' THEN :now ELSE queued_at END,
                next_try = CASE WHEN :allowed AND state != 'waiting' THEN :now ELSE next_try END,
                attempts = CASE WHEN :allowed AND state != 'waiting' THEN 0 ELSE attempts END,
                last_error = CASE WHEN :allowed AND state != 'waiting' THEN '' ELSE last_error END,
                state = CASE WHEN :allowed THEN 'waiting' ELSE state END
            """,
            {"subscriber": subscriber_id, "link": link, "now": now, "expires": expires_at,
             "allowed": int(allowed)},
        )

    def candidates(self, now: float, due_only: bool = True) -> list[int]:
        """The messages a pass tries, the longest waiting first; each is then
        `claim`ed. With `due_only` False, messages still in their backoff too
        (an operator's `publisher send`)."""
        return [
            r[0]
            for r in self._conn.execute(
                "SELECT id FROM mail_queue WHERE state = 'waiting' AND claimed_until <= :now "
                "AND expires_at > :now AND (next_try <= :now OR NOT :due_only) "
                "ORDER BY next_try, id",
                {"now": now, "due_only": int(due_only)},
            )
        ]

    def claim(self, item_id: int, now: float, lease: float) -> Queued | None:
        """Take message `item_id` for `lease` seconds, in the caller's transaction;
        None if it is no longer waiting or another process has it."""
        row = self._conn.execute(
            "SELECT q.id, q.kind, q.subscriber_id, s.email, q.link, q.expires_at, q.attempts "
            "FROM mail_queue q JOIN subscribers s ON s.id = q.subscriber_id "
            "WHERE q.id = ? AND q.state = 'waiting' AND q.claimed_until <= ? AND q.expires_at > ?",
            (item_id, now, now),
        ).fetchone()
        if row is None:
            return None
        self._conn.execute(
            "UPDATE mail_queue SET claimed_until = ? WHERE id = ?", (now + lease, item_id)
        )
        return Queued(
            id=row[0], kind=cast(Kind, row[1]), subscriber_id=row[2], email=row[3], link=row[4],
            expires_at=row[5], attempts=row[6],
        )

    def mark_sent(self, item: Queued, now: float) -> None:
        """Accepted by the transport. A link re-requested while it was being sent
        stays waiting: the newer link goes out too."""
        self._conn.execute(
            "UPDATE mail_queue SET state = CASE WHEN link = ? THEN 'sent' ELSE state END, "
            "sent_at = ?, attempts = attempts + 1, last_error = '', claimed_until = 0 "
            "WHERE id = ?",
            (item.link, now, item.id),
        )

    def mark_refused(self, item: Queued, error: str) -> None:
        """Refused for good (a 5xx for this address): not tried again."""
        self._conn.execute(
            "UPDATE mail_queue SET state = 'refused', attempts = attempts + 1, last_error = ?, "
            "claimed_until = 0 WHERE id = ?",
            (error, item.id),
        )

    def retry(self, item: Queued, error: str, at: float) -> None:
        """Not sent this time (a 4xx for this address): try again at `at`."""
        self._conn.execute(
            "UPDATE mail_queue SET attempts = attempts + 1, last_error = ?, next_try = ?, "
            "claimed_until = 0 WHERE id = ?",
            (error, at, item.id),
        )

    def hold_all(self, error: str, until: float, now: float) -> int:
        """The mail server failed, not an address: every waiting message (not
        being sent elsewhere) waits until `until` and shows why. Their tries are
        not counted: they were not tried. Returns how many wait."""
        cur = self._conn.execute(
            "UPDATE mail_queue SET last_error = ?, next_try = max(next_try, ?) "
            "WHERE state = 'waiting' AND claimed_until <= ?",
            (error, until, now),
        )
        return cur.rowcount

    def unexplained(self) -> bool:
        """Whether a message waits that has not been told why (queued since the
        server last failed)."""
        row = self._conn.execute(
            "SELECT 1 FROM mail_queue WHERE state = 'waiting' AND last_error = '' LIMIT 1"
        ).fetchone()
        return row is not None

    def waiting(self) -> int:
        cur = self._conn.execute("SELECT COUNT(*) FROM mail_queue WHERE state = 'waiting'")
        return int(cur.fetchone()[0])

    def next_due(self) -> float | None:
        """When the next waiting message may be tried (it may be in the past)."""
        row = self._conn.execute(
            "SELECT min(max(next_try, claimed_until)) FROM mail_queue WHERE state = 'waiting'"
        ).fetchone()
        return None if row[0] is None else float(row[0])

    def purge_expired(self, now: float) -> tuple[str, ...]:
        """Delete what an expired link leaves: the sign-ups never confirmed (their
        rows, their queued mail, anything else of theirs, by the foreign keys'
        cascades) and the expired rows of everyone else. Returns the addresses
        removed."""
        gone = self._conn.execute(
            "SELECT s.id, s.email FROM mail_queue q JOIN subscribers s "
            "ON s.id = q.subscriber_id WHERE q.expires_at <= ? AND s.status = 'pending'",
            (now,),
        ).fetchall()
        self._conn.executemany("DELETE FROM sends WHERE subscriber_id = ?", [(r[0],) for r in gone])
        self._conn.executemany("DELETE FROM subscribers WHERE id = ?", [(r[0],) for r in gone])
        self._conn.execute("DELETE FROM mail_queue WHERE expires_at <= ?", (now,))
        return tuple(r[1] for r in gone)

    def unconfirmed(self) -> list[Unconfirmed]:
        """Every pending subscriber with their confirmation's progress, oldest first."""
        rows = self._conn.execute(
            "SELECT s.email, s.created_at, q.state, q.queued_at, q.expires_at, q.next_try, "
            "q.attempts, q.last_error, q.sent_at FROM subscribers s "
            "LEFT JOIN mail_queue q ON q.subscriber_id = s.id AND q.kind = 'confirm' "
            "WHERE s.status = 'pending' ORDER BY s.id"
        )
        return [
            Unconfirmed(
                email=r[0], signed_up=r[1],
                confirmation=None if r[2] is None else Progress(
                    state=cast(MailState, r[2]), queued_at=r[3], expires_at=r[4], next_try=r[5],
                    attempts=r[6], last_error=r[7], sent_at=r[8],
                ),
            )
            for r in rows
        ]
