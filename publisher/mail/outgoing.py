"""Send the list's queued mail (store/mailqueue.py): confirmation links.

`Outgoing.drain` is one pass over the queue: it first drops what expired
links leave behind, then sends each waiting message through the configured
transport and records the outcome in its own commit. `publisher send` runs
one pass; `Worker` runs one every second in a thread of `publisher serve`
and `publisher run`, so a sign-up's mail goes out from the queue, never from
the request that asked for it.

Outcomes, as for digests (delivery.py), but nothing here stops for good:

- accepted: `sent`;
- refused for this address (5xx): `refused`, never tried again;
- deferred for this address (4xx): tried again after a backoff;
- the server failed (unreachable, a lost connection, a refused login, a
  policy refusal): every waiting message waits, the pass stops, and the next
  one is tried after a backoff that doubles from `[smtp] retry_delay` up to
  `retry_max_delay`, and never more than a minute, so that mail goes out
  within a minute of the server coming back. A message waits until its link
  expires; then it is dropped with the sign-up.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime

from ..config.settings import Config
from ..errors import PublisherError
from ..store import mailqueue
from ..store.store import Store
from ..store.subscribers import mask
from . import confirm
from .transports import Permanent, Temporary, Transport

log = logging.getLogger(__name__)

Clock = Callable[[], float]

# The waits between tries: never shorter (a retry_delay of 0 would spin),
# never longer (mail must follow soon after a server comes back).
MIN_DELAY = 0.2
MAX_DELAY = 60.0
POLL_SECONDS = 1.0  # how often a running Worker looks at the queue
PURGE_SECONDS = 60.0  # ...and removes what expired links leave
STOP_SECONDS = 10.0  # how long stopping waits for a message being sent


def hours_left(expires_at: float, now: float) -> int:
    """Whole hours a link still works, as the mail says it. A mail sent the
    moment it was queued says the full `confirm_hours` (the page said so too),
    not one less for the second that passed; one sent after an outage says
    what is left, never more."""
    return max(1, int((expires_at - now + 60) // 3600))


@dataclass(frozen=True)
class QueueSummary:
    """What one pass did."""

    sent: int = 0
    refused: int = 0  # 5xx for the address: not tried again
    deferred: int = 0  # 4xx for the address: tried again later
    waiting: int = 0  # still waiting after the pass
    expired: int = 0  # sign-ups dropped: their link expired unconfirmed
    error: str = ""  # the server failed: why everything waits

    def line(self) -> str:
        text = (
            f"Confirmations: {self.sent} sent, {self.refused} refused, "
            f"{self.waiting} waiting"
        )
        if self.deferred:
            text += f" ({self.deferred} deferred by the server for their address)"
        if self.expired:
            text += f", {self.expired} expired sign-up(s) removed"
        return text + "."

    def worth_saying(self) -> bool:
        return bool(self.sent or self.refused or self.deferred or self.waiting or self.expired)


def backoff(config: Config, failures: int) -> float:
    """The wait after `failures` failed tries in a row: doubling, capped."""
    first = max(config.smtp.retry_delay, MIN_DELAY)
    cap = max(first, min(config.smtp.retry_max_delay, MAX_DELAY))
    return float(min(first * 2 ** min(failures - 1, 30), cap))


def lease(config: Config) -> float:
    """How long a message being sent is ours: its SMTP exchange, with room to spare.
    A process killed mid-send leaves its claim; others take the message after this."""
    return 4 * config.smtp.timeout + 30


def purge(state: Store, now: float) -> tuple[str, ...]:
    """Remove the sign-ups whose confirmation link expired unconfirmed, with
    their queued mail; the addresses removed."""
    with state.transaction():
        purged = state.mail_queue.purge_expired(now)
    for address in purged:
        log.info("sign-up of %s removed: its confirmation link expired unconfirmed",
                 mask(address))
    return purged


class Outgoing:
    """The list's mail queue, sent through one transport; its state is the
    server's failures in a row, which pace the next tries."""

    def __init__(
        self, config: Config, environ: Mapping[str, str] | None = None,
        clock: Clock = time.time,
    ) -> None:
        self.config = config
        self.clock = clock
        # Both raise now, at start, if a setting or the SMTP password is missing.
        self.messages = confirm.ConfirmationMessages(config)
        self.transport: Transport = confirm.transport(config, environ)
        self.failures = 0
        self.hold_until = 0.0  # the server failed: no pass tries before this
        self.server_error = ""  # ...and why
        self.purged_at = float("-inf")

    def drain(self, state: Store, due_only: bool = True,
              stop: Callable[[], bool] = lambda: False) -> QueueSummary:
        """One pass. `due_only` False tries messages still in their backoff too."""
        now = self.clock()
        purged: tuple[str, ...] = ()
        if now - self.purged_at >= PURGE_SECONDS:
            self.purged_at = now
            purged = purge(state, now)
        if due_only and now < self.hold_until:
            if state.mail_queue.unexplained():
                # Queued since the server failed: they wait for the same reason.
                with state.transaction():
                    state.mail_queue.hold_all(self.server_error, self.hold_until, now)
            return QueueSummary(waiting=state.mail_queue.waiting(),
                                expired=len(purged))
        counts = {"sent": 0, "refused": 0, "deferred": 0}
        error = ""
        try:
            for item_id in state.mail_queue.candidates(now, due_only):
                if stop():
                    break
                with state.transaction():
                    item = state.mail_queue.claim(item_id, self.clock(), lease(self.config))
                if item is None:  # taken by another process, or no longer waiting
                    continue
                outcome, text = self._send(state, item)
                if outcome == "server":
                    error = text
                    break
                counts[outcome] += 1
        finally:
            self.transport.close()  # one connection per pass: passes are far apart
        if not error and counts["sent"]:
            if self.failures:
                log.info("mail server answering again")
            self.failures = 0
        return QueueSummary(
            **counts, waiting=state.mail_queue.waiting(), expired=len(purged), error=error,
        )

    def _send(self, state: Store, item: mailqueue.Queued) -> tuple[str, str]:
        """Send one message and record what happened: (the outcome, the error)."""
        now = self.clock()
        when = datetime.fromtimestamp(now, UTC)
        hours = hours_left(item.expires_at, now)
        try:
            msg = self.messages.build(item.email, item.link, hours, when)
            self.transport.send(msg, self.messages.sender.addr_spec, item.email,
                                confirm.label(when))
        except Permanent as exc:
            text = str(exc)
            with state.transaction():
                state.mail_queue.mark_refused(item, text)
            log.warning("confirmation to %s refused: %s", mask(item.email),
                        _scrub(text, item.email))
            return "refused", text
        except Temporary as exc:
            if exc.connection:
                return self._server_failed(state, item, str(exc))
            text = str(exc)
            at = self.clock() + backoff(self.config, item.attempts + 1)
            with state.transaction():
                state.mail_queue.retry(item, text, at)
            log.info("confirmation to %s deferred: %s", mask(item.email),
                     _scrub(text, item.email))
            return "deferred", text
        except PublisherError as exc:  # a refused login, a policy refusal, the outbox
            return self._server_failed(state, item, exc.message)
        with state.transaction():
            state.mail_queue.mark_sent(item, self.clock())
        log.info("confirmation sent to %s", mask(item.email))
        return "sent", ""

    def _server_failed(
        self, state: Store, item: mailqueue.Queued, text: str
    ) -> tuple[str, str]:
        self.failures += 1
        now = self.clock()
        self.hold_until = now + backoff(self.config, self.failures)
        text = self.server_error = _scrub(text, item.email)
        with state.transaction():
            state.mail_queue.retry(item, text, self.hold_until)
            waiting = state.mail_queue.hold_all(text, self.hold_until, now)
        log.warning("confirmation mail: %s; %d waiting, next try in %.0f s", text,
                    max(waiting, 1), self.hold_until - now)
        return "server", text

    def next_pass(self, state: Store) -> float:
        """When a pass has something to do, at the latest POLL_SECONDS from now
        (another process may queue mail meanwhile)."""
        now = self.clock()
        due = state.mail_queue.next_due()
        soonest = now + POLL_SECONDS if due is None else min(now + POLL_SECONDS, due)
        return max(soonest, self.hold_until)


