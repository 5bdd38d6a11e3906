"""Relays that refuse: a refusal aimed at the whole server (RFC 3463 X.7.x
policy, X.3.x mail system, X.4.x network, X.5.x protocol; "authentication
required", "relay access denied"), at RCPT, at DATA and at MAIL FROM, to every
recipient or from some point on, while digests pile up.

With `max_failures = 1`, a refusal counted as a recipient's would bounce them
at once. Goals: every run with the relay broken ends in one `error:` line and
a `hint:` line (exit 1); no subscriber's status or failure count changes, no
row is marked failed, no bounce is recorded; once the relay is fixed, one
`send` gives every reader every digest, once.
"""

from __future__ import annotations

import shutil
import sqlite3
from collections import Counter
from datetime import timedelta
from pathlib import Path
from typing import Any

from aiosmtpd.controller import Controller

from tests.delivery_support import free_port

from . import harness as h
from .harness import Tally
from .kills import NOW, stamp

READERS = [f"reader{i}@example.org" for i in range(6)]
# (name, where, reply); `{to}` becomes the recipient.
CASES = [
    ("relay access denied at RCPT", "rcpt", "554 5.7.1 <{to}>: Relay access denied"),
    ("authentication required at RCPT", "rcpt", "530 5.7.0 Authentication required"),
    ("authentication required at RCPT, no enhanced code", "rcpt",
     "530 Authentication required"),
    ("relay not permitted at RCPT, no enhanced code (Exim)", "rcpt", "550 relay not permitted"),
    ("host on a block list at RCPT", "rcpt",
     "554 5.7.1 Service unavailable; Client host [127.0.0.1] blocked using zen.spamhaus.org"),
    ("sending quota used up at RCPT", "rcpt", "550 5.7.0 Daily sending quota exceeded"),
    ("mail system at RCPT", "rcpt", "554 5.3.2 System not accepting network messages"),
    ("network at RCPT", "rcpt", "550 5.4.4 Unable to route"),
    ("protocol at RCPT", "rcpt", "503 5.5.1 Error: need MAIL command"),
    ("content at RCPT", "rcpt", "554 5.6.0 Content refused"),
    ("policy at DATA", "data", "550 5.7.1 Message refused by policy"),
    ("authentication required at DATA", "data", "530 5.7.0 Authentication required"),
    ("mail system at DATA", "data", "552 5.3.4 Message size exceeds fixed limit"),
    ("network at DATA", "data", "554 5.4.6 Routing loop detected"),
    ("protocol at DATA", "data", "554 5.5.2 Syntax error"),
    ("authentication required at MAIL FROM", "mail", "530 5.7.0 Authentication required"),
    ("relay access denied at RCPT after 2 messages", "rcpt+2",
     "554 5.7.1 <{to}>: Relay access denied"),
    ("policy at DATA after 2 messages", "data+2", "550 5.7.1 Message refused by policy"),
]


class Relay:
    """An aiosmtpd handler that refuses at `where` with `reply` while
    `broken`, after accepting `grace` messages."""

    def __init__(self, where: str, reply: str) -> None:
        self.where, _, grace = where.partition("+")
        self.grace = int(grace or 0)
        self.reply = reply
        self.broken = True
        self.received: Counter[str] = Counter()
        self.refusals = 0

    def _refuse(self, where: str) -> bool:
        if self.broken and where == self.where and sum(self.received.values()) >= self.grace:
            self.refusals += 1
            return True
        return False

    async def handle_MAIL(self, server: Any, session: Any, envelope: Any, address: str,
                          options: list[str]) -> str:
        if self._refuse("mail"):
            return self.reply
        envelope.mail_from = address
        return "250 OK"

    async def handle_RCPT(self, server: Any, session: Any, envelope: Any, address: str,
                          options: list[str]) -> str:
        if self._refuse("rcpt"):
            return self.reply.format(to=address)
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        if self._refuse("data"):
            return self.reply
        for to in envelope.rcpt_tos:
            self.received[to] += 1
        return "250 2.0.0 Queued"


def relay_refuses(work: Path, digests: int) -> Tally:
    t = Tally()
    for index, (name, where, reply) in enumerate(CASES):
        one_case(t, work / f"relay-{index}", name, where, reply, digests)
    return t


def one_case(t: Tally, site: Path, name: str, where: str, reply: str, digests: int) -> None:
    shutil.rmtree(site, ignore_errors=True)
    handler = Relay(where, reply)
    port = free_port()
    server = Controller(handler, hostname="127.0.0.1", port=port, ready_timeout=10)
    server.start()
    db = site / ".publisher" / "state.db"
    try:
        h.write_config(site, "smtp", (
            "max_failures = 1\n"
            f'[smtp]\nhost = "127.0.0.1"\nport = {port}\nsecurity = "none"\n'
            "timeout = 2\nretries = 2\nretry_delay = 0.01\n"
        ))
        h.subscribe(t, site, READERS)
        before = subscribers(db)
        t.scenarios += 1
        t.faults += 1
        runs = []
        for day in range(digests):
            now = NOW + timedelta(days=day)
            h.post(site, f"p{day}.md", f"Refused day {day}", stamp(now - timedelta(hours=1)))
            runs.append(h.run(t, site, "publish", "--now", stamp(now), ok=(1,)))
        runs.append(h.run(t, site, "send", "--now", stamp(NOW + timedelta(days=digests)),
                          ok=(1,)))
        for proc in runs:
            lines = proc.stderr.splitlines()
            if (len(lines) != 2 or not lines[0].startswith("error: ")
                    or not lines[1].startswith("hint: ")
                    or "nobody is counted as bounced" not in lines[1]):
                t.fail("unexpected", f"{name}: not one error and its hint: {h.tail(proc.stderr)}")
        after = subscribers(db)
        changed = [a for a in READERS if before.get(a) != after.get(a)]
        for address in changed:
            t.fail("changed", f"{name}: {address} {before.get(address)} -> {after.get(address)}")
        blamed = blame(db)
        if blamed:
            t.fail("unexpected", f"{name}: {blamed} rows failed or bounce events recorded")
        # The relay fixed: one send mails everyone every digest.
        handler.broken = False
        h.run(t, site, "send", "--now", stamp(NOW + timedelta(days=digests)))
        for reader in READERS:
            copies = handler.received[reader]
            if copies < digests:
                t.fail("lost", f"{name}: {reader} got {copies} of {digests} digests")
            elif copies > digests:
                t.fail("duplicates", f"{name}: {reader} got {copies} copies of {digests}")
        h.check_integrity(t, db, name)
        h.check_private(t, site / "out", READERS, name)
        print(f"  {name}: {handler.refusals} refusals, {len(changed)} subscribers changed; "
              f"copies after the fix {sorted(handler.received.values())}", flush=True)
    finally:
        server.stop()


def subscribers(db: Path) -> dict[str, tuple[str, int]]:
    with sqlite3.connect(db) as conn:
        rows = conn.execute("SELECT email, status, failures FROM subscribers").fetchall()
    return {r[0]: (r[1], r[2]) for r in rows}


def blame(db: Path) -> int:
    """Ledger rows marked failed and bounce events: none may come from a relay's refusal."""
    with sqlite3.connect(db) as conn:
        failed = conn.execute("SELECT COUNT(*) FROM sends WHERE status = 'failed'").fetchone()
        events = conn.execute("SELECT COUNT(*) FROM bounce_events").fetchone()
    return int(failed[0]) + int(events[0])
