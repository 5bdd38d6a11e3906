"""Read bounce and complaint reports that come back after the SMTP session.

A server that accepted a message may still fail to deliver it, and says so
later in a delivery status notification (DSN, RFC 3464) to the envelope
sender; a reader who presses "This is spam" at a provider with a feedback
loop makes it send an abuse report (ARF, RFC 5965). Both land in the mailbox
of `[delivery] return_path` and are read here, from a Maildir or over IMAP
(mail/inbox.py), by `publisher bounces` and `publisher run`.

Which recipients failed comes from flufl.bounce (GNU Mailman's detectors:
RFC 3464 and the odd formats of older servers). Whether a failure is hard or
soft comes from the DSN's own `Status:` (RFC 3463): 5.x.x is permanent but for
5.2.2 (mailbox full), 4.x.x is temporary.

Whom it is about is never taken from the report's word: the bounce address
is public (every message's Return-Path), so anyone can mail it a report
naming anyone. A report changes a subscriber only when it carries proof this
list made: the VERP address it was sent to (mail/verp.py), the returned
message's Message-ID (mail/msgid.py) or an unsubscribe token of this list in
the returned headers, each MAC'd with the list's own key; or, for mail sent
before lists had keys, an old Message-ID found in the send ledger. Anything
else is counted, as unverified, forged (a MAC that does not verify) or
another list's, and changes nobody. Each message is recorded once, read or
not: one that no parser makes sense of is "unreadable", never a crash that
would stop every later run at the same message.
"""

from __future__ import annotations

import email
import email.policy
import hashlib
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from email.message import Message
from email.parser import BytesHeaderParser
from pathlib import Path
from typing import Literal, cast

from flufl.bounce import _scan, all_failures

from ..config.settings import Config
from ..errors import ConfigError
from ..store.bounces import Kind as EventKind
from ..store.store import Store
from ..store.subscribers import email_key
from . import msgid, tokens, verp
from .inbox import ImapReader, read_maildir
from .messages import list_id
from .verp import Mark

Kind = Literal["hard", "soft", "complaint", "delay", "other", "unreadable"]
# verified: proof of this list's (acted on); unverified: no proof; forged: a
# MAC of ours (or an old one) that does not verify; list: another list's.
Trust = Literal["verified", "unverified", "forged", "list"]
ACTING = ("hard", "soft", "complaint")
# Feedback types that mean "the reader did not want this" (RFC 5965, 6650).
COMPLAINT_TYPES = {"abuse", "fraud", "other", "virus"}
# A report returns at most a digest (a few hundred KB); past this a message
# is recorded unread rather than handed to the parsers.
MAX_REPORT = 4 << 20
# Proofs looked at per report, of each kind: a genuine report has a few.
MAX_CANDIDATES = 64
_STATUS = re.compile(r"\b([245])\.(\d{1,3})\.(\d{1,3})\b")
# Each of these finds a run of characters and ends: linear in the text,
# whatever it holds (a pattern that has to backtrack would not be).
_WORD = re.compile(r"[^\s<>\"'(),;:\[\]\\]+")
_TOKEN_IN_URL = re.compile(r"[?&]token=([A-Za-z0-9_.-]{1,600})")


@dataclass(frozen=True)
class Report:
    """What one message in the bounce mailbox says, before the store is asked."""

    kind: Kind
    key: str  # its identity for "read once": the Message-ID, else a hash of its bytes
    marks: tuple[Mark, ...] = ()  # VERP addresses and Message-IDs shaped like ours
    legacy_ids: tuple[tuple[str, str], ...] = ()  # (slug, hash) of old-form Message-IDs
    tokens: tuple[tuple[str, str], ...] = ()  # (email key or "", verdict) of unsubscribe tokens
    addresses: tuple[str, ...] = ()  # the failed or complained-about addresses it names
    detail: str = ""  # status and diagnostic, for the record


def report_key(raw: bytes) -> str:
    """A message's identity for "read once", from its header alone: cheap
    enough to check before anything else is parsed."""
    end = min((i for i in (raw.find(b"\r\n\r\n"), raw.find(b"\n\n")) if i >= 0),
              default=len(raw))
    try:
        head = BytesHeaderParser(policy=email.policy.compat32).parsebytes(raw[: end + 4])
        msg_id = " ".join(str(head.get("Message-ID", "")).split())
    except Exception:  # noqa: BLE001 - hostile bytes: named by their hash instead
        msg_id = ""
    return msg_id or "sha256:" + hashlib.sha256(raw).hexdigest()