class Worker:
    """`Outgoing` in a background thread, for `publisher serve` and `publisher run`.

    It looks at the queue every POLL_SECONDS (other processes queue mail
    too), and when woken: the web app wakes it once the answer to a sign-up
    has gone out, so that the request never pays for the sending."""

    def __init__(self, config: Config, environ: Mapping[str, str] | None = None,
                 clock: Clock = time.time) -> None:
        self.config = config
        self.outgoing = Outgoing(config, environ, clock)
        self.stopping = threading.Event()
        self.woken = threading.Event()
        self.thread = threading.Thread(target=self._loop, name="publisher-mail", daemon=True)

    def start(self) -> None:
        self.thread.start()

    def wake(self) -> None:
        self.woken.set()

    def stop(self) -> None:
        """Finish the message being sent (up to STOP_SECONDS), then stop."""
        self.stopping.set()
        self.woken.set()
        if self.thread.is_alive():
            self.thread.join(STOP_SECONDS)

    def _loop(self) -> None:
        state: Store | None = None
        try:
            while not self.stopping.is_set():
                try:
                    if state is None:
                        state = Store.open(self.config.state_file)
                    self.outgoing.drain(state, stop=self.stopping.is_set)
                    wait = self.outgoing.next_pass(state) - self.outgoing.clock()
                except Exception as exc:  # the thread must outlive anything one pass does
                    _log_failure(exc)
                    wait = POLL_SECONDS
                self.woken.wait(min(max(wait, 0.05), POLL_SECONDS))
                self.woken.clear()
        finally:
            if state is not None:
                state.close()


def _log_failure(exc: Exception) -> None:
    # No traceback at the default level: a message could quote an address.
    if isinstance(exc, PublisherError):
        log.error("the mail queue failed: %s", exc.message)
    else:
        log.error("the mail queue failed: %s", type(exc).__name__)
    log.debug("traceback", exc_info=exc)


def _scrub(text: str, address: str) -> str:
    """Server replies often quote the address: never let it reach the log whole."""
    return text.replace(address, mask(address))
