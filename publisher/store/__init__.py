"""The private SQLite state store: one connection, one migration list.

- `state`: the connection, the migrations, digests issued and small named values;
- `subscribers`: the list (add, import, unsubscribe, export);
- `ledger`: the send ledger, one row per (digest, subscriber).
"""
