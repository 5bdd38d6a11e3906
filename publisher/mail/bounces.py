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
5.2.2 (mailbox full), 4.x.x is temporary. Who it was for comes first from the
VERP envelope address the report was sent to (`mail/verp.py`), which names the
subscriber and the digest; failing that, from the unsubscribe token in the
returned headers, or the failed address itself.
"""

from __future__ import annotations

import email
import email.policy
import hashlib
import re
import sqlite3
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from email.message import Message
from pathlib import Path
from typing import Literal

from flufl.bounce import all_failures

from ..config import Config
from ..errors import ConfigError, SubscriberError
from ..store import bounces as store
from ..store.state import State, open_state
from ..store.subscribers import by_key, email_key, normalise
from . import tokens, verp

Kind = Literal["hard", "soft", "complaint", "delay", "other"]
# Feedback types that mean "the reader did not want this" (RFC 5965, 6650).
COMPLAINT_TYPES = {"abuse", "fraud", "other", "virus"}
_STATUS = re.compile(r"\b([245])\.(\d{1,3})\.(\d{1,3})\b")
_TOKEN_IN_URL = re.compile(r"[?&]token=([A-Za-z0-9_\-.]+)")


@dataclass(frozen=True)
class Report:
    """What one message in the bounce mailbox says."""

    kind: Kind
    key: str  # its identity for "read once": the Message-ID, else a hash of its bytes
    verp: tuple[int, int] | None = None  # (subscriber id, digest id) from our envelope
    addresses: tuple[str, ...] = ()  # the failed or complained-about addresses it names
    token_keys: tuple[str, ...] = ()  # email keys from unsubscribe tokens in it
    detail: str = ""  # status and diagnostic, for the record


def _key(msg: Message, raw: bytes) -> str:
    msg_id = " ".join(str(msg.get("Message-ID", "")).split())
    return msg_id or "sha256:" + hashlib.sha256(raw).hexdigest()


def _report_type(msg: Message) -> str:
    if msg.get_content_type() != "multipart/report":
        return ""
    return str(msg.get_param("report-type", "")).lower()


def _verp(raw: bytes, secret: bytes) -> tuple[int, int] | None:
    """Our VERP address anywhere in the report: where it was sent (To,
    Delivered-To), or the returned message's Return-Path. Only a valid MAC counts."""
    text = raw.decode("latin-1")
    for found in re.finditer(r"[^\s<>\"':;,]+\+\d+-\d+-[0-9a-fA-F]{16}@[A-Za-z0-9.-]+", text):
        parsed = verp.parse(found[0], secret)
        if parsed is not None:
            return parsed
    return None


def _token_keys(raw: bytes, secret: bytes) -> tuple[str, ...]:
    """Email keys from valid unsubscribe tokens in the returned headers."""
    keys: list[str] = []
    for found in _TOKEN_IN_URL.finditer(raw.decode("latin-1")):
        try:
            key = tokens.verify(secret, found[1])
        except SubscriberError:
            continue
        if key not in keys:
            keys.append(key)
    return tuple(keys)


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


def classify(raw: bytes, secret: bytes) -> Report:
    """What the report message `raw` says, without touching the store."""
    msg = email.message_from_bytes(raw, policy=email.policy.compat32)
    key = _key(msg, raw)
    found = _verp(raw, secret)
    keys = _token_keys(raw, secret)
    if _report_type(msg) == "feedback-report":
        return _feedback(msg, key, found, keys)
    temporary, permanent = all_failures(msg)
    failed = tuple(sorted(a.decode("ascii", "replace") for a in permanent))
    delayed = tuple(sorted(a.decode("ascii", "replace") for a in temporary))
    if not failed:
        if delayed:
            return Report("delay", key, found, delayed, keys, "delivery delayed")
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
    return Report("soft" if soft else "hard", key, found, failed, keys, detail)


def _is_soft(status: str) -> bool:
    """RFC 3463: 4.x.x is temporary; 5.2.2 (mailbox full) is treated as one too."""
    return status.startswith("4.") or status == "5.2.2"


