"""Hand the issued digests to a transport, one ledger commit per accepted message.

The loop walks the pending rows of the send ledger. Each message is handed to
the transport (an .eml file in the outbox, or an SMTP server); only once the
transport has accepted it is its row committed as `sent`. A crash therefore
leaves at most the messages in flight unrecorded, and those are sent again by
the next run: the guarantee errs towards a rare duplicate, never a loss.
"""

from __future__ import annotations

import os
import sys
import threading
import time
from collections.abc import Callable, Iterator, Mapping
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from contextlib import contextmanager, suppress
from dataclasses import dataclass
from datetime import datetime
from email.utils import make_msgid
from typing import Any, Literal

from ..config import Config
from ..errors import DeliveryError, LockBusy
from ..settings_rules import mail_problems, raise_problems
from ..store import ledger
from ..store.ledger import Pending
from ..store.state import DigestRecord, State, open_state
from ..store.subscribers import email_key, normalise
from . import messages, tokens
from .transports import (
    NoReplyAfterData,
    OutboxTransport,
    Permanent,
    SmtpTransport,
    Temporary,
    Transport,
    password_from_env,
)

Progress = Callable[[int, int], None]  # (done, total)
Sleep = Callable[[float], None]
Clock = Callable[[], float]


@dataclass(frozen=True)
class DeliverySummary:
    transport: str
    digests: tuple[str, ...] = ()  # slugs that had pending recipients
    sent: int = 0
    failed: int = 0  # refused permanently (5xx)
    skipped: int = 0  # unsubscribed or bounced since the digest was issued
    deferred: int = 0  # temporary failures past this run's retries: still pending
    bounced: int = 0  # subscribers marked bounced by this run
    busy: bool = False  # another process was delivering; nothing done
    unanswered: int = 0  # no reply after their data once: perhaps delivered twice
    unconfirmed: int = 0  # no reply after their data twice: counted as sent, never re-sent

    def line(self) -> str:
        if self.busy:
            return "Delivery: another publisher process is delivering; left to it."
        if not self.digests:
            return "Delivery: nothing pending."
        text = (
            f"Delivery ({self.transport}, digest {', '.join(self.digests)}): "
            f"{self.sent} sent, {self.failed} failed, {self.skipped} skipped"
        )
        if self.deferred:
            text += f", {self.deferred} deferred (run `publisher send` later)"
        if self.bounced:
            text += f"; {self.bounced} subscriber(s) now marked bounced"
        if self.unanswered:
            text += (
                f"; {self.unanswered} got no reply from the server after the message was "
                "sent, and went out once more at most (a duplicate is possible)"
            )
        if self.unconfirmed:
            text += (
                f"; {self.unconfirmed} of them got no reply the second time either: counted "
                "as sent and not sent again (it may not have arrived; the server's log says)"
            )
        return text + "."


@dataclass(frozen=True)
class _Outcome:
    kind: Literal["sent", "failed", "deferred"]
    error: str = ""
    unanswered: bool = False  # a NoReplyAfterData on the way
    unconfirmed: bool = False  # sent twice, no reply either time


class _RateLimiter:
    """At most `rate` messages a second across all connections (0 = unlimited)."""

    def __init__(self, rate: float, sleep: Sleep, clock: Clock = time.monotonic) -> None:
        self.interval = 1.0 / rate if rate > 0 else 0.0
        self.sleep = sleep
        self.clock = clock
        self.lock = threading.Lock()
        self.next = 0.0

    def wait(self) -> None:
        if not self.interval:
            return
        with self.lock:
            now = self.clock()
            slot = max(now, self.next)
            self.next = slot + self.interval
        if slot > now:
            self.sleep(slot - now)


