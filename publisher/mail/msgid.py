"""Message-IDs: stable per (list, digest, subscriber), and proof of who a
returned message was for.

`<slug.<subscriber>-<digest>-<list tag>-<mac>@from-domain>`: the same on
every attempt of one message (a resend after a crash is recognisably the
same message), different for every list and every state store (Gmail drops a
message whose Message-ID it has seen), and MAC'd with the list's own key like
a VERP address (mail/verp.py), so a bounce or complaint that returns the
message's headers proves which subscriber and digest it is about even when
the report went to the bare return address or to `from`.

The form made before lists had keys, `<slug.<32 hex>@domain>`, a SHA-256 of
the install salt, the List-Id, the digest and the subscriber's email key, is
recomputed here (`legacy`) to match such a report to the send ledger.
"""

from __future__ import annotations

import hashlib

from .tokens import ListKeys
from .verp import Mark, mac, read

_PURPOSE = b"publisher-message-id-v1\x00"
_HEX = frozenset("0123456789abcdef")


def make(keys: ListKeys, slug: str, digest_id: int, subscriber_id: int, domain: str) -> str:
    code = mac(keys.key, _PURPOSE, subscriber_id, digest_id)
    return f"<{slug}.{subscriber_id}-{digest_id}-{keys.tag}-{code}@{domain}>"


def parse(word: str, keys: ListKeys) -> Mark | None:
    """The mark in `slug.token@domain` (angle brackets already off); None if
    it is not shaped like one of ours."""
    local, at, _domain = word.rpartition("@")
    _slug, dot, token = local.rpartition(".")
    if not at or not dot:
        return None
    return read(token.lower().split("-"), keys, _PURPOSE)


def legacy(slug: str, digest_id: int, key: str, list_id: str, salt: str) -> str:
    """The 32 hex digits of a Message-ID made before lists had keys."""
    seed = f"{salt}\x00{list_id}\x00{digest_id}\x00{slug}\x00{key}"
    return hashlib.sha256(seed.encode()).hexdigest()[:32]


def legacy_parts(word: str) -> tuple[str, str] | None:
    """(slug, 32 hex digits) of a word shaped like an old Message-ID."""
    local, at, _domain = word.rpartition("@")
    slug, dot, code = local.rpartition(".")
    code = code.lower()
    if not at or not dot or not slug or len(code) != 32 or not set(code) <= _HEX:
        return None
    return slug, code