def _feedback(
    msg: Message, key: str, found: tuple[int, int] | None, keys: tuple[str, ...]
) -> Report:
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
        return Report("other", key)
    feedback_type = str(fields.get("Feedback-Type", "")).strip().lower()
    if feedback_type not in COMPLAINT_TYPES:
        return Report("other", key, detail=f"feedback type {feedback_type or 'none'}")
    addresses = tuple(
        str(v).strip().strip("<>") for v in fields.get_all("Original-Rcpt-To", []) if str(v)
    )
    return Report("complaint", key, found, addresses, keys, f"feedback type {feedback_type}")


@dataclass
class BounceSummary:
    source: str
    read: int = 0
    repeated: int = 0  # read before: nothing done
    counts: dict[str, int] = field(default_factory=dict)  # by Report.kind
    unmatched: int = 0  # a bounce or complaint for nobody on the list
    bounced: int = 0  # subscribers marked bounced now
    unsubscribed: int = 0  # marked unsubscribed now (complaints)
    soft_counted: int = 0

    def line(self) -> str:
        kinds = ", ".join(
            f"{self.counts.get(k, 0)} {label}"
            for k, label in (("hard", "hard bounces"), ("soft", "soft bounces"),
                             ("complaint", "complaints"), ("delay", "delay notices"),
                             ("other", "not bounces"))
        )
        return (
            f"Bounces ({self.source}): {self.read} messages read ({self.repeated} already "
            f"seen): {kinds}; {self.bounced} subscriber(s) marked bounced, "
            f"{self.unsubscribed} unsubscribed after a complaint, {self.soft_counted} soft "
            f"bounces counted, {self.unmatched} for nobody on the list."
        )


def process(
    config: Config,
    state: State,
    messages: Iterable[bytes],
    now: datetime,
    source: str,
    environ: Mapping[str, str] | None = None,
) -> BounceSummary:
    """Read each report once and act on it: one transaction per message, so an
    interruption loses nothing and a second read of the same mailbox counts
    nothing twice."""
    secret = tokens.secret_from_env(environ)
    summary = BounceSummary(source)
    for raw in messages:
        summary.read += 1
        report = classify(raw, secret)
        with state.transaction() as conn:
            if store.known(conn, report.key):
                summary.repeated += 1
                continue
            store.remember(conn, report.key, report.kind, report.detail, now)
            summary.counts[report.kind] = summary.counts.get(report.kind, 0) + 1
            if report.kind not in ("hard", "soft", "complaint"):
                continue
            targets = _targets(conn, report)
            if not targets:
                summary.unmatched += 1
            for subscriber_id, digest_id in targets:
                outcome = store.apply(
                    conn, subscriber_id, digest_id, report.kind, report.detail,
                    config.delivery.max_failures, now,
                )
                if outcome == "bounced":
                    summary.bounced += 1
                elif outcome == "unsubscribed":
                    summary.unsubscribed += 1
                elif outcome == "counted":
                    summary.soft_counted += 1
    return summary


def _targets(conn: sqlite3.Connection, report: Report) -> list[tuple[int, int]]:
    """(subscriber id, digest id) pairs the report is about."""
    if report.verp is not None:
        subscriber_id, digest_id = report.verp
        exists = conn.execute("SELECT 1 FROM subscribers WHERE id = ?", (subscriber_id,))
        return [(subscriber_id, digest_id)] if exists.fetchone() else []
    keys = list(report.token_keys)
    for address in report.addresses:
        try:
            keys.append(email_key(normalise(address)))
        except SubscriberError:
            continue
    found: list[tuple[int, int]] = []
    for key in dict.fromkeys(keys):
        subscriber = by_key(conn, key)
        if subscriber is not None and all(s != subscriber.id for s, _ in found):
            found.append((subscriber.id, store.latest_sent(conn, subscriber.id)))
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
    from .inbox import ImapReader, read_maildir

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
    state = open_state(config.state_file)
    try:
        results = []
        if maildir is not None:
            results.append(process(config, state, read_maildir(maildir), now, str(maildir),
                                   environ))
        if reader is not None:
            results.append(process(config, state, reader.read(state), now, reader.name,
                                   environ))
            reader.commit(state)
        return results
    finally:
        state.close()
