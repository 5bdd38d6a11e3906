"""The first entry id each post was published under, so that it never changes.

A feed reader knows an entry by its id (RFC 4287: it must not change). A
Jekyll site's ids come from its permalinks and its url, which people change;
the id a post was first published under is kept here, by the post's file
name, and used from then on. A front matter `id` still wins: it is the
author's own choice.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Iterable
from datetime import datetime


class EntryIds:
    """The first entry id of each post, by its file name."""

    def __init__(self, conn: sqlite3.Connection) -> None:
        self._conn = conn

    def known(self) -> dict[str, str]:
        """post file name -> the id it was first published under."""
        return dict(self._conn.execute("SELECT post_name, entry_id FROM entry_ids"))

    def remember(
        self, pairs: Iterable[tuple[str, str]], now: datetime
    ) -> None:
        """Record (post file name, id) for the posts published for the first time."""
        self._conn.executemany(
            "INSERT OR IGNORE INTO entry_ids (post_name, entry_id, first_published) "
            "VALUES (?, ?, ?)",
            [(name, key, now.isoformat()) for name, key in pairs],
        )
