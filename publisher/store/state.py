"""The SQLite file behind the store: opening it, its migrations, transactions, errors.

It lives outside `out/` (default `.publisher/state.db`). Schema changes are
ordered, named migrations recorded in the `migrations` table; a database from
a newer publisher is refused rather than guessed at. `store.Store` is what
the rest of publisher uses; this module is its SQLite plumbing.
"""

from __future__ import annotations

import os
import sqlite3
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from pathlib import Path

from ..errors import StateError
from ..files import hint_for, make_private_folder, reason

MIGRATIONS: list[tuple[str, str]] = [
    (
        "0001_digests",
        """
        CREATE TABLE digests (
            id INTEGER PRIMARY KEY,
            slug TEXT NOT NULL UNIQUE,
            issued_at TEXT NOT NULL,
            cutoff TEXT NOT NULL,
            subject TEXT NOT NULL,
            html TEXT NOT NULL,
            text TEXT NOT NULL,
            more INTEGER NOT NULL DEFAULT 0
        );
        CREATE TABLE digest_posts (
            digest_id INTEGER NOT NULL REFERENCES digests(id),
            post_key TEXT NOT NULL,
            position INTEGER NOT NULL,
            title TEXT NOT NULL,
            url TEXT NOT NULL,
            PRIMARY KEY (digest_id, post_key)
        );
        CREATE INDEX digest_posts_key ON digest_posts(post_key);
        """,
    ),
    (
        "0002_subscribers_and_sends",
        """
        CREATE TABLE subscribers (
            id INTEGER PRIMARY KEY,
            email TEXT NOT NULL,
            email_key TEXT NOT NULL UNIQUE,
            name TEXT NOT NULL DEFAULT '',
            status TEXT NOT NULL DEFAULT 'active'
                CHECK (status IN ('active', 'unsubscribed', 'bounced')),
            failures INTEGER NOT NULL DEFAULT 0,
            created_at TEXT NOT NULL,
            updated_at TEXT NOT NULL
        );
        CREATE TABLE sends (
            digest_id INTEGER NOT NULL REFERENCES digests(id),
            subscriber_id INTEGER NOT NULL REFERENCES subscribers(id) ON DELETE CASCADE,
            status TEXT NOT NULL DEFAULT 'pending'
                CHECK (status IN ('pending', 'sent', 'failed', 'skipped')),
            attempts INTEGER NOT NULL DEFAULT 0,
            last_error TEXT NOT NULL DEFAULT '',
            sent_at TEXT,
            PRIMARY KEY (digest_id, subscriber_id)
        );
        CREATE INDEX sends_status ON sends(status, digest_id);
        CREATE INDEX sends_subscriber ON sends(subscriber_id);
        """,
    ),
    (
        # Small named values the scheduler needs across restarts, such as when
        # the digest job last ran (it may have run and issued nothing).
        "0003_meta",
        """
        CREATE TABLE meta (
            key TEXT PRIMARY KEY,
            value TEXT NOT NULL
        );
        """,
    ),
    (
        # Double opt-in: `pending` until the address is confirmed, never mailed
        # a digest. SQLite cannot alter a CHECK, so the table is rebuilt with
        # the same ids (sends refer to them), foreign keys off meanwhile (see
        # `migrate`): dropping the old table would otherwise cascade to sends.
        "0004_pending_subscribers",
        """
        CREATE TABLE subscribers_new (
            id INTEGER PRIMARY KEY,
            email TEXT NOT NULL,
            email_key TEXT NOT NULL UNIQUE,
            name TEXT NOT NULL DEFAULT '',
            status TEXT NOT NULL DEFAULT 'active'
                CHECK (status IN ('pending', 'active', 'unsubscribed', 'bounced')),
            failures INTEGER NOT NULL DEFAULT 0,
            created_at TEXT NOT NULL,
            updated_at TEXT NOT NULL,
            confirmed_at TEXT
        );
        INSERT INTO subscribers_new
            (id, email, email_key, name, status, failures, created_at, updated_at)
            SELECT id, email, email_key, name, status, failures, created_at, updated_at
            FROM subscribers;
        DROP TABLE subscribers;
        ALTER TABLE subscribers_new RENAME TO subscribers;
        CREATE INDEX subscribers_status ON subscribers(status)
        """,
    ),
    (
        # The entry id each post of a Jekyll site was first published under,
        # by its file: a later permalink or domain change keeps it (entry_ids.py).
        "0005_entry_ids",
        """
        CREATE TABLE entry_ids (
            post_name TEXT PRIMARY KEY,
            entry_id TEXT NOT NULL,
            first_published TEXT NOT NULL
        );
        """,
    ),
    (
        # When a run first saw each post published (store/seen.py): the digest
        # selects by this, not by the post's date. `pending` = goes into the
        # next digest; `archived` = an archive import, never mailed unless
        # `publisher digest --include` asks for it.
        "0006_first_seen",
        """
        CREATE TABLE first_seen (
            post_key TEXT PRIMARY KEY,
            seen_at TEXT NOT NULL,
            dated TEXT NOT NULL,
            file TEXT NOT NULL,
            archived INTEGER NOT NULL DEFAULT 0,
            pending INTEGER NOT NULL DEFAULT 0,
            included_at TEXT
        );
        CREATE INDEX first_seen_pending ON first_seen(post_key) WHERE pending = 1
        """,
    ),
    (
        # Bounces and complaints read after the SMTP session (mail/bounces.py):
        # each report message once (`bounce_messages`), each event once per
        # subscriber and digest (`bounce_events`); the transport that took each
        # message (`sends.via`); a first name for the greeting.
        "0007_bounces_and_first_names",
        """
        CREATE TABLE bounce_messages (
            key TEXT PRIMARY KEY,
            processed_at TEXT NOT NULL,
            kind TEXT NOT NULL,
            detail TEXT NOT NULL DEFAULT ''
        );
        CREATE TABLE bounce_events (
            subscriber_id INTEGER NOT NULL REFERENCES subscribers(id) ON DELETE CASCADE,
            digest_id INTEGER NOT NULL,
            kind TEXT NOT NULL CHECK (kind IN ('hard', 'soft', 'complaint')),
            at TEXT NOT NULL,
            detail TEXT NOT NULL DEFAULT '',
            PRIMARY KEY (subscriber_id, digest_id, kind)
        );
        ALTER TABLE sends ADD COLUMN via TEXT NOT NULL DEFAULT '';
        ALTER TABLE subscribers ADD COLUMN first_name TEXT NOT NULL DEFAULT ''
        """,
    ),
    (
        # Local parts compared case-insensitively, as every large provider
        # does: `Ann@x.org` and `ann@x.org` become one subscriber (the oldest
        # row, its address kept as written for sending). The merged status is
        # the safest one (unsubscribed, then bounced, then active, then
        # pending); a digest one copy already went out for stays sent.
        "0008_case_insensitive_local_parts",
        """
        CREATE TEMP TABLE merge_map AS
            SELECT s.id AS old_id, k.keep_id AS keep_id
            FROM subscribers s
            JOIN (SELECT lower(email_key) AS lk, MIN(id) AS keep_id FROM subscribers
                  GROUP BY lower(email_key) HAVING COUNT(*) > 1) k
              ON lower(s.email_key) = k.lk
            WHERE s.id != k.keep_id;
        UPDATE subscribers SET
            status = (
                SELECT CASE
                    WHEN SUM(o.status = 'unsubscribed') > 0 THEN 'unsubscribed'
                    WHEN SUM(o.status = 'bounced') > 0 THEN 'bounced'
                    WHEN SUM(o.status = 'active') > 0 THEN 'active'
                    ELSE 'pending' END
                FROM subscribers o WHERE lower(o.email_key) = lower(subscribers.email_key)),
            failures = (SELECT MAX(o.failures) FROM subscribers o
                        WHERE lower(o.email_key) = lower(subscribers.email_key)),
            name = CASE WHEN name != '' THEN name ELSE COALESCE(
                (SELECT o.name FROM subscribers o
                 WHERE lower(o.email_key) = lower(subscribers.email_key) AND o.name != ''
                 ORDER BY o.id LIMIT 1), '') END
            WHERE id IN (SELECT keep_id FROM merge_map);
        UPDATE sends SET status = 'sent', sent_at = (
                SELECT o.sent_at FROM sends o JOIN merge_map m ON m.old_id = o.subscriber_id
                WHERE m.keep_id = sends.subscriber_id AND o.digest_id = sends.digest_id
                  AND o.status = 'sent' LIMIT 1)
            WHERE status != 'sent' AND EXISTS (
                SELECT 1 FROM sends o JOIN merge_map m ON m.old_id = o.subscriber_id
                WHERE m.keep_id = sends.subscriber_id AND o.digest_id = sends.digest_id
                  AND o.status = 'sent');
        DELETE FROM sends WHERE subscriber_id IN (SELECT old_id FROM merge_map) AND EXISTS (
            SELECT 1 FROM sends k JOIN merge_map m ON m.keep_id = k.subscriber_id
            WHERE m.old_id = sends.subscriber_id AND k.digest_id = sends.digest_id);
        UPDATE sends SET subscriber_id = (
                SELECT keep_id FROM merge_map WHERE old_id = sends.subscriber_id)
            WHERE subscriber_id IN (SELECT old_id FROM merge_map);
        UPDATE OR IGNORE bounce_events SET subscriber_id = (
                SELECT keep_id FROM merge_map WHERE old_id = bounce_events.subscriber_id)
            WHERE subscriber_id IN (SELECT old_id FROM merge_map);
        DELETE FROM bounce_events WHERE subscriber_id IN (SELECT old_id FROM merge_map);
        DELETE FROM subscribers WHERE id IN (SELECT old_id FROM merge_map);
        UPDATE subscribers SET email_key = lower(email_key) WHERE email_key != lower(email_key);
        DROP TABLE temp.merge_map
        """,
    ),
    (
        # Every MAC is now keyed per list (mail/tokens.py ListKeys). A store
        # that already held subscribers made tokens, VERP addresses and
        # Message-IDs signed with PUBLISHER_SECRET alone, which mail still
        # carries: `macs.legacy` says to keep accepting them here; a store made
        # since never made any and accepts none. And what each bounce-mailbox
        # message turned out to be (mail/bounces.py): verified, unverified,
        # forged, another list's.
        "0009_list_keys_and_report_outcomes",
        """
        INSERT OR IGNORE INTO meta (key, value)
            SELECT 'macs.legacy', datetime('now')
            WHERE EXISTS (SELECT 1 FROM subscribers) OR EXISTS (SELECT 1 FROM digests);
        ALTER TABLE bounce_messages ADD COLUMN outcome TEXT NOT NULL DEFAULT ''
        """,
    ),
    (
        # The list's own mail waiting to go out (store/mailqueue.py): a
        # confirmation is queued with the sign-up and sent, retried, or dropped
        # with the sign-up when its link expires. Times are Unix seconds.
        "0010_mail_queue",
        """
        CREATE TABLE mail_queue (
            id INTEGER PRIMARY KEY,
            kind TEXT NOT NULL CHECK (kind IN ('confirm')),
            subscriber_id INTEGER NOT NULL REFERENCES subscribers(id) ON DELETE CASCADE,
            link TEXT NOT NULL,
            state TEXT NOT NULL DEFAULT 'waiting'
                CHECK (state IN ('waiting', 'sent', 'refused')),
            queued_at REAL NOT NULL,
            expires_at REAL NOT NULL,
            next_try REAL NOT NULL,
            claimed_until REAL NOT NULL DEFAULT 0,
            attempts INTEGER NOT NULL DEFAULT 0,
            last_error TEXT NOT NULL DEFAULT '',
            sent_at REAL,
            requests INTEGER NOT NULL DEFAULT 1,
            UNIQUE (kind, subscriber_id)
        );
        CREATE INDEX mail_queue_waiting ON mail_queue(next_try) WHERE state = 'waiting';
        CREATE INDEX mail_queue_expires ON mail_queue(expires_at)
        """,
    ),
]


