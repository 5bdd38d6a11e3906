"""Signed, stateless, single-purpose tokens: unsubscribe, confirm, manage.

An unsubscribe token is `<address>.<mac>`, both base64url: the address so
verifying needs no table of issued tokens, the HMAC-SHA256 (keyed with
PUBLISHER_SECRET) so nobody can make one for an address without the secret.
This is the form every digest ever sent carries, so it stays as it is.

Confirm and manage tokens (`make_for`) are `<c|m>.<payload>.<mac>`: the
payload is the address and, for confirm, an expiry time; the purpose is
inside the MAC, so a token made for one purpose never verifies for another,
and every MAC comparison is constant-time. There is no fallback key: without
the secret, nothing that needs a token is made.
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
from typing import Literal
from urllib.parse import parse_qs, quote, urlsplit

from ..errors import SecretMissing, SubscriberError

SECRET_ENV = "PUBLISHER_SECRET"
MIN_SECRET_LENGTH = 16
# A secret of 16 spaces, or of one letter repeated, is long enough and no secret.
MIN_SECRET_KINDS = 8
# Domain separation: the same secret may sign other things later.
_PURPOSE = b"publisher-unsubscribe-v1\x00"
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


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def _mac(secret: bytes, key: str) -> bytes:
    return hmac.new(secret, _PURPOSE + key.encode("utf-8"), hashlib.sha256).digest()[:_MAC_BYTES]


def make(secret: bytes, key: str) -> str:
    """The token for a subscriber's email key."""
    return f"{_b64(key.encode('utf-8'))}.{_b64(_mac(secret, key))}"


def verify(secret: bytes, token: str) -> str:
    """The email key a token was made for, or SubscriberError if it is not genuine."""
    token = _from_url(token.strip())
    encoded, dot, mac = token.partition(".")
    try:
        key = _unb64(encoded).decode("utf-8")
        given = _unb64(mac)
    except (binascii.Error, ValueError, UnicodeDecodeError) as exc:
        raise SubscriberError("not a valid unsubscribe token") from exc
    if not dot or not hmac.compare_digest(given, _mac(secret, key)):
        raise SubscriberError(
            "unsubscribe token does not verify",
            hint=f"it was made with a different {SECRET_ENV}, or it was altered",
        )
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


Purpose = Literal["unsubscribe", "confirm", "manage"]
_TAGS: dict[str, str] = {"confirm": "c", "manage": "m"}
_V2 = b"publisher-token-v2\x00"
# Far longer than any real token (an address is at most 254 characters).
MAX_TOKEN = 600

Reason = Literal["malformed", "forged", "expired", "purpose"]
_B64URL = re.compile(r"[A-Za-z0-9_-]*")


class TokenError(SubscriberError):
    """A token that is not genuine, has expired or is for something else.

    `reason` lets a page say which without saying more than that.
    """

    def __init__(self, reason: Reason, message: str, hint: str = "") -> None:
        super().__init__(message, hint)
        self.reason = reason


def _mac_for(secret: bytes, purpose: str, payload: bytes) -> bytes:
    material = _V2 + purpose.encode("ascii") + b"\x00" + payload
    return hmac.new(secret, material, hashlib.sha256).digest()[:_MAC_BYTES]


def make_for(secret: bytes, purpose: Purpose, key: str, expires: float | None = None) -> str:
    """A token for one purpose. `expires` (Unix time) is for confirm tokens.

    Unsubscribe tokens keep the form mail already carries (`make`).
    """
    if purpose == "unsubscribe":
        return make(secret, key)
    payload = key.encode("utf-8")
    if expires is not None:
        payload += b"\x00" + str(int(expires)).encode("ascii")
    return f"{_TAGS[purpose]}.{_b64(payload)}.{_b64(_mac_for(secret, purpose, payload))}"


def verify_for(secret: bytes, purpose: Purpose, token: str, now: float | None = None) -> str:
    """The email key `token` was made for, if it is genuine, for `purpose` and
    not expired; TokenError saying which it is not otherwise."""
    token = token.strip()
    if not token or len(token) > MAX_TOKEN or not token.isascii():
        raise TokenError("malformed", "not a valid link: the token is missing or damaged")
    parts = token.split(".")
    if purpose == "unsubscribe":
        if len(parts) == 3:
            raise TokenError("purpose", "this link is for something else, not unsubscribing")
        try:
            return verify(secret, token)
        except SubscriberError as exc:
            reason: Reason = "forged" if "does not verify" in exc.message else "malformed"
            raise TokenError(reason, exc.message, exc.hint) from exc
    if len(parts) != 3:
        if len(parts) == 2:
            raise TokenError("purpose", f"this link is for something else, not to {purpose}")
        raise TokenError("malformed", "not a valid link: the token is damaged")
    tag, encoded, mac = parts
    if not _B64URL.fullmatch(encoded) or not _B64URL.fullmatch(mac):
        raise TokenError("malformed", "not a valid link: the token is damaged")
    try:
        payload = _unb64(encoded)
        given = _unb64(mac)
    except (binascii.Error, ValueError) as exc:
        raise TokenError("malformed", "not a valid link: the token is damaged") from exc
    expected = _mac_for(secret, purpose, payload)
    if tag != _TAGS[purpose]:
        # Still compare, so a wrong purpose costs the same time as a right one.
        hmac.compare_digest(given, expected)
        raise TokenError("purpose", f"this link is for something else, not to {purpose}")
    if not hmac.compare_digest(given, expected):
        raise TokenError(
            "forged",
            "this link does not verify",
            hint=f"it was altered, or made with a different {SECRET_ENV}",
        )
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
