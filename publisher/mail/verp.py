"""VERP envelope senders: `bounces+<token>@domain`, one per message.

A bounce goes back to the envelope sender, so the address it is sent to
names the subscriber and the digest without parsing the report's guesswork
(an old address forwarded, a rewritten recipient). The token is
`<subscriber id>-<digest id>-<mac>`: the MAC (HMAC-SHA256 with
PUBLISHER_SECRET, 64 bits, lowercase hex since some systems lowercase local
parts) keeps anyone from mailing a fake bounce that unsubscribes somebody.
"""

from __future__ import annotations

import hashlib
import hmac
import re

_PURPOSE = b"publisher-verp-v1\x00"
_TOKEN = re.compile(r"\+(\d{1,12})-(\d{1,12})-([0-9a-f]{16})@", re.IGNORECASE)


def _mac(secret: bytes, subscriber_id: int, digest_id: int) -> str:
    message = _PURPOSE + f"{subscriber_id}\x00{digest_id}".encode()
    return hmac.new(secret, message, hashlib.sha256).hexdigest()[:16]


def envelope(return_path: str, subscriber_id: int, digest_id: int, secret: bytes) -> str:
    """`bounces@example.org` -> `bounces+12-3-0123456789abcdef@example.org`."""
    local, _, domain = return_path.rpartition("@")
    mac = _mac(secret, subscriber_id, digest_id)
    return f"{local}+{subscriber_id}-{digest_id}-{mac}@{domain}"


def parse(address: str, secret: bytes) -> tuple[int, int] | None:
    """(subscriber id, digest id) from a VERP address we made; None otherwise."""
    found = _TOKEN.search(address)
    if found is None:
        return None
    subscriber_id, digest_id = int(found[1]), int(found[2])
    if not hmac.compare_digest(found[3].lower(), _mac(secret, subscriber_id, digest_id)):
        return None
    return subscriber_id, digest_id
