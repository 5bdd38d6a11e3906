"""Sign-ups during a mail server outage: nothing is lost, and the mail follows soon.

A real `publisher run` with the list's pages on, its SMTP server (aiosmtpd)
down for `seconds` (ten minutes in the full run). Sign-ups are POSTed over
real HTTP all through the outage; then the server comes up. Every one of
them must get its confirmation, exactly once, soon after (the queue's
backoff is capped at a minute), and its link must work.
"""

from __future__ import annotations

import http.client
import re
import shutil
import signal
import statistics
import subprocess
import threading
import time
from email import message_from_bytes, policy
from email.message import EmailMessage
from pathlib import Path
from typing import Any
from urllib.parse import urlencode, urlsplit

from aiosmtpd.controller import Controller

from tests.delivery_support import free_port

from . import harness as h
from .harness import Tally

# After the outage: the longest backoff (60 s), a pass, and room for a slow machine.
GRACE_SECONDS = 120.0
LINK = re.compile(r"https?://[^\s\"'<>]+/confirm\?token=[^\s\"'<>]+")


class Sink:
    """Records each message's recipient, bytes and arrival time."""

    def __init__(self) -> None:
        self.arrived: list[tuple[str, bytes, float]] = []
        self.lock = threading.Lock()

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:  # noqa: N802
        with self.lock:
            for rcpt in envelope.rcpt_tos:
                self.arrived.append((rcpt, bytes(envelope.content), time.monotonic()))
        return "250 2.0.0 Queued"

    def count(self) -> int:
        with self.lock:
            return len(self.arrived)


def outage(work: Path, seconds: float, signups: int) -> Tally:
    t = Tally()
    site = work / "outage"
    shutil.rmtree(site, ignore_errors=True)
    port, smtp_port = free_port(), free_port()
    base = f"http://127.0.0.1:{port}"
    h.write_config(site, "smtp", (
        f'[smtp]\nhost = "127.0.0.1"\nport = {smtp_port}\nsecurity = "none"\ntimeout = 5\n'
        f'[web]\nlisten = "127.0.0.1:{port}"\nbase_url = "{base}"\n'
        "rate_per_ip = 0\nrate_per_address = 0\n"
        '[schedule]\npoll_seconds = 5\ndigest = ""\n'
    ))
    (site / "content").mkdir(parents=True, exist_ok=True)
    log_path = site / "run.log"
    t.scenarios += 1
    t.faults += 1
    sink = Sink()
    controller = Controller(sink, hostname="127.0.0.1", port=smtp_port, ready_timeout=10)
    people = [f"signup{i:03d}@example.org" for i in range(signups)]
    with open(log_path, "wb") as log:
        service = subprocess.Popen(h.command(site, "run"), cwd=site, env=h.child_env(),
                                   stdout=log, stderr=subprocess.STDOUT)
    started = False
    try:
        if not wait_ready(base, service):
            t.fail("unexpected", f"outage: `publisher run` did not serve: "
                                 f"{h.tail(log_path.read_text(errors='replace'), 4)}")
            return t
        began = time.monotonic()
        # The sign-ups, spread over the outage (the server is down: nothing listens).
        for index, person in enumerate(people):
            wait_until(began + seconds * index / max(len(people), 1))
            status = post(base, "/subscribe", urlencode({"email": person}))
            if status != 200:
                t.fail("unexpected", f"outage: POST /subscribe for {person} answered {status}")
        t.signups += len(people)
        wait_until(began + seconds)
        check_waiting(t, site, people)
        controller.start()
        started = True
        ended = time.monotonic()
        print(f"  outage: {len(people)} sign-ups during {seconds:.0f} s; server back",
              flush=True)
        deadline = ended + GRACE_SECONDS
        while sink.count() < len(people) and time.monotonic() < deadline:
            time.sleep(0.1)
        time.sleep(2)  # long enough for a duplicate to show
        check_arrivals(t, sink, people, ended, base)
    finally:
        if service.poll() is None:
            service.send_signal(signal.SIGTERM)
        try:
            code = service.wait(60)
        except subprocess.TimeoutExpired:
            service.kill()
            code = service.wait()
            t.fail("unexpected", "outage: `publisher run` did not stop on SIGTERM")
        if started:
            controller.stop()
    text = log_path.read_text(encoding="utf-8", errors="replace")
    h.check_output(t, text, "publisher run (outage)")
    if code != 0:
        t.fail("unexpected", f"outage: `publisher run` exited {code}: {h.tail(text)}")
    h.check_integrity(t, site / ".publisher" / "state.db", "outage")
    h.check_private(t, site / "out", people, "outage")
    return t


def wait_ready(base: str, service: subprocess.Popen[bytes], timeout: float = 60) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline and service.poll() is None:
        try:
            if post(base, "/health", None, "GET") == 200:
                return True
        except OSError:
            pass
        time.sleep(0.1)
    return False


def wait_until(moment: float) -> None:
    while (left := moment - time.monotonic()) > 0:
        time.sleep(min(left, 0.5))


def post(base: str, path: str, body: str | None, method: str = "POST") -> int:
    parts = urlsplit(base)
    conn = http.client.HTTPConnection(parts.hostname or "127.0.0.1", parts.port, timeout=30)
    try:
        headers = {"Content-Type": "application/x-www-form-urlencoded"} if body is not None else {}
        conn.request(method, path, body=body, headers=headers)
        response = conn.getresponse()
        response.read()
        return response.status
    finally:
        conn.close()


def check_waiting(t: Tally, site: Path, people: list[str]) -> None:
    """During the outage, `subscribers list --status pending` shows each one
    waiting, and why."""
    listing = h.run(t, site, "subscribers", "list", "--status", "pending")
    rows = {line.split()[0]: line for line in listing.stdout.splitlines()[1:] if line.strip()}
    for person in people:
        row = rows.get(person, "")
        if " waiting " not in row or "cannot connect" not in row:
            t.fail("unexpected", f"outage: {person} not listed as waiting, with why: {row!r}")


def check_arrivals(t: Tally, sink: Sink, people: list[str], ended: float, base: str) -> None:
    with sink.lock:
        arrived = list(sink.arrived)
    seen: dict[str, int] = {}
    delays = []
    for rcpt, data, when in arrived:
        seen[rcpt] = seen.get(rcpt, 0) + 1
        delays.append(when - ended)
        msg = message_from_bytes(data, policy=policy.default)
        assert isinstance(msg, EmailMessage)
        part = msg.get_body(("plain",))
        found = LINK.findall(part.get_content() if part is not None else "")
        if not found:
            t.fail("unexpected", f"outage: the confirmation to {rcpt} has no link")
            continue
        link = urlsplit(found[0])
        status = post(base, f"{link.path}?{link.query}", "")
        if status != 200:
            t.fail("unexpected", f"outage: {rcpt}'s link answered {status}")
    for person in people:
        if person not in seen:
            t.fail("lost", f"outage: no confirmation for {person}")
        elif seen[person] > 1:
            t.fail("duplicates", f"outage: {seen[person]} confirmations for {person}")
    t.confirmations += sum(1 for p in people if p in seen)
    if delays:
        t.confirm_seconds = max(t.confirm_seconds, round(max(delays), 1))
        print(f"  outage: {len(seen)} of {len(people)} confirmations arrived, "
              f"{min(delays):.1f} to {max(delays):.1f} s after it ended "
              f"(median {statistics.median(delays):.1f} s)", flush=True)