@contextmanager
def transaction(conn: sqlite3.Connection, path: Path) -> Iterator[None]:
    """BEGIN IMMEDIATE: take the write lock up front so two writers queue.

    Inside a transaction already open on `conn`, the work joins it: the outer
    one commits or rolls back. An SQLite error (a full disk, a read-only
    file) leaves as a StateError naming the file; the transaction is rolled
    back, nothing half-done."""
    if conn.in_transaction:
        yield
        return
    try:
        conn.execute("BEGIN IMMEDIATE")
        try:
            yield
        except BaseException:
            rollback(conn)
            raise
        try:
            conn.execute("COMMIT")
        except sqlite3.Error:
            rollback(conn)
            raise
    except sqlite3.Error as exc:
        raise state_error(path, exc) from exc


def connect(path: Path) -> sqlite3.Connection:
    """Open the state store at `path`, creating and migrating it as needed.

    StateError, naming the path and what to do, when its folder cannot be
    created or the database cannot be opened, written or understood.
    """
    try:
        # Private to its owner, like the file: it holds every address.
        # A .gitignore in it when it is new: see `make_private_folder`.
        make_private_folder(path.parent)
    except OSError as exc:
        raise StateError(
            f"{path.parent}: cannot create the state folder: {reason(exc)}",
            hint=hint_for(path, exc),
        ) from exc
    try:
        _create_private(path)
    except OSError as exc:
        raise StateError(
            f"{path}: cannot create the state store: {reason(exc)}", hint=hint_for(path, exc)
        ) from exc
    conn: sqlite3.Connection | None = None
    try:
        conn = sqlite3.connect(path, timeout=30, isolation_level=None)
        conn.execute("PRAGMA journal_mode=WAL")
        conn.execute("PRAGMA synchronous=NORMAL")
        conn.execute("PRAGMA foreign_keys=ON")
        migrate(conn)
    except BaseException as exc:
        if conn is not None:
            conn.close()
        if isinstance(exc, sqlite3.DatabaseError):
            raise StateError(
                f"{path}: cannot open the state store: {exc}", hint=_open_hint(path, exc)
            ) from exc
        raise
    return conn


