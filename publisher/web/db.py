"""The state store as the web app uses it: one connection, one thread, short transactions.

SQLite connections belong to the thread that made them, and SQLite takes one
writer at a time anyway, so every query runs on one dedicated thread; the
event loop awaits it and never blocks. Each write is one `BEGIN IMMEDIATE`
transaction of a statement or two: a send in progress in another process
(WAL mode) waits at most that long for its next commit, and so do we.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import TypeVar

from ..app.signups import Store

T = TypeVar("T")


class Database:
    def __init__(self, path: Path) -> None:
        self.path = path
        self._state: Store | None = None
        self._pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="publisher-web-db")

    def open(self) -> None:
        """Open (and migrate) the store now, so a problem shows at start."""
        self._pool.submit(self._get).result()

    def _get(self) -> Store:
        if self._state is None:
            self._state = Store.open(self.path)
        return self._state

    def _call(self, work: Callable[[Store], T], write: bool) -> T:
        state = self._get()
        if not write:
            return work(state)
        with state.transaction():
            return work(state)

    async def read(self, work: Callable[[Store], T]) -> T:
        return await asyncio.get_running_loop().run_in_executor(
            self._pool, self._call, work, False
        )

    async def write(self, work: Callable[[Store], T]) -> T:
        return await asyncio.get_running_loop().run_in_executor(self._pool, self._call, work, True)

    def close(self) -> None:
        def shut() -> None:
            if self._state is not None:
                self._state.close()
                self._state = None

        self._pool.submit(shut).result()
        self._pool.shutdown(wait=True)