class _Worker:
    """Retries one message on one transport with bounded exponential backoff."""

    def __init__(self, config: Config, transport: Transport, limiter: _RateLimiter,
                 sleep: Sleep) -> None:
        self.smtp = config.smtp
        self.transport = transport
        self.limiter = limiter
        self.sleep = sleep
        self.silent = 0  # messages in a row that never got a reply after their data

    def deliver(self, msg: bytes, envelope_from: str, to: str, label: str) -> _Outcome:
        delay = self.smtp.retry_delay
        last: Temporary | None = None
        unanswered = False
        for attempt in range(self.smtp.retries + 1):
            if attempt:
                self.sleep(min(delay, self.smtp.retry_max_delay))
                delay *= 2
            self.limiter.wait()
            try:
                self.transport.send(msg, envelope_from, to, label)
                self.silent = 0
                return _Outcome("sent", unanswered=unanswered)
            except Permanent as exc:
                self.silent = 0
                return _Outcome("failed", str(exc), unanswered)
            except NoReplyAfterData as exc:
                # It may have arrived: one more try at most in this run, then
                # it waits for the next (a duplicate is better than a loss).
                if unanswered:
                    return self._silent(exc)
                unanswered = True
                last = exc
            except Temporary as exc:
                last = exc
        assert last is not None
        if unanswered:
            # It went out once with no reply, then could not be sent again.
            return _Outcome("sent", f"unconfirmed: {last}", unanswered=True, unconfirmed=True)
        if last.connection:
            # The server is unreachable, not this recipient: stop the run.
            raise DeliveryError(
                f"{self.transport.name}: {last} (gave up after {self.smtp.retries + 1} tries)",
                hint="nothing more was sent; pending recipients go out on the next "
                "`publisher send`",
            ) from last
        return _Outcome("deferred", str(last))


    def _silent(self, last: Temporary) -> _Outcome:
        """A message sent twice without a reply either time: it may well have
        arrived twice, so it is counted as sent, noted as unconfirmed, and not
        sent a third time. If the message before it went the same way, the
        server takes messages and never answers (or hangs up while reading
        them): the run stops rather than treat every message so."""
        self.silent += 1
        outcome = _Outcome("sent", f"unconfirmed: {last}", unanswered=True, unconfirmed=True)
        if self.silent >= 2:
            raise _ServerSilent(
                f"{self.transport.name}: two messages in a row got no reply after their "
                f"data ({last})",
                hint="the server takes messages and never answers, or hangs up while it "
                "reads them; check it and its log, then `publisher send` (the rest stay "
                "pending)",
                outcome=outcome,
            ) from last
        return outcome


class _ServerSilent(DeliveryError):
    """Stops the run; the message that showed it is still recorded (`outcome`)."""

    def __init__(self, message: str, hint: str = "", outcome: _Outcome | None = None) -> None:
        super().__init__(message, hint)
        self.outcome = outcome


def _outcome(future: Future[_Outcome]) -> tuple[_Outcome | None, BaseException | None]:
    """(what to record, what stops the run): a _ServerSilent has both."""
    try:
        return future.result(), None
    except _ServerSilent as exc:
        return exc.outcome, exc
    except BaseException as exc:
        return None, exc


def make_transport(config: Config, environ: Mapping[str, str] | None = None) -> Transport:
    if config.delivery.transport == "smtp":
        return SmtpTransport(config, password_from_env(config, environ))
    return OutboxTransport(config.resolve(config.delivery.outbox))


@contextmanager
def _send_lock(config: Config) -> Iterator[bool]:
    """An exclusive flock, released by the kernel even on SIGKILL. Yields False if busy."""
    if sys.platform == "win32":  # no flock there: runs are not serialised
        yield True
        return
    import fcntl

    path = config.state_dir / "send.lock"
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o600)
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            yield False
            return
        yield True
    finally:
        os.close(fd)