def rollback(conn: sqlite3.Connection) -> None:
    """Roll back if a transaction is still open: SQLite has already rolled
    back by itself after some errors ("database or disk is full")."""
    if conn.in_transaction:
        with suppress(sqlite3.Error):
            conn.execute("ROLLBACK")


def driver_error(exc: BaseException) -> StateError | None:
    """`exc` in words if the driver raised it (a failure the store did not
    expect: a full disk, a read-only folder); None for anything else."""
    if isinstance(exc, sqlite3.Error):
        return state_error(None, exc, "failed")
    return None


def state_error(path: Path | None, exc: sqlite3.Error, doing: str = "cannot write") -> StateError:
    """`exc` as a StateError: the file, SQLite's words, and what to do."""
    if path is None:  # SQLite could not even say which file
        return StateError(
            f"the state store: {doing}: {exc}",
            hint="check the disk that holds [state] path (free space, permissions), then "
            "run again",
        )
    return StateError(f"{path}: {doing}: {exc}", hint=_open_hint(path, exc))


def path_of(conn: sqlite3.Connection) -> Path | None:
    """The file behind `conn`, for messages; None if SQLite cannot say."""
    try:
        row = conn.execute("PRAGMA database_list").fetchone()
    except sqlite3.Error:
        return None
    return Path(row[2]) if row and row[2] else None