def _report_type(msg: Message) -> str:
    if msg.get_content_type() != "multipart/report":
        return ""
    return str(msg.get_param("report-type", "")).lower()


Marks = tuple[tuple[Mark, ...], tuple[tuple[str, str], ...]]


def _marks(text: str, keys: tokens.ListKeys) -> Marks:
    """Our VERP addresses and Message-IDs anywhere in the report (where it was
    sent, the returned headers), new form and old: every word with an `@`."""
    marks: dict[Mark, None] = {}
    legacy: dict[tuple[str, str], None] = {}
    for found in _WORD.finditer(text):
        word = found[0]
        if "@" not in word:
            continue
        if len(marks) < MAX_CANDIDATES:
            mark = verp.parse(word, keys) or msgid.parse(word, keys)
            if mark is not None:
                marks[mark] = None
        if len(legacy) < MAX_CANDIDATES:
            old = msgid.legacy_parts(word)
            if old is not None:
                legacy[old] = None
    return tuple(marks), tuple(legacy)


def _tokens(text: str, keys: tokens.ListKeys) -> tuple[tuple[str, str], ...]:
    """Unsubscribe tokens in the returned headers: (email key, "ok") when this
    list made it, ("", verdict) otherwise; damaged ones are left out."""
    found: dict[tuple[str, str], None] = {}
    for match in _TOKEN_IN_URL.finditer(text):
        if len(found) >= MAX_CANDIDATES:
            break
        try:
            checked = tokens.check(keys, "unsubscribe", match[1])
        except tokens.TokenError as exc:
            if exc.reason in ("forged", "list"):
                found[("", exc.reason)] = None
            continue
        found[(checked.key, "legacy") if checked.legacy else (checked.key, "ok")] = None
    return tuple(found)


def _failures(msg: Message) -> tuple[frozenset[bytes], frozenset[bytes]]:
    """(temporary, permanent) failed addresses, by flufl.bounce's detectors in
    its own order, as `all_failures` runs them; but a detector that raises on
    an odd message (a missing From, a header of undecodable bytes) is passed
    over, where `all_failures` would stop there and lose the rest."""
    detectors = getattr(_scan, "_DETECTORS", None)
    if not detectors:  # another flufl.bounce: no per-detector fallback
        return all_failures(msg)
    temporary: set[bytes] = set()
    permanent: set[bytes] = set()
    for detector in detectors:
        try:
            found_temporary, found_permanent = detector().process(msg)
        except Exception:  # noqa: BLE001, S112 - that detector only: the next may read it
            continue
        temporary.update(found_temporary)
        permanent.update(found_permanent)
        if found_temporary or found_permanent:
            break
    return frozenset(temporary), frozenset(permanent)


def _dsn_blocks(msg: Message) -> list[Message]:
    """The per-recipient blocks of every message/delivery-status part."""
    blocks: list[Message] = []
    for part in msg.walk():
        if part.get_content_type() == "message/delivery-status" and part.is_multipart():
            payload = part.get_payload()
            if isinstance(payload, list):
                blocks.extend(b for b in payload[1:] if isinstance(b, Message))
    return blocks


def _recipient(block: Message) -> str:
    for name in ("Original-Recipient", "Final-Recipient"):
        value = str(block.get(name, ""))
        kind, _, address = value.partition(";")
        if address.strip() and kind.strip().lower() == "rfc822":
            return address.strip().strip("<>")
    return ""


def classify(raw: bytes, keys: tokens.ListKeys, key: str = "") -> Report:
    """What the report message `raw` says, without touching the store. Never
    raises: a message nothing can read is kind "unreadable"."""
    key = key or report_key(raw)
    if len(raw) > MAX_REPORT:
        return Report("unreadable", key, detail=f"{len(raw)} bytes: too large for a report")
    try:
        return _classify(raw, keys, key)
    except Exception as exc:  # noqa: BLE001 - one odd message must not stop the others
        return Report("unreadable", key, detail=f"cannot be read: {type(exc).__name__}")


