"""`Store`: the state store as one object, a repository per table.

    with Store.open(config.state_file) as store:
        with store.transaction():
            digest_id = store.digests.record(...)
            store.ledger.enqueue(digest_id)

Everything outside `store/` reads and writes the state through this object;
no SQL and no `sqlite3` leave this package (import-linter says so). A
repository's reads run at once; its writes either take their own short
transaction (the ledger's marks, `seen.record`, `meta.set`) or run inside the
caller's (`store.transaction()`), and every repository used inside an open
transaction joins it.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator
from contextlib import contextmanager
from functools import cached_property
from pathlib import Path
from types import TracebackType
from typing import TYPE_CHECKING

from .bounces import Bounces
from .digests import Digests
from .entry_ids import EntryIds
from .ledger import Ledger
from .meta import Meta
from .seen import Seen
from .state import connect, migrate, transaction

if TYPE_CHECKING:
    from .mailqueue import MailQueue
    from .subscribers import Subscribers


class Store:
    """One open connection to the state store and its repositories. Not
    shared between threads (SQLite connections belong to their thread)."""

    def __init__(self, conn: sqlite3.Connection, path: Path) -> None:
        self._conn = conn
        self.path = path
        self.digests = Digests(conn)
        self.bounces = Bounces(conn)
        self.ledger = Ledger(conn, self.bounces)
        self.seen = Seen(conn)
        self.entry_ids = EntryIds(conn)
        self.meta = Meta(conn, path)

    # Made on first use, their modules imported then (the two lazy imports
    # below): a publish with nothing new (most runs) reads the digests and the
    # ledger only, and the list's modules (the csv module, the address rules,
    # the queue's records) would add ~8 ms to its ~120 ms.

    @cached_property
    def subscribers(self) -> Subscribers:
        # lazy: not on a replayed run's path (see above)
        from .subscribers import Subscribers  # noqa: PLC0415

        return Subscribers(self._conn)

    @cached_property
    def mail_queue(self) -> MailQueue:
        # lazy: not on a replayed run's path (see above)
        from .mailqueue import MailQueue  # noqa: PLC0415

        return MailQueue(self._conn)

    @classmethod
    def open(cls, path: Path) -> Store:
        """The store at `path`, created and migrated as needed. StateError,
        naming the path and what to do, when it cannot be opened or used."""
        return cls(connect(path), path)

    @classmethod
    def empty(cls, path: Path) -> Store:
        """A migrated store in memory, holding nothing, written nowhere: what a
        site with no store yet reads as (`path` names it in messages)."""
        conn = sqlite3.connect(":memory:", isolation_level=None)
        try:
            migrate(conn)
        except BaseException:
            conn.close()
            raise
        return cls(conn, path)

    def close(self) -> None:
        self._conn.close()

    def __enter__(self) -> Store:
        return self

    def __exit__(
        self,
        kind: type[BaseException] | None,
        value: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    @contextmanager
    def transaction(self) -> Iterator[None]:
        """One write transaction (BEGIN IMMEDIATE: two writers queue), committed
        at the end, rolled back on any exception. Inside one already open, the
        work joins it. SQLite's errors leave as StateError naming the file."""
        with transaction(self._conn, self.path):
            yield