def _open_hint(path: Path, exc: sqlite3.Error) -> str:
    """What to do, by SQLite's error name (SQLITE_CANTOPEN, SQLITE_READONLY_...)."""
    name = getattr(exc, "sqlite_errorname", "")
    folder = path.parent
    if name.startswith("SQLITE_CANTOPEN"):
        return (
            f"check that {path} is a file (or absent) and that this user may write to "
            f"{folder}; or set [state] path in publisher.toml"
        )
    if name.startswith(("SQLITE_READONLY", "SQLITE_PERM", "SQLITE_AUTH")):
        return (
            f"check that this user may write to {path} and to {folder} "
            "(SQLite keeps -wal and -shm files next to the database)"
        )
    if name.startswith("SQLITE_FULL") or (name.startswith("SQLITE_IOERR") and _nearly_full(folder)):
        # A full disk shows as "disk I/O error" too, when SQLite cannot grow
        # its -shm or -wal file.
        return f"free some space on the disk that holds {folder}, then run again"
    if name.startswith("SQLITE_IOERR"):
        return (
            f"the disk that holds {folder} failed a read or write: check it (the system "
            "log says more), then run again"
        )
    if name.startswith(("SQLITE_BUSY", "SQLITE_LOCKED")):
        return "another process is holding the database: try again when it has finished"
    return "check the file is a publisher state database and not in use elsewhere"