def _classify(raw: bytes, keys: tokens.ListKeys, key: str) -> Report:
    msg = email.message_from_bytes(raw, policy=email.policy.compat32)
    text = raw.decode("latin-1")
    marks, legacy = _marks(text, keys)
    found = _tokens(text, keys)
    if _report_type(msg) == "feedback-report":
        return _feedback(msg, Report("complaint", key, marks, legacy, found))
    temporary, permanent = _failures(msg)
    failed = tuple(sorted(a.decode("ascii", "replace") for a in permanent))
    delayed = tuple(sorted(a.decode("ascii", "replace") for a in temporary))
    if not failed:
        if delayed:
            return Report("delay", key, marks, legacy, found, delayed, "delivery delayed")
        return Report("other", key)
    statuses = {}
    for block in _dsn_blocks(msg):
        status = _STATUS.search(str(block.get("Status", "")))
        diagnostic = " ".join(str(block.get("Diagnostic-Code", "")).split())
        if status:
            statuses[_recipient(block).lower()] = (status.group(0), diagnostic)
    codes = [statuses.get(a.lower(), ("", "")) for a in failed]
    given = [code for code, _ in codes if code]
    # Soft only when the report says so for every failed recipient.
    soft = bool(given) and all(_is_soft(code) for code in given)
    detail = "; ".join(" ".join(filter(None, c)) for c in codes if any(c)) or "failed"
    return Report("soft" if soft else "hard", key, marks, legacy, found, failed, detail)


def _is_soft(status: str) -> bool:
    """RFC 3463: 4.x.x is temporary; 5.2.2 (mailbox full) is treated as one too."""
    return status.startswith("4.") or status == "5.2.2"


def _feedback(msg: Message, report: Report) -> Report:
    """A feedback report (ARF): a complaint when its type says the reader did
    not want the message; `report` is the complaint with its proofs."""
    fields: Message | None = None
    for part in msg.walk():
        if part.get_content_type() == "message/feedback-report":
            payload = part.get_payload()
            if isinstance(payload, list) and payload and isinstance(payload[0], Message):
                fields = payload[0]
            elif isinstance(payload, str):
                fields = email.message_from_string(payload.lstrip(), policy=email.policy.compat32)
            break
    if fields is None:
        return Report("other", report.key)
    feedback_type = str(fields.get("Feedback-Type", "")).strip().lower()
    if feedback_type not in COMPLAINT_TYPES:
        return Report("other", report.key, detail=f"feedback type {feedback_type or 'none'}")
    addresses = tuple(
        str(v).strip().strip("<>") for v in fields.get_all("Original-Rcpt-To", []) if str(v)
    )
    return Report("complaint", report.key, report.marks, report.legacy_ids, report.tokens,
                  addresses, f"feedback type {feedback_type}")


@dataclass
class BounceSummary:
    source: str
    read: int = 0
    repeated: int = 0  # read before: nothing done
    counts: dict[str, int] = field(default_factory=dict)  # by Report.kind
    trust: dict[str, int] = field(default_factory=dict)  # bounces and complaints, by Trust
    unmatched: int = 0  # a proven bounce or complaint for nobody on the list
    bounced: int = 0  # subscribers marked bounced now
    unsubscribed: int = 0  # marked unsubscribed now (complaints)
    soft_counted: int = 0

    def line(self) -> str:
        kinds = ", ".join(
            f"{self.counts.get(k, 0)} {label}"
            for k, label in (("hard", "hard bounces"), ("soft", "soft bounces"),
                             ("complaint", "complaints"), ("delay", "delay notices"),
                             ("other", "not bounces"), ("unreadable", "unreadable"))
        )
        return (
            f"Bounces ({self.source}): {self.read} messages read ({self.repeated} already "
            f"seen): {kinds}; {self.bounced} subscriber(s) marked bounced, "
            f"{self.unsubscribed} unsubscribed after a complaint, {self.soft_counted} soft "
            f"bounces counted, {self.unmatched} for nobody on the list; not acted on: "
            f"{self.trust.get('unverified', 0)} unverified, {self.trust.get('forged', 0)} "
            f"forged, {self.trust.get('list', 0)} for another list."
        )


