"""`subscribers add/remove/list/import/export` and `unsubscribe`: the list."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

from ..config.settings import Config
from ..files import write_atomic
from ..mail import tokens
from ..store import subscribers as subs
from ..store.domains import typo_warning
from ..store.mailqueue import Unconfirmed
from ..store.subscribers import ImportResult, Status, Subscriber
from .state import opened

__all__ = [
    "Added",
    "ImportResult",
    "Listing",
    "Status",
    "Subscriber",
    "subscribers_add",
    "subscribers_export",
    "subscribers_import",
    "subscribers_list",
    "subscribers_remove",
    "unsubscribe",
]


@dataclass(frozen=True)
class Added:
    """`subscribers add`: the subscriber as they now stand, whether the call
    changed them, and a warning if the domain looks like a typo ("" if not)."""

    subscriber: Subscriber
    changed: bool
    typo: str


def subscribers_add(
    config: Config,
    now: datetime,
    email: str,
    name: str = "",
    first_name: str = "",
    resubscribe: bool = False,
) -> Added:
    """Add `email` as an active subscriber (an unsubscribed or bounced one
    only with `resubscribe`)."""
    with opened(config) as state, state.transaction():
        subscriber, changed = state.subscribers.add(
            email, name, now, resubscribe=resubscribe, first_name=first_name
        )
    return Added(subscriber, changed, typo_warning(subscriber.email))


def subscribers_remove(config: Config, email: str) -> Subscriber:
    """Delete `email` and its send history; the subscriber removed."""
    with opened(config) as state, state.transaction():
        return state.subscribers.remove(email)


@dataclass(frozen=True)
class Listing:
    """`subscribers list`: the subscribers (of one status), those waiting for
    their confirmation (with status "pending"), and the count per status."""

    subscribers: tuple[Subscriber, ...]
    unconfirmed: tuple[Unconfirmed, ...]
    counts: dict[str, int]


def subscribers_list(config: Config, status: Status | None = None) -> Listing:
    """The list, or the subscribers of one `status`."""
    with opened(config) as state:
        rows = state.subscribers.listing(status)
        waiting = state.mail_queue.unconfirmed() if status == "pending" else []
        counts = state.subscribers.counts()
    return Listing(tuple(rows), tuple(waiting), counts)


def subscribers_import(config: Config, now: datetime, file: Path) -> ImportResult:
    """Import a CSV file (ours, or another tool's export); bad lines are
    reported in the result and the rest still import."""
    with opened(config) as state, state.transaction():
        return state.subscribers.import_csv(file, now)


def subscribers_export(config: Config, output: Path | None = None) -> str:
    """The list as CSV (email,name,status) with a header row; also written to
    `output` when given."""
    with opened(config) as state:
        text = state.subscribers.export_csv()
    if output is not None:
        # Addresses are personal data: readable by us only.
        write_atomic(output, text.encode("utf-8"), mode=0o600)
    return text


def unsubscribe(config: Config, now: datetime, email_or_token: str) -> Subscriber:
    """Unsubscribe by address, or by a token (or whole link) from a message;
    the subscriber as they were (status "unsubscribed" if they were already).
    A token needs PUBLISHER_SECRET."""
    by_address = "@" in email_or_token and "://" not in email_or_token
    if not by_address:
        tokens.secret_from_env()  # before the store is opened: the clearer error
    with opened(config) as state:
        if by_address:
            key = subs.email_key(subs.normalise(email_or_token))
        else:
            key = tokens.verify(tokens.for_state(state), email_or_token)
        with state.transaction():
            return state.subscribers.unsubscribe_key(key, now)
