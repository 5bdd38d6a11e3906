"""`send`: mail out the digests and the confirmations still pending."""

from __future__ import annotations

from dataclasses import replace
from datetime import datetime

from ..config.settings import Config
from ..mail.delivery import DeliverySummary, Progress
from ..mail.delivery import send as deliver
from ..mail.outgoing import Outgoing, QueueSummary, purge
from ..store.store import Store


def send_queue(config: Config, now: datetime) -> QueueSummary:
    """Every confirmation waiting in the queue, backoff or not (the operator
    asks now), once the sign-ups whose link expired are removed."""
    with Store.open(config.state_file) as state:
        expired = purge(state, now.timestamp())
        if not state.mail_queue.waiting():
            # No settings or password needed for nothing.
            return QueueSummary(expired=len(expired))
        summary = Outgoing(config, clock=now.timestamp).drain(state, due_only=False)
        return replace(summary, expired=summary.expired + len(expired))


def send(
    config: Config, now: datetime, progress: Progress | None = None, resend_outbox: str = ""
) -> DeliverySummary:
    """Deliver every issued digest with pending recipients (see `mail.delivery.send`)."""
    return deliver(config, now, progress, resend_outbox=resend_outbox)

