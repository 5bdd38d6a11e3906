"""The digests issued: their letters, and the posts each one holds."""

from __future__ import annotations

import sqlite3
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime


@dataclass(frozen=True)
class DigestRecord:
    id: int
    slug: str
    issued_at: datetime
    cutoff: datetime
    subject: str
    html: str
    text: str
    more: int
    post_keys: tuple[str, ...]


@dataclass(frozen=True)
class Issued:
    """One line of the archive: a digest without its bodies."""

    slug: str
    subject: str
    issued_at: datetime
    posts: int


class Digests:
    """The `digests` and `digest_posts` tables."""

    def __init__(self, conn: sqlite3.Connection) -> None:
        self._conn = conn

    def last_cutoff(self) -> datetime | None:
        """The newest digest's cutoff, without loading its HTML."""
        row = self._conn.execute(
            "SELECT cutoff FROM digests ORDER BY id DESC LIMIT 1"
        ).fetchone()
        return datetime.fromisoformat(row[0]) if row else None

    def last_id(self) -> int | None:
        row = self._conn.execute("SELECT max(id) FROM digests").fetchone()
        return row[0] if row else None

    def last(self) -> DigestRecord | None:
        row = self._conn.execute("SELECT id FROM digests ORDER BY id DESC LIMIT 1").fetchone()
        return self.get(row[0]) if row else None

    def get(self, digest_id: int) -> DigestRecord | None:
        row = self._conn.execute(
            "SELECT id, slug, issued_at, cutoff, subject, html, text, more "
            "FROM digests WHERE id = ?",
            (digest_id,),
        ).fetchone()
        if row is None:
            return None
        keys = tuple(
            r[0]
            for r in self._conn.execute(
                "SELECT post_key FROM digest_posts WHERE digest_id = ? ORDER BY position",
                (digest_id,),
            )
        )
        return DigestRecord(
            id=row[0],
            slug=row[1],
            issued_at=datetime.fromisoformat(row[2]),
            cutoff=datetime.fromisoformat(row[3]),
            subject=row[4],
            html=row[5],
            text=row[6],
            more=row[7],
            post_keys=keys,
        )

    def id_of(self, slug: str) -> int | None:
        """The id of digest `slug`, or None."""
        row = self._conn.execute("SELECT id FROM digests WHERE slug = ?", (slug,)).fetchone()
        return row[0] if row else None

    def slug_of(self, digest_id: int) -> str | None:
        """The slug of digest `digest_id`, or None."""
        row = self._conn.execute(
            "SELECT slug FROM digests WHERE id = ?", (digest_id,)
        ).fetchone()
        return row[0] if row else None

    def first_with(self, post_key: str) -> str | None:
        """The slug of the first digest that holds post `post_key`, or None."""
        row = self._conn.execute(
            "SELECT d.slug FROM digest_posts p JOIN digests d ON d.id = p.digest_id "
            "WHERE p.post_key = ? ORDER BY d.id LIMIT 1",
            (post_key,),
        ).fetchone()
        return row[0] if row else None

    def issued(self) -> list[Issued]:
        """Every digest issued, newest first, without loading their bodies."""
        rows = self._conn.execute(
            "SELECT d.slug, d.subject, d.issued_at, "
            "(SELECT COUNT(*) FROM digest_posts p WHERE p.digest_id = d.id) "
            "FROM digests d ORDER BY d.id DESC"
        )
        return [Issued(r[0], r[1], datetime.fromisoformat(r[2]), int(r[3])) for r in rows]

    def digested_keys(self, keys: Sequence[str]) -> set[str]:
        """Which of `keys` are already in some digest."""
        return digested(self._conn, keys)

    def free_slug(self, base: str) -> str:
        taken = {
            r[0]
            for r in self._conn.execute(
                "SELECT slug FROM digests WHERE slug = ? OR slug LIKE ?", (base, base + "-%")
            )
        }
        if base not in taken:
            return base
        n = 2
        while f"{base}-{n}" in taken:
            n += 1
        return f"{base}-{n}"

    def record(
        self,
        *,
        slug: str,
        issued_at: datetime,
        cutoff: datetime,
        subject: str,
        html: str,
        text: str,
        more: int,
        posts: Sequence[tuple[str, str, str]],
    ) -> int:
        """Insert a digest and its posts (key, title, url), inside the caller's transaction."""
        cur = self._conn.execute(
            "INSERT INTO digests (slug, issued_at, cutoff, subject, html, text, more) "
            "VALUES (?, ?, ?, ?, ?, ?, ?)",
            (slug, issued_at.isoformat(), cutoff.isoformat(), subject, html, text, more),
        )
        digest_id = cur.lastrowid
        assert digest_id is not None
        self._conn.executemany(
            "INSERT INTO digest_posts (digest_id, post_key, position, title, url) "
            "VALUES (?, ?, ?, ?, ?)",
            [(digest_id, key, i, title, url) for i, (key, title, url) in enumerate(posts)],
        )
        return digest_id


def digested(conn: sqlite3.Connection, keys: Sequence[str]) -> set[str]:
    """Which of `keys` are already in some digest (for this repository and `seen`)."""
    found: set[str] = set()
    for start in range(0, len(keys), 500):  # SQLite's limit on parameters
        part = list(keys[start : start + 500])
        marks = ",".join("?" * len(part))
        found.update(
            r[0]
            for r in conn.execute(
                f"SELECT post_key FROM digest_posts WHERE post_key IN ({marks})", part
            )
        )
    return found
