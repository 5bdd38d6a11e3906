"""The `Store` object: open and close, transactions that commit or roll back as
a whole with a real SQLite file, repositories that join them, and the rule
that nothing outside publisher.store imports sqlite3."""

from __future__ import annotations

import pkgutil
import sqlite3
import tomllib
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

import publisher
from publisher.errors import StateError
from publisher.store.ledger import Pending
from publisher.store.seen import Rules
from publisher.store.state import MIGRATIONS
from publisher.store.store import Store

NOW = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)
ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture
def path(tmp_path: Path) -> Path:
    return tmp_path / "state" / "state.db"


@pytest.fixture
def store(path: Path) -> Iterator[Store]:
    with Store.open(path) as opened:
        yield opened


def emails(path: Path) -> list[str]:
    """The addresses on the list, read by another connection: what is committed."""
    conn = sqlite3.connect(path)
    try:
        return [r[0] for r in conn.execute("SELECT email FROM subscribers ORDER BY id")]
    finally:
        conn.close()


def test_open_creates_and_migrates_and_close_releases(path: Path) -> None:
    with Store.open(path) as store:
        assert store.path == path
        assert store.subscribers.counts() == {"active": 0, "unsubscribed": 0, "bounced": 0}
        assert store.digests.last() is None
    conn = sqlite3.connect(path)
    try:
        applied = [r[0] for r in conn.execute("SELECT name FROM migrations")]
    finally:
        conn.close()
    assert applied == [name for name, _ in MIGRATIONS]
    with pytest.raises(sqlite3.ProgrammingError):  # closed: the connection is gone
        store.digests.last()


def test_open_refuses_what_is_not_a_store(tmp_path: Path) -> None:
    path = tmp_path / "state.db"
    path.write_bytes(b"not a database, " * 100)
    with pytest.raises(StateError) as caught:
        Store.open(path)
    assert str(path) in caught.value.message


def test_transaction_commits_at_the_end(store: Store, path: Path) -> None:
    with store.transaction():
        store.subscribers.add("ann@example.com", "Ann", NOW)
        assert emails(path) == []  # not yet visible to anyone else
        store.subscribers.add("bob@example.com", "Bob", NOW)
    assert emails(path) == ["ann@example.com", "bob@example.com"]


def test_transaction_rolls_back_as_a_whole(store: Store, path: Path) -> None:
    with pytest.raises(RuntimeError), store.transaction():
        store.subscribers.add("ann@example.com", "Ann", NOW)
        store.meta.set("k", "v")  # a write that is its own transaction alone joins
        raise RuntimeError("half-way")
    assert emails(path) == []
    assert store.meta.get("k") is None
    with store.transaction():  # and the store is usable again
        store.subscribers.add("cy@example.com", "", NOW)
    assert emails(path) == ["cy@example.com"]


def test_sqlite_errors_leave_as_state_error_and_roll_back(store: Store, path: Path) -> None:
    with pytest.raises(StateError) as caught, store.transaction():
        store.subscribers.add("ann@example.com", "Ann", NOW)
        store.subscribers.set_status(1, "nonsense", NOW)  # type: ignore[arg-type]
    assert str(path) in caught.value.message
    assert emails(path) == []


def test_nested_transactions_join_the_outer_one(store: Store, path: Path) -> None:
    with pytest.raises(RuntimeError), store.transaction():
        with store.transaction():
            store.subscribers.add("ann@example.com", "Ann", NOW)
        assert emails(path) == []  # the inner one did not commit
        raise RuntimeError
    assert emails(path) == []


def test_ledger_marks_join_an_open_transaction(store: Store, path: Path) -> None:
    """Alone, each mark is its own commit; inside a transaction it waits for it."""
    with store.transaction():
        ann, _ = store.subscribers.add("ann@example.com", "Ann", NOW)
        digest_id = store.digests.record(
            slug="2026-03-02", issued_at=NOW, cutoff=NOW, subject="S", html="<p>h</p>",
            text="t", more=0, posts=[("k", "Title", "https://example.org/k")],
        )
        assert store.ledger.enqueue(digest_id) == 1
    item = store.ledger.pending(digest_id)[0]
    assert item == Pending(digest_id, ann.id, "ann@example.com", "Ann", "active", 0)
    with pytest.raises(RuntimeError), store.transaction():
        store.ledger.mark_sent(item, NOW, via="outbox")
        raise RuntimeError
    assert store.ledger.status_counts(digest_id) == {"pending": 1}
    store.ledger.mark_sent(item, NOW, via="outbox")  # alone: committed at once
    other = Store.open(path)
    try:
        assert other.ledger.status_counts(digest_id) == {"sent": 1}
    finally:
        other.close()


def test_seen_record_joins_an_open_transaction(store: Store) -> None:
    rules = Rules(backdated=timedelta(days=30), first_window=timedelta(days=7))
    with pytest.raises(RuntimeError), store.transaction():
        store.seen.record([], NOW, rules)
        assert store.seen.baseline() == NOW
        raise RuntimeError
    assert store.seen.baseline() is None


def test_empty_store_is_migrated_in_memory_and_writes_nothing(path: Path) -> None:
    with Store.empty(path) as store:
        assert store.digests.last_cutoff() is None
        assert store.seen.pending_keys() == set()
        with store.transaction():
            store.subscribers.add("ann@example.com", "Ann", NOW)
        assert [s.email for s in store.subscribers.listing()] == ["ann@example.com"]
    assert not path.exists()


def test_the_contract_names_every_part_but_the_store() -> None:
    """The forbidden contract on sqlite3 (kept: `make lint` runs lint-imports)
    lists its source modules one by one: a new part of publisher must be
    added to it, or the rule would not cover it."""
    config = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))
    contracts = config["tool"]["importlinter"]["contracts"]
    [contract] = [c for c in contracts if c.get("forbidden_modules") == ["sqlite3"]]
    parts = {
        f"publisher.{m.name}" for m in pkgutil.iter_modules(publisher.__path__)
    } - {"publisher.store"}
    assert set(contract["source_modules"]) == parts

