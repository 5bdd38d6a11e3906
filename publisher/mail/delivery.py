"""Hand the issued digests to a transport, one ledger commit per accepted message.

The loop walks the pending rows of the send ledger. Each message is handed to
the transport (an .eml file in the outbox, or an SMTP server); only once the
transport has accepted it is its row committed as `sent`. A crash therefore
leaves at most the messages in flight unrecorded, and those are sent again by
the next run: the guarantee errs towards a rare duplicate, never a loss.

A run delivers every digest pending when it ends, not only those pending
when it started: a `publish` that issues a digest while another process
delivers leaves it to that process (the send lock is held), so the sender
looks again before it finishes, and once more after letting go of the lock.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Mapping
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from contextlib import ExitStack, suppress
from dataclasses import dataclass, replace
from datetime import datetime
from email.utils import make_msgid
from typing import TYPE_CHECKING, Any, Literal

from ..config.rules import mail_address, mail_problems, raise_problems
from ..config.settings import Config
from ..errors import DeliveryError, LockBusy
from ..lock import send_lock
from ..store.digests import DigestRecord
from ..store.ledger import Ledger, Pending
from ..store.store import Store
from ..store.subscribers import email_key, normalise
from . import messages, tokens, verp
from .transports import (
    NoReplyAfterData,
    OutboxTransport,
    Permanent,
    ServerRefused,
    SmtpTransport,
    Temporary,
    Transport,
    password_from_env,
)

if TYPE_CHECKING:
    from .dkim import Signer

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
    held: int = 0  # refused at RCPT for a reason not about the recipient: still pending
    held_reason: str = ""  # the first such refusal
    # With SMTP: the latest digest's recipients whose copy only the outbox
    # took (the transport was switched since), as (slug, count).
    outbox_only: tuple[str, int] | None = None

    def line(self) -> str:
        if self.busy:
            return "Delivery: another publisher process is delivering; left to it."
        note = ""
        if self.outbox_only is not None:
            slug, count = self.outbox_only
            note = (
                f" Note: {count} recipient(s) of digest {slug} got it only in the outbox "
                f"(no mail was sent to them); `publisher send --resend-outbox {slug}` mails them."
            )
        if not self.digests:
            return "Delivery: nothing pending." + note
        # The outbox delivers nothing: it writes files for something else to send.
        done = "written to the outbox" if self.transport == "outbox" else "sent"
        text = (
            f"Delivery ({self.transport}, digest {', '.join(self.digests)}): "
            f"{self.sent} {done}, {self.failed} failed, {self.skipped} skipped"
        )
        if self.deferred:
            text += f", {self.deferred} deferred (run `publisher send` later)"
        if self.held:
            text += (
                f", {self.held} held back (blamed on nobody, still pending; "
                f"{self.held_reason})"
            )
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
        return text + "." + note

    def __add__(self, other: DeliverySummary) -> DeliverySummary:
        """Two rounds of one run (see `deliver_pending`) as one."""
        return replace(
            self,
            digests=self.digests + other.digests,
            sent=self.sent + other.sent,
            failed=self.failed + other.failed,
            skipped=self.skipped + other.skipped,
            deferred=self.deferred + other.deferred,
            bounced=self.bounced + other.bounced,
            unanswered=self.unanswered + other.unanswered,
            unconfirmed=self.unconfirmed + other.unconfirmed,
            held=self.held + other.held,
            held_reason=self.held_reason or other.held_reason,
        )


@dataclass(frozen=True)
class _Outcome:
    # held: refused at RCPT for a reason about the server, not the recipient
    kind: Literal["sent", "failed", "deferred", "held"]
    error: str = ""
    unanswered: bool = False  # a NoReplyAfterData on the way
    unconfirmed: bool = False  # sent twice, no reply either time
    hard: bool = False  # failed: no such mailbox, so bounced at once


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
        # The last message's refusal about the server, if nothing was taken since.
        self.refused: ServerRefused | None = None
        self.answered = False  # the server took, or refused, a recipient of its own

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
                self.refused, self.answered = None, True
                return _Outcome("sent", unanswered=unanswered)
            except Permanent as exc:
                self.silent = 0
                self.refused, self.answered = None, True
                return _Outcome("failed", str(exc), unanswered, hard=exc.hard)
            except ServerRefused as exc:
                return self._refused(exc)
            except NoReplyAfterData as exc:
                # It may have arrived: one more try at most (see `_silent`).
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

    def _refused(self, exc: ServerRefused) -> _Outcome:
        """A refusal at RCPT about the server or the sender ("relay access
        denied", "authentication required", a policy): nobody's bounce. Given
        to the next recipient too, it is the server's: the run stops. The next
        one taken, it was about this recipient after all (a policy of theirs),
        and stopping would stall every send there: the run goes on. Either
        way the row stays pending, blamed on nobody. A run whose connection
        got nothing but such refusals fails with it (`SendRun.summary`): a
        relay that refuses the only recipient refuses everyone."""
        outcome = _Outcome("held", str(exc))
        if self.refused is not None:
            raise _Stop(exc.message, hint=exc.hint, outcome=outcome) from exc
        self.refused = exc
        return outcome

    def _silent(self, last: Temporary) -> _Outcome:
        """A message sent twice without a reply either time: it may well have
        arrived twice, so it is counted as sent, noted as unconfirmed, and not
        sent a third time. If the message before it went the same way, the
        server takes messages and never answers: the run stops rather than
        treat every message so."""
        self.silent += 1
        outcome = _Outcome("sent", f"unconfirmed: {last}", unanswered=True, unconfirmed=True)
        if self.silent >= 2:
            raise _Stop(
                f"{self.transport.name}: two messages in a row got no reply after their "
                f"data ({last})",
                hint="the server takes messages and never answers; check it and its log, "
                "then `publisher send` (the rest stay pending)",
                outcome=outcome,
            ) from last
        return outcome


class _Stop(DeliveryError):
    """Stops the run; the message that showed it is still recorded (`outcome`)."""

    def __init__(self, message: str, hint: str = "", outcome: _Outcome | None = None) -> None:
        super().__init__(message, hint)
        self.outcome = outcome


def _outcome(future: Future[_Outcome]) -> tuple[_Outcome | None, BaseException | None]:
    """(what to record, what stops the run): a _Stop has both."""
    try:
        return future.result(), None
    except _Stop as exc:
        return exc.outcome, exc
    except BaseException as exc:
        return None, exc


def make_transport(config: Config, environ: Mapping[str, str] | None = None) -> Transport:
    if config.delivery.transport == "smtp":
        return SmtpTransport(config, password_from_env(config, environ))
    return OutboxTransport(config.resolve(config.delivery.outbox))


def deliver_pending(
    config: Config,
    state: Store,
    now: datetime,
    progress: Progress | None = None,
    environ: Mapping[str, str] | None = None,
    sleep: Sleep = time.sleep,
    clock: Clock = time.monotonic,
) -> DeliverySummary:
    """Send every digest that still has pending recipients, including those
    issued while this runs (see the module's docstring).

    `sleep` and `clock` pace retries and the rate limit; tests pass fakes.
    """
    kind = config.delivery.transport
    seen: set[int] = set()  # digests this run has taken on

    def more() -> list[DigestRecord]:
        """The digests with pending rows that this run has not taken on yet."""
        ids = [i for i in state.ledger.pending_digests() if i not in seen]
        seen.update(ids)
        return [r for r in map(state.digests.get, ids) if r is not None]

    total: DeliverySummary | None = None
    while True:
        lock = send_lock(config)
        if lock is None:  # another process delivers, and will look again too
            return total if total is not None else DeliverySummary(kind, busy=True)
        with lock:
            summary = _deliver_locked(config, state, now, progress, environ, sleep, clock, more)
        total = summary if total is None else total + summary
        # A publish whose digest came after the last look, but that found the
        # lock still held, left it to this run: look once more, lock released.
        if not any(i not in seen for i in state.ledger.pending_digests()):
            return total


def _deliver_locked(
    config: Config,
    state: Store,
    now: datetime,
    progress: Progress | None,
    environ: Mapping[str, str] | None,
    sleep: Sleep,
    clock: Clock,
    more: Callable[[], list[DigestRecord]],
) -> DeliverySummary:
    """`deliver_pending`'s work, under the send lock."""
    kind = config.delivery.transport
    records = more()
    outbox_only = _outbox_only(config, state)
    if not records:
        return DeliverySummary(kind, outbox_only=outbox_only)
    # Everything a message needs is checked before the first one goes out.
    raise_problems(mail_problems(config))
    keys = tokens.for_state(state, environ)
    sender = messages.sender_from_config(config, state.meta.install_salt())
    limiter = _RateLimiter(config.smtp.rate if kind == "smtp" else 0.0, sleep, clock)
    # Every connection's transport is made now, so a missing password
    # fails before the first message goes out.
    connections = 1 if kind == "outbox" else max(1, config.smtp.connections)
    workers = [
        _Worker(config, make_transport(config, environ), limiter, sleep)
        for _ in range(connections)
    ]
    composer = _Composer(sender, keys, now, _signer(config), return_path(config))
    run = SendRun(config, state.ledger, now, composer, workers, progress)
    return replace(run.deliver(records, more), outbox_only=outbox_only)


def _signer(config: Config) -> Signer | None:
    """The DKIM signer when [delivery] dkim_* are set (dkimpy is loaded only then)."""
    if not config.delivery.dkim_key:
        return None
    # lazy: dkimpy (~0.2 s) only when [delivery] dkim_* are set
    from .dkim import signer_from_config  # noqa: PLC0415

    return signer_from_config(config)


def return_path(config: Config) -> str:
    """[delivery] return_path as a bare address, or "" to use the From address."""
    value = config.delivery.return_path.strip()
    return mail_address(value).addr_spec if value else ""


def _outbox_only(config: Config, state: Store) -> tuple[str, int] | None:
    """With SMTP: how many of the latest digest's recipients only the outbox took."""
    if config.delivery.transport == "outbox":
        return None
    record_id = state.digests.last_id()
    if record_id is None:
        return None
    count = len(state.ledger.outbox_sent(record_id))
    if not count:
        return None
    slug = state.digests.slug_of(record_id)
    assert slug is not None
    return slug, count


class _Composer:
    """Each subscriber's message and envelope sender; a digest's shared part is
    built once, on first use. With DKIM, the final bytes are signed."""

    def __init__(
        self,
        sender: messages.Sender,
        keys: tokens.ListKeys,
        now: datetime,
        signer: Signer | None = None,
        return_path: str = "",
    ) -> None:
        self.sender = sender
        self.keys = keys
        self.now = now
        self.signer = signer
        self.return_path = return_path
        self.templates: dict[int, messages.Template] = {}

    def message(self, record: DigestRecord, item: Pending) -> bytes:
        recipient = messages.Recipient(
            item.email, item.name, email_key(item.email), item.first_name, item.subscriber_id
        )
        template = self.templates.get(record.id)
        if template is None:
            template = self.templates[record.id] = messages.for_digest(
                self.sender, record, self.now
            )
        msg = messages.for_subscriber(
            self.sender, record, recipient, self.keys, self.now, template
        )
        return self.signer.sign(msg) if self.signer is not None else msg

    def envelope(self, record: DigestRecord, item: Pending) -> str:
        """The envelope sender: VERP with [delivery] return_path, else From."""
        if self.return_path:
            return verp.envelope(self.return_path, item.subscriber_id, record.id, self.keys)
        return self.sender.address.addr_spec


class SendRun:
    """One pass over the pending rows of the send ledger, in named steps.

    `submit` hands a message to a worker; `settle` waits for finished ones and
    `record`s each outcome, the only place a row is committed as sent, so that
    happens only once the transport has accepted the message; `summary` says
    what the run did or raises its first fatal error. At most one message per
    connection is in flight, and `salvage` records what finished even when the
    run is interrupted: a crash can only leave those few accepted but unrecorded.

    Everything the run opens is on one ExitStack, `stack`: the transports (one
    per worker, so per connection) and then the executor, so unwinding stops
    the threads before it closes the connections they use. One use only.
    """

    def __init__(
        self,
        config: Config,
        ledger: Ledger,
        now: datetime,
        composer: _Composer,
        workers: list[_Worker],
        progress: Progress | None,
    ) -> None:
        self.config = config
        self.ledger = ledger
        self.now = now
        self.composer = composer
        self.workers = workers
        self.progress = progress
        self.window = len(workers)  # messages in flight at most
        self.counts = {"sent": 0, "failed": 0, "skipped": 0, "deferred": 0, "bounced": 0,
                       "unanswered": 0, "unconfirmed": 0, "held": 0}
        self.held_reason = ""
        self.done = 0
        self.total = 0
        self.inflight: dict[Future[_Outcome], Pending] = {}
        self.fatal: BaseException | None = None  # raised once the others are settled
        self.stack = ExitStack()
        self.pool: ThreadPoolExecutor | _Inline
        if config.delivery.transport == "outbox":
            # Writing a file is quicker than handing it to a thread and back.
            self.pool = _Inline()
        else:
            self.pool = ThreadPoolExecutor(
                max_workers=self.window, thread_name_prefix="publisher-send"
            )
        # The pool runs at most `window` threads; each takes a worker of its own.
        self._idle = list(workers)
        self._idle_lock = threading.Lock()
        self._local = threading.local()

    def deliver(
        self, records: list[DigestRecord], more: Callable[[], list[DigestRecord]]
    ) -> DeliverySummary:
        """Send every pending message of `records`, then of the digests `more`
        names (issued meanwhile), until it names none: the summary, or the
        first fatal error."""
        done: list[DigestRecord] = []
        with self.stack:
            for worker in self.workers:
                self.stack.enter_context(worker.transport)
            # Pushed after the transports, so run before they close. Not
            # `enter_context`: an executor's own __exit__ would not cancel
            # queued sends left behind by an interruption.
            self.stack.callback(self.pool.shutdown, wait=True, cancel_futures=True)
            try:
                while records and self.fatal is None:
                    done.extend(records)
                    self.send_all(records)
                    # A publish that issued a digest meanwhile found the send
                    # lock held and left its digest to this run.
                    records = more()
            except BaseException:
                # Interrupted (Ctrl-C, a message that cannot be built): whatever the
                # server accepted meanwhile is still recorded, so it is not sent twice.
                self.salvage()
                raise
        return self.summary(done)

    def send_all(self, records: list[DigestRecord]) -> None:
        """Every pending message of `records`, until done or a fatal error."""
        work = [(r, item) for r in records for item in self.ledger.pending(r.id)]
        self.total += len(work)
        for record, item in work:
            if self.fatal is not None:
                break
            # Read now, not when the work list was made: someone who
            # unsubscribed on the web during this send is not mailed
            # from this moment on.
            status = self.ledger.current_status(item.subscriber_id)
            if status != "active":
                self.skip(item, status or "removed")
                continue
            self.submit(record, item)
            self.settle(block_until_empty=False)
        self.settle(block_until_empty=True)

    def submit(self, record: DigestRecord, item: Pending) -> None:
        """Build one subscriber's message and hand it to a worker."""
        msg = self.composer.message(record, item)
        envelope_from = self.composer.envelope(record, item)
        label = f"{record.slug}-{item.subscriber_id:07d}"
        future = self.pool.submit(self._send, msg, envelope_from, item.email, label)
        self.inflight[future] = item

    def settle(self, block_until_empty: bool) -> None:
        """Record finished sends: until a connection is free, or until none is in flight."""
        while self.inflight and (block_until_empty or len(self.inflight) >= self.window):
            finished, _ = wait(list(self.inflight), return_when=FIRST_COMPLETED)
            for future in finished:
                item = self.inflight.pop(future)
                outcome, error = _outcome(future)
                try:
                    if outcome is not None:
                        self.record(item, outcome)
                except BaseException as exc:
                    error = error or exc
                if error is not None:  # raised after the others are settled
                    self.fatal = self.fatal or error
                self._tick()

    def record(self, item: Pending, outcome: _Outcome) -> None:
        """Commit one outcome to the ledger."""
        if outcome.kind == "sent":
            self.ledger.mark_sent(
                item, self.now, via=self.config.delivery.transport,
                note=outcome.error,
            )
        elif outcome.kind == "failed":
            max_failures = self.config.delivery.max_failures
            if self.ledger.mark_failed(
                item, outcome.error, max_failures, self.now, hard=outcome.hard
            ):
                self.counts["bounced"] += 1
        else:  # deferred, or held: pending for the next run, blamed on nobody
            self.ledger.mark_deferred(item, outcome.error)
            if outcome.kind == "held":
                self.held_reason = self.held_reason or outcome.error
        self.counts[outcome.kind] += 1
        self.counts["unanswered"] += outcome.unanswered
        self.counts["unconfirmed"] += outcome.unconfirmed

    def skip(self, item: Pending, status: str) -> None:
        """Unsubscribed or bounced since the digest was issued: nothing to send."""
        self.ledger.mark_skipped(item, f"subscriber {status} before sending")
        self.counts["skipped"] += 1
        self._tick()

    def salvage(self) -> None:
        """After an interruption: record what the workers finished, cancel the rest."""
        for future, item in list(self.inflight.items()):
            if future.cancel():
                continue
            # The first error is the one to report; later ones are dropped.
            outcome, _error = _outcome(future)
            if outcome is not None:
                with suppress(BaseException):
                    self.record(item, outcome)

    def summary(self, records: list[DigestRecord]) -> DeliverySummary:
        """What the run did; or its first fatal error, saying how far it got."""
        fatal = self.fatal
        for worker in self.workers:
            # Only refusals about the server on this connection, fewer than
            # the two that stop a run (one recipient): the server's, as far
            # as anyone can tell.
            if fatal is None and worker.refused is not None and not worker.answered:
                fatal = _Stop(worker.refused.message, hint=worker.refused.hint)
        if isinstance(fatal, DeliveryError) and self.counts["sent"]:
            # The run stopped part-way; nothing is lost.
            raise type(fatal)(
                f"{fatal.message} ({self.counts['sent']} sent before it stopped, "
                f"{self.ledger.pending_count()} still pending)",
                hint=fatal.hint,
            ) from fatal
        if fatal is not None:
            raise fatal
        return DeliverySummary(
            transport=self.config.delivery.transport,
            digests=tuple(r.slug for r in records),
            sent=self.counts["sent"],
            failed=self.counts["failed"],
            skipped=self.counts["skipped"],
            deferred=self.counts["deferred"],
            bounced=self.counts["bounced"],
            unanswered=self.counts["unanswered"],
            unconfirmed=self.counts["unconfirmed"],
            held=self.counts["held"],
            held_reason=self.held_reason,
        )

    def _send(self, msg: bytes, envelope_from: str, to: str, label: str) -> _Outcome:
        # In a pool thread: each thread sends on its own worker's transport.
        worker = getattr(self._local, "worker", None)
        if worker is None:
            with self._idle_lock:
                worker = self._local.worker = self._idle.pop()
        outcome: _Outcome = worker.deliver(msg, envelope_from, to, label)
        return outcome

    def _tick(self) -> None:
        self.done += 1
        if self.progress is not None:
            self.progress(self.done, self.total)


def send(
    config: Config,
    now: datetime,
    progress: Progress | None = None,
    environ: Mapping[str, str] | None = None,
    resend_outbox: str = "",
) -> DeliverySummary:
    """`publisher send`: deliver what is pending, nothing else. With
    `resend_outbox` (a digest's slug), first make the recipients whose copy
    only the outbox took pending again, to mail them with the SMTP transport."""
    with Store.open(config.state_file) as state:
        if resend_outbox:
            requeue_outbox(config, state, resend_outbox)
        summary = deliver_pending(config, state, now, progress, environ)
    if summary.busy:
        raise LockBusy(
            "another publisher process is delivering right now",
            hint="it sends every pending recipient; run `publisher send` again later if needed",
        )
    return summary


def requeue_outbox(config: Config, state: Store, slug: str) -> int:
    """Make digest `slug`'s outbox-only recipients pending again; how many."""
    if config.delivery.transport == "outbox":
        raise DeliveryError(
            f"[delivery] transport is still \"outbox\": resending digest {slug} would only "
            "write the same files again",
            hint='set transport = "smtp" in publisher.toml first',
        )
    digest_id = state.digests.id_of(slug)
    if digest_id is None:
        raise DeliveryError(f"no digest {slug!r}", hint="see `publisher send` or out/digest/")
    return state.ledger.requeue(digest_id, state.ledger.outbox_sent(digest_id))


class _Inline:
    """The part of an executor `SendRun` uses, running each task at once in this thread."""

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
    # The list's own List-Id and keys, as in a real send: from its state store.
    secret = tokens.secret_from_env(environ)
    with Store.open(config.state_file) as state:
        salt = state.meta.install_salt()
        keys = tokens.bind(secret, salt, state.meta.legacy_macs())
    sender = replace(sender, list_id=messages.list_id(config, salt))
    signer = _signer(config)
    template = messages.prepare(sender, subject="[test] " + subject, html=html, text=text, now=now)
    msg = template.render(
        messages.Recipient(address, "", email_key(address)),
        keys,
        make_msgid(domain=sender.domain),
    )
    if signer is not None:
        msg = signer.sign(msg)
    label = f"test-{now:%Y%m%dT%H%M%S}"
    with make_transport(config, environ) as transport:
        worker = _Worker(config, transport, _RateLimiter(0, sleep), sleep)
        outcome = worker.deliver(
            msg, return_path(config) or sender.address.addr_spec, address, label
        )
    if worker.refused is not None:
        raise worker.refused
    if outcome.kind != "sent":
        raise DeliveryError(f"{address}: test message not accepted: {outcome.error}")
    return transport.describe(label)
