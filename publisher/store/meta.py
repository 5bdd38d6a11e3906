"""Small named values kept across runs: the install salt, mailbox positions, markers."""

from __future__ import annotations

import os
import sqlite3
from pathlib import Path

from .state import transaction

SALT_KEY = "install.salt"
LEGACY_MACS_KEY = "macs.legacy"


class Meta:
    """The `meta` table. Each write is its own transaction, or joins the open one."""

    def __init__(self, conn: sqlite3.Connection, path: Path) -> None:
        self._conn = conn
        self._path = path

    def get(self, key: str) -> str | None:
        row = self._conn.execute("SELECT value FROM meta WHERE key = ?", (key,)).fetchone()
        return row[0] if row else None

    def set(self, key: str, value: str) -> None:
        with transaction(self._conn, self._path):
            self._conn.execute(
                "INSERT INTO meta (key, value) VALUES (?, ?) "
                "ON CONFLICT(key) DO UPDATE SET value = excluded.value",
                (key, value),
            )

    def install_salt(self) -> str:
        """A random value made once per state store (Message-IDs include it)."""
        salt = self.get(SALT_KEY)
        if salt is None:
            # What secrets.token_hex(16) returns, without importing secrets
            # (and hmac, base64) on the path of a publish with nothing new.
            with transaction(self._conn, self._path):
                self._conn.execute(
                    "INSERT OR IGNORE INTO meta (key, value) VALUES (?, ?)",
                    (SALT_KEY, os.urandom(16).hex()),
                )
            salt = self.get(SALT_KEY)
            assert salt is not None
        return salt

    def legacy_macs(self) -> bool:
        """Whether this list made MACs with PUBLISHER_SECRET alone (before 0009)."""
        return self.get(LEGACY_MACS_KEY) is not None
