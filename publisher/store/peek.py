"""Counts read from a state store without opening it for writing (`publisher check`)."""

from __future__ import annotations

import sqlite3
from pathlib import Path


def readers_and_queued(path: Path) -> tuple[int, int]:
    """(active or pending subscribers, list mail waiting), counted read-only, so
    that `publisher check` never creates a store; an absent store, or one from
    before a table existed, counts as empty."""
    if not path.is_file():
        return 0, 0
    try:
        conn = sqlite3.connect(f"file:{path}?mode=ro", uri=True, timeout=30)
    except sqlite3.Error:
        return 0, 0
    try:
        return (
            _count(conn, "SELECT COUNT(*) FROM subscribers WHERE status IN ('active', 'pending')"),
            _count(conn, "SELECT COUNT(*) FROM mail_queue WHERE state = 'waiting'"),
        )
    finally:
        conn.close()


def _count(conn: sqlite3.Connection, sql: str) -> int:
    try:
        return int(conn.execute(sql).fetchone()[0])
    except sqlite3.Error:
        return 0
