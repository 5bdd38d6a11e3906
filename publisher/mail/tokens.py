"""Signed, stateless, single-purpose tokens: unsubscribe, confirm, manage.

A token is `<purpose>.<list>.<payload>.<mac>`: the purpose letter (`u`, `c`,
`m`), the list's public tag (`list_tag`), the payload (the address and, for
confirm, an expiry time) in base64url, and an HMAC-SHA256 of purpose and
payload keyed with the list's own key (`ListKeys`: PUBLISHER_SECRET bound to
the state store's install salt), truncated to 128 bits. So verifying needs
no table of issued tokens, nobody can make one without the secret, a token
made for one purpose never verifies for another, and a token of another list
that shares the secret is refused as that list's. Only the canonical base64
spelling of each part is accepted, and every MAC comparison is constant-time.

Forms made before lists had keys still verify, with the secret alone, on a
list that made them (`ListKeys.legacy`): unsubscribe `<address>.<mac>`
(every digest sent before carries one, and unsubscribe links must work for
as long as that mail exists) and confirm/manage `<c|m>.<payload>.<mac>`.
There is no fallback key: without the secret, nothing that needs a token is
made.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import os
import re
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal
from urllib.parse import parse_qs, quote, urlsplit

from ..errors import SecretMissing, SubscriberError
from ..store.store import Store

SECRET_ENV = "PUBLISHER_SECRET"
MIN_SECRET_LENGTH = 16
# A secret of 16 spaces, or of one letter repeated, is long enough and no secret.
MIN_SECRET_KINDS = 8
# Domain separation: one secret signs several kinds of things.
_LIST = b"publisher-list-v1\x00"
_LIST_TAG = b"publisher-list-tag-v1\x00"
_V3 = b"publisher-token-v3\x00"
_V2 = b"publisher-token-v2\x00"  # confirm and manage, before lists had keys
_V1 = b"publisher-unsubscribe-v1\x00"  # unsubscribe, before lists had keys
_MAC_BYTES = 16  # 128 bits: far beyond guessing, and a shorter URL


def secret_from_env(environ: Mapping[str, str] | None = None) -> bytes:
    value = (os.environ if environ is None else environ).get(SECRET_ENV, "")
    if not value:
        raise SecretMissing(
            f"{SECRET_ENV} is not set: unsubscribe links cannot be signed, so nothing was sent",
            hint=f"export {SECRET_ENV} (a long random value, e.g. from `python3 -c "
            '"import secrets; print(secrets.token_urlsafe(32))"`), keep it the same between '
            "runs, then `publisher send` delivers what is pending",
        )
    if len(value) < MIN_SECRET_LENGTH:
        raise SecretMissing(
            f"{SECRET_ENV} is too short ({len(value)} characters; at least "
            f"{MIN_SECRET_LENGTH}): it would make guessable unsubscribe links",
            hint="use a long random value, e.g. from `python3 -c \"import secrets; "
            'print(secrets.token_urlsafe(32))"`',
        )
    if len(set(value.strip())) < MIN_SECRET_KINDS:
        raise SecretMissing(
            f"{SECRET_ENV} is blank or nearly so (only {len(set(value.strip()))} different "
            f"characters; at least {MIN_SECRET_KINDS}): it would make guessable "
            "unsubscribe links",
            hint="use a long random value, e.g. from `python3 -c \"import secrets; "
            'print(secrets.token_urlsafe(32))"`',
        )
    return value.encode("utf-8")


# -- the list's own key ------------------------------------------------------


def list_tag(salt: str) -> str:
    """Eight hex digits naming one list in public: in its default List-Id and
    in every token, VERP address and Message-ID it makes. Not a secret: it only
    says which list something claims to come from, so a page or a bounce
    summary can tell "another list's" from "forged"; the MAC proves it."""
    return hashlib.sha256(_LIST_TAG + salt.encode("utf-8")).hexdigest()[:8]


@dataclass(frozen=True)
class ListKeys:
    """PUBLISHER_SECRET bound to one list (one state store).

    Lists that share the secret (the README's systemd set-up shares one
    environment file) and a bounce mailbox must not act on each other's
    tokens and reports, so everything made now is signed with `key`, an HMAC
    of the store's random install salt keyed with the secret. `secret` alone
    checks only what this list made before it had a key, and only when
    `legacy` says it made any (the store held subscribers when it was
    upgraded): a store made since accepts nothing signed with the bare secret.
    """

    key: bytes = field(repr=False)
    tag: str
    secret: bytes = field(repr=False)
    legacy: bool = False


def bind(secret: bytes, salt: str, legacy: bool = False) -> ListKeys:
    key = hmac.new(secret, _LIST + salt.encode("utf-8"), hashlib.sha256).digest()
    return ListKeys(key, list_tag(salt), secret, legacy)


def for_state(state: Store, environ: Mapping[str, str] | None = None) -> ListKeys:
    """The keys of the list whose store `state` is (its salt is made on first use)."""
    secret = secret_from_env(environ)
    return bind(secret, state.meta.install_salt(), state.meta.legacy_macs())


def for_store(path: Path, environ: Mapping[str, str] | None = None) -> ListKeys:
    """`for_state` for a store not yet open: opened, read and closed."""
    secret = secret_from_env(environ)  # the clearer error first
    with Store.open(path) as state:
        return bind(secret, state.meta.install_salt(), state.meta.legacy_macs())


# -- tokens ------------------------------------------------------------------

Purpose = Literal["unsubscribe", "confirm", "manage"]
_LETTERS: dict[str, str] = {"unsubscribe": "u", "confirm": "c", "manage": "m"}
# Far longer than any real token (an address is at most 254 characters).
MAX_TOKEN = 600

Reason = Literal["malformed", "forged", "expired", "purpose", "list"]
_B64URL = re.compile(r"[A-Za-z0-9_-]*")
_TAG = re.compile(r"[0-9a-f]{8}")


class TokenError(SubscriberError):
    """A token that is not genuine, has expired, is for something else or
    belongs to another list.

    `reason` lets a page say which without saying more than that.
    """

    def __init__(self, reason: Reason, message: str, hint: str = "") -> None:
        super().__init__(message, hint)
        self.reason = reason


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def _unb64(text: str) -> bytes:
    """base64url without padding, in its one canonical spelling only.

    The decoder alone would take 16 spellings of a 16-byte MAC (the last
    character's unused bits), characters outside the alphabet (skipped) and
    padding: a token is the same bytes as the one made, or nothing."""
    if not _B64URL.fullmatch(text):
        raise TokenError("malformed", "not a valid link: the token is damaged")
    try:
        data = base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))
    except (binascii.Error, ValueError) as exc:
        raise TokenError("malformed", "not a valid link: the token is damaged") from exc
    if _b64(data) != text:
        raise TokenError("malformed", "not a valid link: the token is damaged")
    return data


def _mac(keys: ListKeys, purpose: str, payload: bytes) -> bytes:
    material = _V3 + purpose.encode("ascii") + b"\x00" + payload
    return hmac.new(keys.key, material, hashlib.sha256).digest()[:_MAC_BYTES]


def make_for(keys: ListKeys, purpose: Purpose, key: str, expires: float | None = None) -> str:
    """A token of this list for one purpose. `expires` (Unix time) is for confirm tokens."""
    payload = key.encode("utf-8")
    if expires is not None:
        payload += b"\x00" + str(int(expires)).encode("ascii")
    mac = _mac(keys, purpose, payload)
    return f"{_LETTERS[purpose]}.{keys.tag}.{_b64(payload)}.{_b64(mac)}"


def make(keys: ListKeys, key: str) -> str:
    """The unsubscribe token for a subscriber's email key."""
    return make_for(keys, "unsubscribe", key)


@dataclass(frozen=True)
class Checked:
    key: str  # the email key the token was made for
    legacy: bool  # signed with PUBLISHER_SECRET alone, before lists had keys


def check(keys: ListKeys, purpose: Purpose, token: str, now: float | None = None) -> Checked:
    """What `token` says, if it is genuine, for `purpose` and not expired;
    TokenError saying which it is not otherwise. A genuine old form comes back
    with `legacy` set: whether it counts is the caller's choice (`verify_for`)."""
    token = token.strip()
    if not token or len(token) > MAX_TOKEN or not token.isascii():
        raise TokenError("malformed", "not a valid link: the token is missing or damaged")
    parts = token.split(".")
    if len(parts) == 4:
        return Checked(_check_v3(keys, purpose, parts, now), False)
    if len(parts) == 2:
        if purpose != "unsubscribe":
            raise TokenError("purpose", f"this link is for something else, not to {purpose}")
        return Checked(_check_v1(keys.secret, parts), True)
    if len(parts) == 3:
        if purpose == "unsubscribe":
            raise TokenError("purpose", "this link is for something else, not unsubscribing")
        return Checked(_check_v2(keys.secret, purpose, parts, now), True)
    raise TokenError("malformed", "not a valid link: the token is damaged")


def verify_for(keys: ListKeys, purpose: Purpose, token: str, now: float | None = None) -> str:
    """The email key `token` was made for, if this list made it, for `purpose`,
    and it has not expired; TokenError saying which it is not otherwise."""
    checked = check(keys, purpose, token, now)
    if checked.legacy and not keys.legacy:
        raise TokenError(
            "list",
            "this link was not made by this list",
            hint=f"it was made by another list that shares {SECRET_ENV}",
        )
    return checked.key


def verify(keys: ListKeys, token: str) -> str:
    """The email key of an unsubscribe token, or of a whole unsubscribe URL."""
    return verify_for(keys, "unsubscribe", _from_url(token.strip()))


def _forged() -> TokenError:
    return TokenError(
        "forged",
        "the token does not verify",
        hint=f"it was altered, or made with a different {SECRET_ENV}",
    )


def _check_v3(keys: ListKeys, purpose: Purpose, parts: list[str], now: float | None) -> str:
    letter, tag, encoded, mac = parts
    if letter not in _LETTERS.values() or not _TAG.fullmatch(tag):
        raise TokenError("malformed", "not a valid link: the token is damaged")
    payload = _unb64(encoded)
    given = _unb64(mac)
    if tag != keys.tag:
        raise TokenError(
            "list",
            "this link belongs to another list",
            hint=f"it was made by another list that shares {SECRET_ENV}",
        )
    expected = _mac(keys, purpose, payload)
    if letter != _LETTERS[purpose]:
        # Still compare, so a wrong purpose costs the same time as a right one.
        hmac.compare_digest(given, expected)
        raise TokenError("purpose", f"this link is for something else, not to {purpose}")
    if not hmac.compare_digest(given, expected):
        raise _forged()
    return _payload(purpose, payload, now)


def _check_v2(secret: bytes, purpose: Purpose, parts: list[str], now: float | None) -> str:
    """`<c|m>.<payload>.<mac>`, the confirm and manage tokens made before lists had keys."""
    tag, encoded, mac = parts
    payload = _unb64(encoded)
    given = _unb64(mac)
    material = _V2 + purpose.encode("ascii") + b"\x00" + payload
    expected = hmac.new(secret, material, hashlib.sha256).digest()[:_MAC_BYTES]
    if tag != _LETTERS[purpose]:
        hmac.compare_digest(given, expected)
        raise TokenError("purpose", f"this link is for something else, not to {purpose}")
    if not hmac.compare_digest(given, expected):
        raise _forged()
    return _payload(purpose, payload, now)


def _check_v1(secret: bytes, parts: list[str]) -> str:
    """`<address>.<mac>`, the unsubscribe token made before lists had keys."""
    encoded, mac = parts
    payload = _unb64(encoded)
    given = _unb64(mac)
    expected = hmac.new(secret, _V1 + payload, hashlib.sha256).digest()[:_MAC_BYTES]
    if not hmac.compare_digest(given, expected):
        raise _forged()
    try:
        return payload.decode("utf-8")
    except UnicodeDecodeError as exc:  # only possible with the secret: defensive
        raise TokenError("malformed", "not a valid link: the token is damaged") from exc


def _payload(purpose: Purpose, payload: bytes, now: float | None) -> str:
    key_bytes, _, expiry = payload.partition(b"\x00")
    try:
        key = key_bytes.decode("utf-8")
    except UnicodeDecodeError as exc:  # only possible with the secret: defensive
        raise TokenError("malformed", "not a valid link: the token is damaged") from exc
    if purpose == "confirm":
        if not expiry.isdigit():
            raise TokenError("malformed", "not a valid link: the token has no expiry")
        if int(expiry) <= (time.time() if now is None else now):
            raise TokenError("expired", "this confirmation link has expired")
    return key


def _from_url(value: str) -> str:
    """Accept a whole unsubscribe URL as well as the bare token."""
    if "://" not in value:
        return value
    found = parse_qs(urlsplit(value).query).get("token")
    if found:
        return found[0]
    return urlsplit(value).path.rstrip("/").rpartition("/")[2]


def unsubscribe_url(base: str, token: str) -> str:
    """The base URL with `token=` added to its query.

    A plain base (no placeholder) is also what the public web copy of the
    digest links to, so it must make sense without a token too.
    """
    separator = "&" if "?" in base else "?"
    return f"{base}{separator}token={quote(token, safe='')}"
