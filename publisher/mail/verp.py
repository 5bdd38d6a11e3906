"""VERP envelope senders: `bounces+<token>@domain`, one per message.

A bounce goes back to the envelope sender, so the address it is sent to
names the subscriber and the digest without parsing the report's guesswork
(an old address forwarded, a rewritten recipient). The token is
`<subscriber id>-<digest id>-<list tag>-<mac>`: the MAC (HMAC-SHA256 with the
list's own key, `tokens.ListKeys`, 64 bits, lowercase hex since some systems
lowercase local parts) keeps anyone from mailing a fake bounce that removes
somebody, and another list that shares PUBLISHER_SECRET and the bounce
mailbox from acting on this one. The list tag only says whose it claims to be.

The form made before lists had keys, `<subscriber>-<digest>-<mac>` with the
MAC keyed with the bare secret, is still recognised (`legacy`), but it cannot
say which list made it; mail/bounces.py asks for more before it acts on one.
Parsing splits and compares strings, never a backtracking pattern: a report
is written by anyone and may be megabytes long.
"""

from __future__ import annotations

import hashlib
import hmac
from dataclasses import dataclass
from typing import Literal

from .tokens import ListKeys

_LEGACY = b"publisher-verp-v1\x00"
_PURPOSE = b"publisher-verp-v2\x00"
_HEX = frozenset("0123456789abcdef")

# ok: made by this list; legacy: made with the bare secret (this list's or
# another's, before lists had keys); forged: claims to be this list's (or an
# old form) but the MAC is wrong; list: claims another list's tag.
Verdict = Literal["ok", "legacy", "forged", "list"]


@dataclass(frozen=True)
class Mark:
    """A subscriber and a digest named by something a message carried (its
    envelope sender or Message-ID), and how far to believe it."""

    subscriber_id: int
    digest_id: int
    verdict: Verdict


def mac(key: bytes, purpose: bytes, subscriber_id: int, digest_id: int) -> str:
    message = purpose + f"{subscriber_id}\x00{digest_id}".encode()
    return hmac.new(key, message, hashlib.sha256).hexdigest()[:16]


def envelope(return_path: str, subscriber_id: int, digest_id: int, keys: ListKeys) -> str:
    """`bounces@example.org` -> `bounces+12-3-1a2b3c4d-0123456789abcdef@example.org`."""
    local, _, domain = return_path.rpartition("@")
    code = mac(keys.key, _PURPOSE, subscriber_id, digest_id)
    return f"{local}+{subscriber_id}-{digest_id}-{keys.tag}-{code}@{domain}"


def parse(address: str, keys: ListKeys) -> Mark | None:
    """The mark in a VERP address shaped like ours; None if it is not one."""
    local, at, _domain = address.rpartition("@")
    _base, plus, token = local.rpartition("+")
    if not at or not plus:
        return None
    parts = token.lower().split("-")
    if len(parts) == 3:
        return read(parts, keys, _PURPOSE, legacy=_LEGACY)
    return read(parts, keys, _PURPOSE)


def read(
    parts: list[str], keys: ListKeys, purpose: bytes, legacy: bytes = b""
) -> Mark | None:
    """`[subscriber, digest, tag, mac]` (or, given the old purpose `legacy`,
    `[subscriber, digest, mac]`, keyed with the bare secret) as a Mark."""
    if len(parts) not in ((3, 4) if legacy else (4,)):
        return None
    subscriber, digest, code = parts[0], parts[1], parts[-1]
    if not (_number(subscriber) and _number(digest) and _hex(code, 16)):
        return None
    ids = int(subscriber), int(digest)
    if len(parts) == 3:
        expected = mac(keys.secret, legacy, *ids)
        good = hmac.compare_digest(code, expected)
        return Mark(*ids, "legacy" if good else "forged")
    if not _hex(parts[2], 8):
        return None
    if parts[2] != keys.tag:
        return Mark(*ids, "list")
    good = hmac.compare_digest(code, mac(keys.key, purpose, *ids))
    return Mark(*ids, "ok" if good else "forged")


def _number(text: str) -> bool:
    return 0 < len(text) <= 12 and text.isascii() and text.isdigit()


def _hex(text: str, length: int) -> bool:
    return len(text) == length and set(text) <= _HEX