def deliver_pending(
    config: Config,
    state: State,
    now: datetime,
    progress: Progress | None = None,
    environ: Mapping[str, str] | None = None,
    sleep: Sleep = time.sleep,
    clock: Clock = time.monotonic,
) -> DeliverySummary:
    """Send every digest that still has pending recipients.

    `sleep` and `clock` pace retries and the rate limit; tests pass fakes.
    """
    kind = config.delivery.transport
    with _send_lock(config) as mine:
        if not mine:
            return DeliverySummary(kind, busy=True)
        digest_ids = ledger.pending_digests(state.conn)
        if not digest_ids:
            return DeliverySummary(kind)
        # Everything a message needs is checked before the first one goes out.
        raise_problems(mail_problems(config))
        sender = messages.sender_from_config(config)
        secret = tokens.secret_from_env(environ)
        records = [state.digest(i) for i in digest_ids]
        transport_factory = _factory(config, environ)
        limiter = _RateLimiter(
            config.smtp.rate if kind == "smtp" else 0.0, sleep, clock
        )
        return _run(config, state, sender, secret, [r for r in records if r], transport_factory,
                    now, progress, sleep, limiter)


def _factory(config: Config, environ: Mapping[str, str] | None) -> Callable[[], Transport]:
    # Resolve the password once, up front, so a missing one fails before sending.
    first = make_transport(config, environ)
    made = [first]

    def factory() -> Transport:
        if made:
            return made.pop()
        return make_transport(config, environ)

    return factory


def _run(
    config: Config,
    state: State,
    sender: messages.Sender,
    secret: bytes,
    records: list[DigestRecord],
    factory: Callable[[], Transport],
    now: datetime,
    progress: Progress | None,
    sleep: Sleep,
    limiter: _RateLimiter,
) -> DeliverySummary:
    conn = state.conn
    work = [(r, item) for r in records for item in ledger.pending(conn, r.id)]
    total = len(work)
    counts = {
        "sent": 0, "failed": 0, "skipped": 0, "deferred": 0, "bounced": 0, "unanswered": 0,
        "unconfirmed": 0,
    }
    connections = 1 if config.delivery.transport == "outbox" else max(1, config.smtp.connections)
    local = threading.local()
    transports: list[Transport] = []
    transports_lock = threading.Lock()

    def task(msg: bytes, to: str, label: str) -> _Outcome:
        worker = getattr(local, "worker", None)
        if worker is None:
            with transports_lock:
                transport = factory()
                transports.append(transport)
            worker = local.worker = _Worker(config, transport, limiter, sleep)
        result: _Outcome = worker.deliver(msg, sender.address.addr_spec, to, label)
        return result

    def record(item: Pending, outcome: _Outcome) -> None:
        if outcome.kind == "sent":
            ledger.mark_sent(conn, item, now, outcome.error)
        elif outcome.kind == "failed":
            if ledger.mark_failed(conn, item, outcome.error, config.delivery.max_failures, now):
                counts["bounced"] += 1
        else:
            ledger.mark_deferred(conn, item, outcome.error)
        counts[outcome.kind] += 1
        counts["unanswered"] += outcome.unanswered
        counts["unconfirmed"] += outcome.unconfirmed

    done = 0
    templates: dict[int, messages.Template] = {}
    inflight: dict[Future[_Outcome], Pending] = {}
    fatal: BaseException | None = None

    def settle(block_until_empty: bool) -> None:
        nonlocal done, fatal
        while inflight and (block_until_empty or len(inflight) >= connections):
            finished, _ = wait(list(inflight), return_when=FIRST_COMPLETED)
            for future in finished:
                item = inflight.pop(future)
                outcome, error = _outcome(future)
                try:
                    if outcome is not None:
                        record(item, outcome)
                except BaseException as exc:
                    error = error or exc
                if error is not None:  # raised after the others are settled
                    fatal = fatal or error
                done += 1
                if progress is not None:
                    progress(done, total)

    pool: ThreadPoolExecutor | _Inline
    if config.delivery.transport == "outbox":
        # Writing a file is quicker than handing it to a thread and back.
        pool = _Inline()
    else:
        pool = ThreadPoolExecutor(max_workers=connections, thread_name_prefix="publisher-send")
    try:
        for record_, item in work:
            if fatal is not None:
                break
            # Read now, not when the work list was made: someone who unsubscribed
            # on the web during this send is not mailed from this moment on.
            status = ledger.current_status(conn, item.subscriber_id)
            if status != "active":
                ledger.mark_skipped(conn, item, f"subscriber {status or 'removed'} before sending")
                counts["skipped"] += 1
                done += 1
                if progress is not None:
                    progress(done, total)
                continue
            recipient = messages.Recipient(item.email, item.name, email_key(item.email))
            template = templates.get(record_.id)
            if template is None:
                template = templates[record_.id] = messages.for_digest(sender, record_, now)
            msg = messages.for_subscriber(sender, record_, recipient, secret, now, template)
            label = f"{record_.slug}-{item.subscriber_id:07d}"
            inflight[pool.submit(task, msg, item.email, label)] = item
            settle(block_until_empty=False)
        settle(block_until_empty=True)
    except BaseException:
        # Interrupted (Ctrl-C, a message that cannot be built): whatever the
        # server accepted meanwhile is still recorded, so it is not sent twice.
        for future, item in list(inflight.items()):
            if future.cancel():
                continue
            # The first error is the one to report; later ones are dropped.
            outcome, _error = _outcome(future)
            if outcome is not None:
                with suppress(BaseException):
                    record(item, outcome)
        raise
    finally:
        pool.shutdown(wait=True, cancel_futures=True)
        for transport in transports:
            transport.close()
    if isinstance(fatal, DeliveryError) and counts["sent"]:
        # Say how far it got: the run stopped part-way, nothing is lost.
        raise type(fatal)(
            f"{fatal.message} ({counts['sent']} sent before it stopped, "
            f"{ledger.pending_count(conn)} still pending)",
            hint=fatal.hint,
        ) from fatal
    if fatal is not None:
        raise fatal
    return DeliverySummary(
        transport=config.delivery.transport,
        digests=tuple(r.slug for r in records),
        sent=counts["sent"],
        failed=counts["failed"],
        skipped=counts["skipped"],
        deferred=counts["deferred"],
        bounced=counts["bounced"],
        unanswered=counts["unanswered"],
        unconfirmed=counts["unconfirmed"],
    )


