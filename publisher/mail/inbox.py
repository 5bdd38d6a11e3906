"""The mailbox bounces come back to: a Maildir, or IMAP over TLS.

Nothing here changes the mailbox: messages are only read (a Maildir's files,
IMAP's `BODY.PEEK[]` on a mailbox opened read-only), so a person can read the
same mailbox. Reading the same message twice is harmless: `mail/bounces.py`
remembers what it has processed. Over IMAP only messages with a UID above
the last one read are fetched (per UIDVALIDITY, kept in the state store).
"""

from __future__ import annotations

import imaplib
import mailbox
import os
import re
import ssl
from collections.abc import Iterator, Mapping
from contextlib import suppress
from pathlib import Path

from ..config.settings import Config
from ..errors import ConfigError, DeliveryError, SecretMissing
from ..store.store import Store

PASSWORD_ENV = "PUBLISHER_IMAP_PASSWORD"
TIMEOUT = 30.0
_UIDVALIDITY = re.compile(rb"UIDVALIDITY (\d+)")


def read_maildir(folder: Path) -> Iterator[bytes]:
    """Every message in the Maildir `folder` (new/ and cur/), oldest name first."""
    if not all((folder / sub).is_dir() for sub in ("cur", "new", "tmp")):
        raise ConfigError(
            f"{folder}: not a Maildir (it needs cur/, new/ and tmp/ folders)",
            hint="give the Maildir that receives the [delivery] return_path address's mail",
        )
    box = mailbox.Maildir(folder, factory=None, create=False)
    for key in sorted(box.keys()):
        try:
            yield box.get_bytes(key)
        except (OSError, KeyError):
            continue  # moved or deleted by a mail client meanwhile


class ImapReader:
    """New messages of `[bounces] imap_*`, over TLS; `commit` records how far it read."""

    def __init__(self, config: Config, environ: Mapping[str, str] | None = None) -> None:
        b = config.bounces
        if not b.imap_host or not b.imap_user:
            raise ConfigError(
                f"{config.file.name}: [bounces] imap_host and imap_user: both are needed "
                "to read bounces over IMAP",
                hint='add them to [bounces], e.g. imap_host = "mail.example.org"',
            )
        env = os.environ if environ is None else environ
        self.password = env.get(PASSWORD_ENV, "")
        if not self.password:
            raise SecretMissing(
                f"{PASSWORD_ENV} is not set: cannot log in to {b.imap_host} as {b.imap_user!r}",
                hint=f"export {PASSWORD_ENV} with the mailbox password (never in the file)",
            )
        self.config = b
        self.name = f"imap://{b.imap_user}@{b.imap_host}:{b.imap_port}/{b.imap_mailbox}"
        self.meta_key = f"bounces.imap.{b.imap_user}@{b.imap_host}:{b.imap_port}/{b.imap_mailbox}"
        self.last: tuple[int, int] | None = None  # (uidvalidity, highest uid read)

    def read(self, state: Store) -> Iterator[bytes]:
        b = self.config
        try:
            client = imaplib.IMAP4_SSL(
                b.imap_host, b.imap_port, ssl_context=ssl.create_default_context(),
                timeout=TIMEOUT,
            )
        except (OSError, ssl.SSLError) as exc:
            raise DeliveryError(
                f"{self.name}: cannot connect: {exc}",
                hint="check [bounces] imap_host and imap_port (IMAP over TLS, usually 993)",
            ) from exc
        try:
            try:
                client.login(b.imap_user, self.password)
            except imaplib.IMAP4.error as exc:
                raise DeliveryError(
                    f"{self.name}: the server refused the login: {exc}",
                    hint=f"check [bounces] imap_user and {PASSWORD_ENV}",
                ) from exc
            typ, _ = client.select(_quoted(b.imap_mailbox), readonly=True)
            if typ != "OK":
                raise DeliveryError(f"{self.name}: no such mailbox",
                                    hint="check [bounces] imap_mailbox")
            validity = self._uidvalidity(client)
            stored = state.meta.get(self.meta_key)
            start = 1
            if stored:
                old_validity, _, old_uid = stored.partition(":")
                if int(old_validity) == validity:
                    start = int(old_uid) + 1
            typ, data = client.uid("SEARCH", "UID", f"{start}:*")
            uids = sorted(int(u) for u in (data[0] or b"").split() if int(u) >= start)
            highest = start - 1
            for uid in uids:
                typ, parts = client.uid("FETCH", str(uid), "(BODY.PEEK[])")
                for part in parts:
                    if isinstance(part, tuple):
                        yield bytes(part[1])
                highest = max(highest, uid)
            self.last = (validity, highest)
        except (OSError, imaplib.IMAP4.abort) as exc:
            raise DeliveryError(f"{self.name}: connection lost: {exc}",
                                hint="run `publisher bounces --imap` again") from exc
        finally:
            with suppress(OSError, imaplib.IMAP4.error):
                client.logout()

    @staticmethod
    def _uidvalidity(client: imaplib.IMAP4) -> int:
        typ, data = client.response("UIDVALIDITY")
        if data and data[0]:
            return int(data[0])
        typ, data = client.status("INBOX", "(UIDVALIDITY)")
        found = _UIDVALIDITY.search(data[0] if data and isinstance(data[0], bytes) else b"")
        return int(found[1]) if found else 0

    def commit(self, state: Store) -> None:
        """After the messages were processed: the next read starts after them."""
        if self.last is not None:
            state.meta.set(self.meta_key, f"{self.last[0]}:{self.last[1]}")


def _quoted(mailbox_name: str) -> str:
    return '"' + mailbox_name.replace("\\", "\\\\").replace('"', '\\"') + '"'