def _nearly_full(folder: Path) -> bool:
    """Less than a megabyte free where the state store lives."""
    try:
        st = os.statvfs(folder)
    except OSError:
        return False
    return st.f_bavail * st.f_frsize < 1 << 20


def migrate(conn: sqlite3.Connection) -> None:
    conn.execute(
        "CREATE TABLE IF NOT EXISTS migrations (name TEXT PRIMARY KEY, applied_at TEXT NOT NULL)"
    )
    applied = {r[0] for r in conn.execute("SELECT name FROM migrations")}
    known = {name for name, _ in MIGRATIONS}
    unknown = applied - known
    if unknown:
        raise StateError(
            f"state store has migrations this publisher does not know: {sorted(unknown)}",
            hint="upgrade publisher; this database was written by a newer version",
        )
    for name, sql in MIGRATIONS:
        if name in applied:
            continue
        _apply(conn, name, sql)


def _apply(conn: sqlite3.Connection, name: str, sql: str) -> None:
    """One migration in one transaction, with foreign keys off (SQLite's recipe
    for rebuilding a table) and checked before the commit."""
    enforced = conn.execute("PRAGMA foreign_keys").fetchone()[0]
    conn.execute("PRAGMA foreign_keys=OFF")  # a no-op inside a transaction: set it before
    try:
        conn.execute("BEGIN IMMEDIATE")
        try:
            # Another process may have applied it while we waited for the lock.
            if conn.execute("SELECT 1 FROM migrations WHERE name = ?", (name,)).fetchone():
                conn.execute("ROLLBACK")
                return
            for statement in sql.split(";"):
                if statement.strip():
                    conn.execute(statement)
            broken = conn.execute("PRAGMA foreign_key_check").fetchall()
            if broken:
                raise StateError(
                    f"migration {name} would break {len(broken)} references; nothing changed",
                    hint="report this; the state store was left as it was",
                )
            conn.execute(
                "INSERT INTO migrations (name, applied_at) VALUES (?, datetime('now'))", (name,)
            )
        except BaseException:
            conn.execute("ROLLBACK")
            raise
        conn.execute("COMMIT")
    finally:
        conn.execute(f"PRAGMA foreign_keys={'ON' if enforced else 'OFF'}")


def _create_private(path: Path) -> None:
    """Create the store readable by its owner only (it holds addresses); SQLite
    gives its -wal and -shm files the same mode. An existing file is left as is."""
    with suppress(FileExistsError):
        os.close(os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600))