def send(
    config: Config,
    now: datetime,
    progress: Progress | None = None,
    environ: Mapping[str, str] | None = None,
) -> DeliverySummary:
    """`publisher send`: deliver what is pending, nothing else."""
    state = open_state(config.state_file)
    try:
        summary = deliver_pending(config, state, now, progress, environ)
    finally:
        state.close()
    if summary.busy:
        raise LockBusy(
            "another publisher process is delivering right now",
            hint="it sends every pending recipient; run `publisher send` again later if needed",
        )
    return summary


class _Inline:
    """The part of an executor `_run` uses, running each task at once in this thread."""

    def submit(self, fn: Callable[..., _Outcome], *args: Any) -> Future[_Outcome]:
        future: Future[_Outcome] = Future()
        try:
            future.set_result(fn(*args))
        except BaseException as exc:  # delivered to whoever reads the future
            future.set_exception(exc)
        return future

    def shutdown(self, wait: bool = True, cancel_futures: bool = False) -> None:
        pass


def send_test(
    config: Config,
    to: str,
    subject: str,
    html: str,
    text: str,
    now: datetime,
    environ: Mapping[str, str] | None = None,
    sleep: Sleep = time.sleep,
) -> str:
    """Send one copy to `to` and record nothing. Returns where it went."""
    address = normalise(to)
    sender = messages.sender_from_config(config)
    secret = tokens.secret_from_env(environ)
    template = messages.prepare(sender, subject="[test] " + subject, html=html, text=text, now=now)
    msg = template.render(
        messages.Recipient(address, "", email_key(address)),
        secret,
        make_msgid(domain=sender.domain),
    )
    transport = make_transport(config, environ)
    label = f"test-{now:%Y%m%dT%H%M%S}"
    try:
        outcome = _Worker(config, transport, _RateLimiter(0, sleep), sleep).deliver(
            msg, sender.address.addr_spec, address, label
        )
    finally:
        transport.close()
    if outcome.kind != "sent":
        raise DeliveryError(f"{address}: test message not accepted: {outcome.error}")
    return transport.describe(label)
