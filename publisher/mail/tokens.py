"""Signed, stateless unsubscribe tokens.

A token is `<address>.<mac>`, both base64url: the address so verifying needs
no table of issued tokens, the HMAC-SHA256 (keyed with PUBLISHER_SECRET) so
nobody can make one for an address without the secret. There is no fallback
key: without the secret, nothing that needs a token is sent.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import os
from collections.abc import Mapping
from urllib.parse import parse_qs, quote, urlsplit

from ..errors import SecretMissing, SubscriberError

SECRET_ENV = "PUBLISHER_SECRET"
MIN_SECRET_LENGTH = 16
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