def process(
    config: Config,
    state: Store,
    messages: Iterable[bytes],
    now: datetime,
    source: str,
    environ: Mapping[str, str] | None = None,
) -> BounceSummary:
    """Read each report once and act on it: one transaction per message, so an
    interruption loses nothing and a second read of the same mailbox counts
    nothing twice. A message read before is skipped before it is parsed."""
    keys = tokens.for_state(state, environ)
    evidence = Evidence(config, state, keys)
    summary = BounceSummary(source)
    for raw in messages:
        summary.read += 1
        key = report_key(raw)
        if state.bounces.known(key):
            summary.repeated += 1
            continue
        report = classify(raw, keys, key)
        with state.transaction():
            if state.bounces.known(key):  # another process read it meanwhile
                summary.repeated += 1
                continue
            summary.counts[report.kind] = summary.counts.get(report.kind, 0) + 1
            if report.kind not in ACTING:
                state.bounces.remember(key, report.kind, report.detail, "", now)
                continue
            trust, targets = evidence.judge(state, report)
            state.bounces.remember(key, report.kind, report.detail, trust, now)
            summary.trust[trust] = summary.trust.get(trust, 0) + 1
            if trust != "verified":
                continue
            if not targets:
                summary.unmatched += 1
            for subscriber_id, digest_id in targets:
                outcome = state.bounces.apply(
                    subscriber_id, digest_id, cast(EventKind, report.kind),
                    report.detail, config.delivery.max_failures, now,
                )
                if outcome == "bounced":
                    summary.bounced += 1
                elif outcome == "unsubscribed":
                    summary.unsubscribed += 1
                elif outcome == "counted":
                    summary.soft_counted += 1
    return summary


class Evidence:
    """What a report proves, checked against this list's store: the
    (subscriber id, digest id) pairs it is about, or why none."""

    def __init__(self, config: Config, state: Store, keys: tokens.ListKeys) -> None:
        self.keys = keys
        # What old Message-IDs hashed: the List-Id a list had before lists had tags.
        self.old_list_id = list_id(config, "")
        self.salt = state.meta.install_salt()
        self.old_ids: dict[str, dict[str, tuple[int, int]]] = {}  # slug -> hash -> pair

    def judge(
        self, state: Store, report: Report
    ) -> tuple[Trust, list[tuple[int, int]]]:
        targets: dict[int, int] = {}  # subscriber -> digest; the first proof names it
        proven = False
        verdicts: set[str] = set()
        for mark in report.marks:
            if mark.verdict != "ok":
                verdicts.add(mark.verdict)
                continue
            proven = True
            # A deleted subscriber's id may be reused: the ledger row says
            # this message went to this subscriber.
            if state.ledger.has(mark.subscriber_id, mark.digest_id):
                targets.setdefault(mark.subscriber_id, mark.digest_id)
        if self.keys.legacy:
            for slug, code in report.legacy_ids:
                pair = self._old_id(state, slug).get(code)
                if pair is not None:
                    proven = True
                    targets.setdefault(*pair)
        for key, verdict in report.tokens:
            if verdict != "ok":
                verdicts.add(verdict)
                continue
            proven = True
            subscriber = state.subscribers.by_key(key)
            if subscriber is not None and subscriber.id not in targets:
                targets[subscriber.id] = state.bounces.latest_sent(subscriber.id)
        if proven:
            return "verified", list(targets.items())
        if "forged" in verdicts:
            return "forged", []
        if "list" in verdicts or ("legacy" in verdicts and not self.keys.legacy):
            # Signed with the bare secret, by a list that is not this one.
            return "list", []
        return "unverified", []

    def _old_id(self, state: Store, slug: str) -> dict[str, tuple[int, int]]:
        """Every old-form Message-ID of the digest `slug`, from the send ledger."""
        found = self.old_ids.get(slug)
        if found is None:
            rows = state.ledger.recipients(slug)
            found = self.old_ids[slug] = {
                msgid.legacy(slug, digest_id, email_key(address), self.old_list_id,
                             self.salt): (subscriber_id, digest_id)
                for digest_id, subscriber_id, address in rows
            }
        return found


def collect(
    config: Config,
    now: datetime,
    *,
    maildir: Path | None = None,
    imap: bool = False,
    environ: Mapping[str, str] | None = None,
) -> list[BounceSummary]:
    """`publisher bounces`: read the Maildir and/or the IMAP mailbox and act on
    what they report. With neither named, the ones `[bounces]` sets up."""

    b = config.bounces
    if maildir is None and not imap:
        maildir = config.resolve(b.maildir) if b.maildir else None
        imap = bool(b.imap_host)
    if maildir is None and not imap:
        raise ConfigError(
            f"{config.file.name}: [bounces]: no mailbox to read: set maildir or imap_host "
            "(or pass --maildir DIR)",
            hint="point it at the mailbox that receives [delivery] return_path's mail",
        )
    reader = ImapReader(config, environ) if imap else None  # secrets checked up front
    with Store.open(config.state_file) as state:
        results = []
        if maildir is not None:
            results.append(process(config, state, read_maildir(maildir), now, str(maildir),
                                   environ))
        if reader is not None:
            results.append(process(config, state, reader.read(state), now, reader.name,
                                   environ))
            reader.commit(state)
        return results
