"""The work behind the list's pages (`publisher serve`, and `publisher run`
with `[web] base_url`): sign up, confirm, unsubscribe (the manage page does
the last two), the archive.

`web/` checks the request (origin, rate, form, where the token is) and turns
these results into pages; whatever touches the list or a token is here. The
functions taking a `Store` run inside one short transaction of the web app's
store thread (web/db.py). What they return shows an address only masked:
pages and logs never need more.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime

from ..config.settings import Config
from ..digest.archive import Entry, entries, site_context, web_environment
from ..mail.ready import require_secret
from ..mail.tokens import ListKeys, Purpose, TokenError, for_store, make_for, verify_for
from ..store.store import Store
from ..store.subscribers import MAX_NAME, Subscriber, clean_name, email_key, mask, normalise

__all__ = [
    "MAX_NAME",
    "Confirmation",
    "Entry",
    "ListKeys",
    "Purpose",
    "Standing",
    "Store",
    "TokenError",
    "archive",
    "check_token",
    "clean_name",
    "confirm",
    "confirmation",
    "manage_token",
    "mask",
    "normalise",
    "signing_keys",
    "site_context",
    "standing",
    "subscribe",
    "unsubscribe",
    "web_environment",
]


@dataclass(frozen=True)
class Standing:
    """A subscriber as a page shows them."""

    address: str  # masked: a•••@example.org
    status: str


def _standing(subscriber: Subscriber | None) -> Standing | None:
    return None if subscriber is None else Standing(mask(subscriber.email), subscriber.status)


def signing_keys(config: Config, environ: Mapping[str, str] | None = None) -> ListKeys:
    """This list's keys for its links; SecretMissing, saying what the secret
    is for, when PUBLISHER_SECRET is not set."""
    require_secret("publisher serve", environ)
    return for_store(config.state_file, environ)


def check_token(keys: ListKeys, purpose: Purpose, token: str, now: float) -> str:
    """The address key a link's token was made for; TokenError (with its
    reason) when it is damaged, forged, expired, for another purpose or list."""
    return verify_for(keys, purpose, token, now=now)


def manage_token(keys: ListKeys, key: str) -> str:
    """A token for the manage page of the address with this key (no expiry)."""
    return make_for(keys, "manage", key)


@dataclass(frozen=True)
class Confirmation:
    """A sign-up's confirmation link, before it is queued."""

    key: str  # the address's key (the per-address rate limit counts it)
    token: str
    expires: float  # Unix time


def confirmation(keys: ListKeys, email: str, now: float, hours: float) -> Confirmation:
    """The confirmation token for `email` (normalised), good for `hours`."""
    key = email_key(email)
    expires = now + hours * 3600
    return Confirmation(key, make_for(keys, "confirm", key, expires), expires)


def subscribe(store: Store, email: str, name: str, link: str, expires: float, now: datetime,
              allowed: bool) -> Standing:
    """Record a sign-up and queue its confirmation (unless over the per-address
    limit). The same work whatever the address's status, and whether or not a
    mail may go: two statements that both write. The mail goes out from the
    queue (mail/outgoing.py), later."""
    subscriber = store.subscribers.sign_up(email, name, now)
    store.mail_queue.queue_confirmation(subscriber.id, link, expires, now.timestamp(), allowed)
    return Standing(mask(subscriber.email), subscriber.status)


def standing(store: Store, key: str) -> Standing | None:
    """The subscriber with this key as they stand (None if not on the list); reads only."""
    return _standing(store.subscribers.by_key(key))


def confirm(store: Store, key: str, now: datetime) -> Standing | None:
    """Activate `key`'s subscription (idempotent); None if it is not on the list."""
    return _standing(store.subscribers.activate_key(key, now))


def unsubscribe(store: Store, key: str, now: datetime) -> Standing | None:
    """Unsubscribe `key` if it is on the list; None if it is not (nothing to do)."""
    subscriber = store.subscribers.by_key(key)
    if subscriber is None:
        return None
    if subscriber.status != "unsubscribed":
        store.subscribers.set_status(subscriber.id, "unsubscribed", now)
    return _standing(store.subscribers.get(subscriber.id))


def archive(config: Config, store: Store) -> list[Entry]:
    """Every issued digest, newest first, as the archive page lists them."""
    return entries(config, store)
