"""The store under the web app: pending subscribers, the migration that allows them,
a private state file, and unsubscribes that land while a send is running."""

from __future__ import annotations

import sqlite3
import stat
from pathlib import Path

import pytest

from publisher.app.pipeline import publish
from publisher.mail.delivery import deliver_pending
from publisher.store.state import MIGRATIONS
from publisher.store.store import Store

from .delivery_support import NOW, SECRET, make_site, write_post

OLD = [m for m in MIGRATIONS if m[0] < "0004"]


def old_database(path: Path) -> None:
    """A store as publisher wrote it before pending subscribers existed."""
    conn = sqlite3.connect(path, isolation_level=None)
    conn.execute("CREATE TABLE migrations (name TEXT PRIMARY KEY, applied_at TEXT NOT NULL)")
    for name, sql in OLD:
        conn.executescript(sql)
        conn.execute("INSERT INTO migrations VALUES (?, 'then')", (name,))
    conn.executescript(
        """
        INSERT INTO subscribers (id, email, email_key, name, status, failures, created_at,
            updated_at) VALUES
            (5, 'ann@example.com', 'ann@example.com', 'Ann', 'active', 0, 't', 't'),
            (9, 'bob@example.com', 'bob@example.com', '', 'bounced', 3, 't', 't');
        INSERT INTO digests (id, slug, issued_at, cutoff, subject, html, text)
            VALUES (1, '2026-01-01', '2026-01-01T00:00:00+00:00',
                    '2026-01-01T00:00:00+00:00', 's', 'h', 't');
        INSERT INTO sends (digest_id, subscriber_id, status) VALUES (1, 5, 'sent'),
            (1, 9, 'pending');
        """
    )
    conn.close()


def test_migration_keeps_ids_and_sends_and_allows_pending(tmp_path: Path) -> None:
    path = tmp_path / "state.db"
    old_database(path)
    state = Store.open(path)
    try:
        conn = state._conn
        rows = conn.execute("SELECT id, email, status, failures FROM subscribers").fetchall()
        assert rows == [(5, "ann@example.com", "active", 0), (9, "bob@example.com", "bounced", 3)]
        assert conn.execute(
            "SELECT digest_id, subscriber_id, status, attempts, last_error, sent_at "
            "FROM sends ORDER BY subscriber_id"
        ).fetchall() == [
            (1, 5, "sent", 0, "", None), (1, 9, "pending", 0, "", None)
        ]
        assert conn.execute("PRAGMA foreign_keys").fetchone()[0] == 1
        assert conn.execute("PRAGMA foreign_key_check").fetchall() == []
        with state.transaction():
            created, new = state.subscribers.add_pending("cy@example.com", "Cy", NOW)
        assert new and created.status == "pending"
        # Still the real foreign key: deleting a subscriber takes their sends along.
        with state.transaction():
            state.subscribers.remove("ann@example.com")
        assert conn.execute("SELECT COUNT(*) FROM sends").fetchone()[0] == 1
        with pytest.raises(sqlite3.IntegrityError):
            conn.execute("UPDATE subscribers SET status = 'nonsense' WHERE id = 9")
    finally:
        state.close()
    again = Store.open(path)  # applied once only
    again.close()


def test_state_file_is_created_private(tmp_path: Path) -> None:
    path = tmp_path / "new" / "state.db"
    Store.open(path).close()
    assert stat.S_IMODE(path.stat().st_mode) == 0o600


def test_pending_is_never_mailed_and_operator_add_activates(tmp_path: Path,
                                                           monkeypatch: pytest.MonkeyPatch
                                                           ) -> None:
    monkeypatch.setenv("PUBLISHER_SECRET", SECRET)
    config = make_site(tmp_path)
    state = Store.open(config.state_file)
    try:
        with state.transaction():
            state.subscribers.add("active@example.com", "", NOW)
            state.subscribers.add_pending("pending@example.com", "", NOW)
            state.subscribers.add_pending("also-pending@example.com", "", NOW)
            # A sign-up for an address already on the list changes nothing.
            same, created = state.subscribers.add_pending("active@example.com", "Other Name", NOW)
            assert not created and same.status == "active" and same.name == ""
        assert state.subscribers.counts() == {"active": 1, "unsubscribed": 0, "bounced": 0,
                                           "pending": 2}
        with state.transaction():
            _, changed = state.subscribers.add("also-pending@example.com", "", NOW)
            assert changed  # the operator vouches for it
    finally:
        state.close()
    result = publish(config, NOW)
    assert result.delivery is not None and result.delivery.sent == 2
    outbox = sorted((tmp_path / ".publisher" / "outbox").glob("*.eml"))
    recipients = {p.read_bytes().split(b"\r\n", 1)[0].decode() for p in outbox}
    assert recipients == {"To: active@example.com", "To: also-pending@example.com"}


def test_unsubscribe_during_a_send_is_honoured_from_the_next_message(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("PUBLISHER_SECRET", SECRET)
    config = make_site(tmp_path)
    addresses = [f"reader{i:02d}@example.com" for i in range(20)]
    state = Store.open(config.state_file)
    try:
        with state.transaction():
            for address in addresses:
                state.subscribers.add(address, "", NOW)
    finally:
        state.close()
    write_post(tmp_path, "extra", "Extra", "2026-03-01T09:00:00")
    # Issue without sending: the secret is missing the first time.
    monkeypatch.delenv("PUBLISHER_SECRET")
    assert publish(config, NOW).delivery_error is not None
    monkeypatch.setenv("PUBLISHER_SECRET", SECRET)

    # Another connection (as the web app has) unsubscribes reader15 after the
    # 5th message went out: the send loop read its work list long before.
    other = Store.open(config.state_file)
    seen: list[int] = []

    def progress(done: int, total: int) -> None:
        seen.append(done)
        if done == 5:
            with other.transaction():
                other.subscribers.unsubscribe_key("reader15@example.com", NOW)

    state = Store.open(config.state_file)
    try:
        summary = deliver_pending(config, state, NOW, progress)
        rows = dict(state._conn.execute(
            "SELECT u.email, s.status FROM sends s JOIN subscribers u ON u.id = s.subscriber_id"
        ).fetchall())
        assert state.ledger.current_status(10_000) is None
    finally:
        state.close()
        other.close()
    assert summary.sent == 19 and summary.skipped == 1
    assert rows["reader15@example.com"] == "skipped"
    mailed = {p.read_bytes().split(b"\r\n", 1)[0].decode()[4:]
              for p in (tmp_path / ".publisher" / "outbox").glob("*.eml")}
    assert "reader15@example.com" not in mailed and len(mailed) == 19
