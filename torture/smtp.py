"""Every SMTP refusal, at RCPT and at DATA, and the broken servers, against
aiosmtpd: the send ends with a clear outcome, and once the server behaves,
everyone has the digest, never more than the fault allows."""

from __future__ import annotations

import re
import shutil
from collections import Counter
from datetime import timedelta
from pathlib import Path
from typing import Any

from aiosmtpd.controller import Controller

from tests.delivery_support import free_port
from tests.smtp_support import Dropping, Faulty, tls_context

from . import harness as h
from .harness import Tally
from .kills import NOW, stamp

READERS = [f"reader{i}@example.org" for i in range(6)]
CODES = ["421 4.3.2 Closing", "451 4.7.1 Greylisted", "452 4.2.2 Over quota",
         "550 5.1.1 No such user", "552 5.2.2 Mailbox full", "550 5.7.1 Spam",
         "552 5.3.4 Too big", "554 Transaction failed"]


def smtp_faults(work: Path) -> Tally:
    t = Tally()
    cases: list[tuple[str, dict[str, Any]]] = []
    for code in CODES:
        for where in ("rcpt", "data"):
            cases.append((f"{code[:3]} at {where.upper()} ({code[4:]})", {where: code}))
    cases += [("dropped mid-DATA", {"drop": True}), ("hang after the dot", {"hang": True}),
              ("no STARTTLS", {"security": "starttls"}),
              ("bad certificate (STARTTLS)", {"security": "starttls", "tls": "starttls"}),
              ("bad certificate (TLS)", {"security": "ssl", "tls": "ssl"})]
    for index, (name, fault) in enumerate(cases):
        one_case(t, work / f"smtp-{index}", name, fault)
    return t


def one_case(t: Tally, site: Path, name: str, fault: dict[str, Any]) -> None:
    shutil.rmtree(site, ignore_errors=True)
    handler = Faulty()
    handler.hang_for = 1.5
    port = free_port()
    kwargs: dict[str, Any] = {}
    if fault.get("tls") == "starttls":
        kwargs["tls_context"] = tls_context()
    elif fault.get("tls") == "ssl":
        kwargs["ssl_context"] = tls_context()
    kind = Dropping if fault.get("drop") else Controller
    server = kind(handler, hostname="127.0.0.1", port=port, ready_timeout=10, **kwargs)
    server.start()
    victim = READERS[2]
    try:
        security = fault.get("security", "none")
        h.write_config(site, "smtp", (
            f'[smtp]\nhost = "127.0.0.1"\nport = {port}\nsecurity = "{security}"\n'
            "timeout = 0.5\nretries = 3\nretry_delay = 0.01\n"
        ))
        h.subscribe(t, site, READERS)
        h.post(site, "p.md", "Faulty day", stamp(NOW - timedelta(hours=1)))
        for where in ("rcpt", "data"):
            if where in fault:
                # Two refusals: a 4xx is retried past them, a 5xx is final.
                getattr(handler, where)[victim] = [fault[where]] * 2
                if fault[where][:1] == "5" and where == "data" and _message_level(fault[where]):
                    for reader in READERS:
                        handler.data[reader] = [fault[where]]
        if fault.get("hang"):
            handler.hang = {victim}
        t.scenarios += 1
        t.faults += 1
        first = h.run(t, site, "publish", "--now", stamp(NOW), ok=(0, 1))
        mailed_before_fix = handler.mail_from
        # A refusal at RCPT aimed at the server (5.3.4, 5.7.1) is nobody's:
        # the victim is held back, and mailed once the server is fixed.
        permanent_for_victim = (
            "rcpt" in fault and fault["rcpt"][:1] == "5" and not _server_level(fault["rcpt"])
        ) or ("data" in fault and fault["data"][:1] == "5" and not _message_level(fault["data"]))
        # The server is fixed; whatever is pending goes out now.
        handler.rcpt.clear()
        handler.data.clear()
        handler.hang = set()
        if fault.get("drop") or fault.get("security", "none") != "none":
            server.stop()
            server = Controller(handler, hostname="127.0.0.1", port=port, ready_timeout=10)
            server.start()
            h.write_config(site, "smtp", (
                f'[smtp]\nhost = "127.0.0.1"\nport = {port}\nsecurity = "none"\n'
                "timeout = 0.5\nretries = 3\nretry_delay = 0.01\n"
            ))
        h.run(t, site, "send", "--now", stamp(NOW))
        copies = handler.received
        allowed = 2 if fault.get("hang") else 1
        for reader in READERS:
            expected_none = reader == victim and permanent_for_victim
            if copies[reader] == 0 and not expected_none:
                t.fail("lost", f"{name}: {reader} never got the digest")
            if copies[reader] > (0 if expected_none else allowed):
                t.fail("duplicates", f"{name}: {reader} got {copies[reader]} copies")
        if fault.get("security", "none") != "none" and mailed_before_fix:
            t.fail("unexpected", f"{name}: mail sent before TLS was refused")
        h.check_integrity(t, site / ".publisher" / "state.db", name)
        h.check_private(t, site / "out", READERS, name)
        print(f"  {name}: exit {first.returncode}; copies {sorted(Counter(copies).values())}",
              flush=True)
    finally:
        server.stop()


def _server_level(reply: str) -> bool:
    """A 5xx at RCPT about the server, not the recipient: an enhanced code
    whose subject is not 0 (other), 1 (address) or 2 (mailbox)."""
    m = re.match(r"\d{3} [245]\.(\d{1,3})\.", reply)
    return m is not None and m.group(1) not in ("0", "1", "2")


def _message_level(reply: str) -> bool:
    """A 5xx at DATA about the message, not the recipient (RFC 3463: X.1.x and
    X.2.x are about the recipient's address and mailbox)."""
    m = re.match(r"\d{3} [245]\.(\d{1,3})\.", reply)
    return m is None or m.group(1) not in ("1", "2")
