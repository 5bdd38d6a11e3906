"""The private state store: one `Store` object, a repository per table.

- `store`: `Store`, the open store and its repositories, `transaction()`;
- `state`: the SQLite file: opening, migrations, transactions, errors;
- `digests`: the digests issued and their posts;
- `subscribers`: the list (add, import, unsubscribe, export; address rules);
- `ledger`: the send ledger, one row per (digest, subscriber);
- `seen`: when each post was first seen published (what the digest selects);
- `bounces`: report messages read and bounce events;
- `mailqueue`: the list's own mail waiting to go out (confirmations);
- `entry_ids`: the first entry id of each Jekyll post;
- `meta`: small named values (the install salt, mailbox positions);
- `domains`: well-known mail domains, to catch a typo'd one;
- `peek`: counts read without opening the store for writing (`check`).

Nothing outside this package touches SQL or imports `sqlite3` (an
import-linter contract). `Store` is imported from `store.store`, not from
here: a caller that needs one small part (an address rule, a record type)
does not load every repository.
"""
