"""Stop anywhere: SIGTERM to `publisher run` at random moments of each kind of job.

The kinds, in turn: a rebuild after a burst of new posts; a future post
coming due; the digest and its delivery to a real SMTP server (aiosmtpd),
with the list's web pages up and a visitor's connection open; and reading a
Maildir of bounce reports (in a child process). Every other signal goes to
the service's process group instead of its pid, as systemd's default
KillMode and Ctrl-C do, so the child processes get it too.

After each stop: exit status 0 within 5 s of the signal and no traceback;
every feed valid; a post whose job had begun in the feeds; every recipient
mailed once or not at all, as the ledger says, and no row left pending;
every report read at most once; no lock held (the next run neither waits nor
takes over, and every lock file can be taken); no temp file under out/;
PRAGMA integrity_check ok; no process of the service left running.

Scenarios run a few at a time, each in a site of its own, so the full run's
100 stops take minutes, not a quarter of an hour.
"""

from __future__ import annotations

import mailbox
import os
import random
import shutil
import signal
import socket
import sqlite3
import subprocess
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

from bench import generate
from publisher.lock import try_acquire
from tests.delivery_support import Server, free_port
from tests.service_site import Running, alive, children_of, wait_for, write_post

from . import harness as h
from .harness import Tally

KINDS = ("rebuild", "due", "digest", "bounces")
EXIT_WITHIN = 5.0  # seconds from the signal to the exit, as the issue asks
PARALLEL = 3
LOCKS = ("publisher.lock", "service.lock", "send.lock")
RETURN_PATH = "bounces@news.example.org"
READERS = [f"reader{i}@example.org" for i in range(12)]


@dataclass
class Stop:
    """One scenario's signal: where it went, and whether it landed in a job."""

    kind: str
    group: bool
    mid_job: bool = False
    seconds: float = 0.0  # from the signal to the exit


@dataclass(frozen=True)
class Template:
    """A kind's starting site, prepared once and copied for every stop."""

    root: Path
    bounced: tuple[str, ...] = ()  # readers with a hard bounce in the Maildir
    reports: int = 0  # messages in the Maildir


def sigterm(work: Path, stops: int, rng: random.Random) -> Tally:
    """`stops` scenarios, the kinds in turn, PARALLEL at a time."""
    total = Tally()
    folder = work / "sigterm"
    templates = {
        "rebuild": posts_template(folder / "rebuild", 100, rng),
        "due": posts_template(folder / "due", 30, rng),
        "digest": digest_template(total, folder / "digest"),
        "bounces": bounces_template(total, folder / "bounces", rng),
    }
    runs: dict[str, Callable[[Tally, Path, Template, random.Random], Stop]] = {
        "rebuild": rebuild, "due": due, "digest": digest, "bounces": bounces,
    }
    plan = [(i, KINDS[i % len(KINDS)], rng.randrange(1 << 30)) for i in range(stops)]

    def one(item: tuple[int, str, int]) -> tuple[Tally, Stop | None]:
        index, kind, seed = item
        t = Tally()
        site = folder / f"{index:03d}-{kind}"
        shutil.copytree(templates[kind].root, site, symlinks=True)
        try:
            stop = runs[kind](t, site, templates[kind], random.Random(seed))
        except Exception as exc:  # a scenario that breaks is a finding, not a crash
            t.fail("unexpected", f"sigterm {index} ({kind}): {type(exc).__name__}: {exc}")
            return t, None
        finally:
            shutil.rmtree(site, ignore_errors=True)
        return t, stop

    landed = {kind: [0, 0] for kind in KINDS}  # kind: [mid-job, stops]
    slowest = 0.0
    with ThreadPoolExecutor(PARALLEL) as pool:
        for t, stop in pool.map(one, plan):
            total.add(t)
            if stop is not None:
                landed[stop.kind][0] += stop.mid_job
                landed[stop.kind][1] += 1
                slowest = max(slowest, stop.seconds)
    print("  signals that landed in a job: " + ", ".join(
        f"{kind} {mid} of {n}" for kind, (mid, n) in landed.items())
        + f"; slowest exit {slowest:.2f} s after the signal", flush=True)
    return total


# -- the starting sites -------------------------------------------------------------


def posts_template(root: Path, posts: int, rng: random.Random) -> Template:
    generate.write_posts(root / "content", posts, seed=rng.randrange(1 << 30))
    return Template(root)


def digest_template(t: Tally, root: Path) -> Template:
    """A digest issued two days ago; since then a new post and twelve readers:
    a service started now has a digest run to catch up on at once."""
    h.write_config(root, "smtp", '[schedule]\ndigest = ""\n')
    now = utcnow()
    h.post(root, "old.md", "Old", stamp(now - timedelta(days=3)))
    h.run(t, root, "publish", "--now", stamp(now - timedelta(days=2)))
    h.subscribe(t, root, READERS)
    h.post(root, "new.md", "New", stamp(now - timedelta(days=1)))
    return Template(root)


def bounces_template(t: Tally, root: Path, rng: random.Random) -> Template:
    """A digest sent (through aiosmtpd, for its real VERP addresses), then a
    Maildir of hard bounces for half the readers among 250 other messages."""
    server = Server().start()
    try:
        h.write_config(root, "smtp", smtp_settings(server.port, RETURN_PATH))
        h.post(root, "post.md", "Post", stamp(utcnow() - timedelta(hours=2)))
        h.subscribe(t, root, READERS)
        h.run(t, root, "publish")
        senders = dict(server.recorder.senders)
    finally:
        server.stop()
    bounced = tuple(READERS[::2])
    messages = [dsn(senders[r], r, i) for i, r in enumerate(bounced)]
    messages += [auto_reply(i) for i in range(250)]
    rng.shuffle(messages)
    box = mailbox.Maildir(root / "Maildir", create=True)
    for message in messages:
        box.add(message)
    return Template(root, bounced, len(messages))


def smtp_settings(port: int, return_path: str = "", rate: float = 0) -> str:
    # return_path goes first: it belongs to [delivery], the table CONFIG ends in.
    first = f'return_path = "{return_path}"\n' if return_path else ""
    return (f'{first}[smtp]\nhost = "127.0.0.1"\nport = {port}\nsecurity = "none"\n'
            f"rate = {rate}\n")


# -- the scenarios --------------------------------------------------------------


def rebuild(t: Tally, site: Path, template: Template, rng: random.Random) -> Stop:
    """A burst of new posts, the signal somewhere in its scan, settling or rebuild."""
    h.write_config(site, extra='[schedule]\npoll_seconds = 0.5\ndigest = ""\n')
    service = start(site)
    stop = Stop("rebuild", group=rng.random() < 0.5)
    with running(service):
        if not service.wait_log("rebuilt feeds", 60):
            t.fail("unexpected", f"rebuild: never built: {h.tail(service.log())}")
            return stop
        mark = len(service.lines)
        titles = [f"Burst {i}" for i in range(rng.randint(1, 5))]
        for i, title in enumerate(titles):
            write_post(site, f"burst-{i}.md", title, utcnow() - timedelta(hours=1))
        if rng.random() < 0.5:
            service.wait_log("scan found", 5, since=mark)
            time.sleep(rng.uniform(0, 0.3))  # settling, then ~0.2 s of rebuild
        else:
            time.sleep(rng.uniform(0, 1.2))  # a scan every 0.5 s, settling, rebuild
        signalled = send(t, service, stop, "rebuild")
    stop.mid_job = mid_job(service, mark, "scan found", "rebuilt feeds")
    if signalled:
        # The posts are all written before the signal, so a rebuild that began
        # before it loads them all.
        began = before_signal(service, mark, "scan found")
        after(t, site, "rebuild", titles if began else [])
    return stop


def due(t: Tally, site: Path, template: Template, rng: random.Random) -> Stop:
    """A future post coming due, the signal just before, during or after its job."""
    h.write_config(site, extra='[schedule]\npoll_seconds = 1\ndigest = ""\n')
    service = start(site)
    stop = Stop("due", group=rng.random() < 0.5)
    with running(service):
        if not service.wait_log("rebuilt feeds", 60):
            t.fail("unexpected", f"due: never built: {h.tail(service.log())}")
            return stop
        mark = len(service.lines)
        # Time enough for the scan, settling and rebuild that schedule it, on a
        # busy machine too.
        when = utcnow().replace(microsecond=0) + timedelta(seconds=4)
        write_post(site, "future.md", "Future", when)
        if not service.wait_log("next future post at", 10, since=mark):
            t.fail("unexpected", f"due: not scheduled: {h.tail(service.log())}")
            return stop
        if rng.random() < 0.5:
            # As the issue found it: right after the job says it has begun.
            service.wait_log("future post due", 5, since=mark)
            time.sleep(rng.uniform(0, 0.05))
        else:
            pause_until(when + timedelta(seconds=rng.uniform(-0.2, 0.3)))
        signalled = send(t, service, stop, "due")
    stop.mid_job = mid_job(service, mark, "future post due", "rebuilt feeds")
    if signalled:
        began = any("future post due" in line for line in service.lines[mark:])
        after(t, site, "due", ["Future"] if began else [])
    return stop


def digest(t: Tally, site: Path, template: Template, rng: random.Random) -> Stop:
    """The digest run the service missed, run at its start and sent to a real
    SMTP server over ~1 s; the web pages up, a visitor's connection open."""
    server = Server().start()
    try:
        web = free_port()
        fire = utcnow() - timedelta(minutes=10)
        h.write_config(site, "smtp", (
            smtp_settings(server.port, rate=len(READERS))
            + f'[schedule]\npoll_seconds = 1\ndigest = "{fire.minute} {fire.hour} * * *"\n'
            + f'[web]\nlisten = "127.0.0.1:{web}"\nbase_url = "http://127.0.0.1:{web}/"\n'
        ))
        service = start(site)
        stop = Stop("digest", group=rng.random() < 0.5)
        with running(service):
            if not service.wait_log("serving the list on", 30):
                t.fail("unexpected", f"digest: web pages not up: {h.tail(service.log())}")
                return stop
            visitor = visit(web)
            time.sleep(rng.uniform(0, 2.0))  # the job: ~0.6 s of build, ~1 s of sending
            signalled = send(t, service, stop, "digest")
            visitor.close()
        stop.mid_job = mid_job(service, 0, "", "rebuilt feeds", strictly=True)
        if not signalled:
            return stop
        copies = server.recorder.per_recipient()
    finally:
        server.stop()
    sends = h.ledger(site / ".publisher" / "state.db")
    if any(n > 1 for n in copies.values()):
        t.fail("duplicates", f"digest: copies {dict(copies)}")
    if sends.get("pending", 0):
        t.fail("lost", f"digest: stopped with rows pending: {sends}")
    if sum(copies.values()) != sends.get("sent", 0):
        t.fail("lost", f"digest: {sum(copies.values())} received, ledger {sends}")
    after(t, site, "digest", ["New"] if sends else [])
    h.check_private(t, site / "out", READERS, "digest")
    return stop


def bounces(t: Tally, site: Path, template: Template, rng: random.Random) -> Stop:
    """The service's first bounce poll reads the Maildir, in its child process."""
    h.write_config(site, "smtp", (
        smtp_settings(free_port(), RETURN_PATH)
        + '[schedule]\npoll_seconds = 1\ndigest = ""\n'
        + '[bounces]\nmaildir = "Maildir"\npoll_minutes = 1\n'
    ))
    service = start(site)
    stop = Stop("bounces", group=rng.random() < 0.5)
    with running(service):
        if not service.wait_log("reading bounces every", 30):
            t.fail("unexpected", f"bounces: not polling: {h.tail(service.log())}")
            return stop
        time.sleep(rng.uniform(0, 3.0))  # the child starts in ~0.5 s, reads for ~2 s
        signalled = send(t, service, stop, "bounces")
    stop.mid_job = any("bounces: stopped part-way" in line for line in service.lines)
    if not signalled:
        return stop
    h.run(t, site, "bounces")  # the rest, and nothing twice
    with sqlite3.connect(site / ".publisher" / "state.db") as conn:
        read = conn.execute("SELECT COUNT(*) FROM bounce_messages").fetchone()[0]
        gone = {r[0] for r in conn.execute(
            "SELECT email FROM subscribers WHERE status = 'bounced'")}
    if read != template.reports:
        t.fail("lost", f"bounces: {read} of {template.reports} reports recorded")
    if gone != set(template.bounced):
        t.fail("unexpected", f"bounces: {sorted(gone ^ set(template.bounced))[:3]} wrong")
    after(t, site, "bounces", [])
    return stop


# -- the service, the signal and the checks -------------------------------------


def start(site: Path) -> Running:
    # A session of its own: a signal to the group reaches the service and its
    # children only.
    return Running(site / "publisher.toml", env=h.child_env(), cwd=site,
                   start_new_session=True)


class running:  # noqa: N801 - a context manager read as a phrase
    """Whatever happens inside, the service is not left behind."""

    def __init__(self, service: Running) -> None:
        self.service = service

    def __enter__(self) -> None:
        return None

    def __exit__(self, *exc: object) -> None:
        if self.service.proc.poll() is None:
            with_children = [self.service.proc.pid, *children_of(self.service.proc.pid)]
            self.service.kill()
            for pid in with_children:
                if alive(pid):
                    os.kill(pid, signal.SIGKILL)


def send(t: Tally, service: Running, stop: Stop, what: str) -> bool:
    """SIGTERM, then the checks of the stop itself: exit 0 within EXIT_WITHIN s,
    no traceback, no child left. False if the service had already ended."""
    proc = service.proc
    if proc.poll() is not None:
        t.fail("unexpected", f"{what}: ended before the signal ({proc.returncode}): "
                             f"{h.tail(service.log())}")
        return False
    children = children_of(proc.pid)
    t.scenarios += 1
    t.faults += 1
    if stop.group:
        os.killpg(proc.pid, signal.SIGTERM)
    else:
        proc.send_signal(signal.SIGTERM)
    how = "group" if stop.group else "pid"
    signalled = time.monotonic()
    try:
        code = proc.wait(EXIT_WITHIN)
        stop.seconds = time.monotonic() - signalled
    except subprocess.TimeoutExpired:
        t.fail("unexpected", f"{what} ({how}): still running {EXIT_WITHIN:g} s after SIGTERM: "
                             f"{h.tail(service.log(), 3)}")
        return False
    service.kill()  # joins the log reader
    h.check_output(t, service.log(), f"{what} ({how})")
    if code != 0:
        t.fail("unexpected", f"{what} ({how}): exit status {code}: {h.tail(service.log())}")
    if not service.log().rstrip().endswith("stopped"):
        t.fail("unexpected", f"{what} ({how}): no 'stopped' line: {h.tail(service.log())}")
    wait_for(lambda: not any(alive(pid) for pid in children), 5)
    left = [pid for pid in children if alive(pid)]
    if left:
        t.fail("orphans", f"{what} ({how}): processes {left} outlived the service")
        for pid in left:
            os.kill(pid, signal.SIGKILL)
    return True


def after(t: Tally, site: Path, what: str, titles: list[str]) -> None:
    """Nothing half-done: valid feeds holding `titles` (posts whose job began),
    every lock free (taken at once, no takeover), no temp files, an intact store."""
    out, state = site / "out", site / ".publisher"
    for name in h.FEEDS:
        path = out / name
        if path.exists() and not h.valid_feed(name, path.read_bytes()):
            t.fail("torn", f"{what}: {name} is not a valid feed")
    feed = (out / "feed.xml").read_text(encoding="utf-8") if (out / "feed.xml").exists() else ""
    for title in titles:
        if title not in feed:
            t.fail("lost", f"{what}: {title!r} was being published but is not in the feed")
    for name in LOCKS:
        lock = try_acquire(state / name, "torture: is it free?")
        if lock is None:
            t.fail("stale_locks", f"{what}: {name} is still held")
        else:
            lock.release()
    h.check_temp_files(t, out, what)
    h.check_integrity(t, state / "state.db", what)


def signal_line(service: Running, mark: int) -> int:
    """Where "received SIGTERM" is among the lines from `mark` (their count if absent)."""
    lines = service.lines[mark:]
    return next((i for i, line in enumerate(lines) if "received SIGTERM" in line), len(lines))


def before_signal(service: Running, mark: int, text: str) -> bool:
    return any(text in line for line in service.lines[mark:][: signal_line(service, mark)])


def mid_job(service: Running, mark: int, begins: str, ends: str, strictly: bool = False) -> bool:
    """Did the signal land inside a job: after a line with `begins` and before the
    job's `ends` line? (`strictly`: only that `ends` comes after the signal.)"""
    at = signal_line(service, mark)
    lines = service.lines[mark:]
    if at == len(lines):
        return False
    ended_after = any(ends in line for line in lines[at:])
    return ended_after if strictly else ended_after and before_signal(service, mark, begins)


def visit(port: int) -> socket.socket:
    """A visitor's keep-alive connection, one page read, left open."""
    sock = socket.create_connection(("127.0.0.1", port), timeout=5)
    sock.sendall(b"GET / HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n")
    sock.recv(65536)
    return sock


def pause_until(when: datetime) -> None:
    time.sleep(max((when - utcnow()).total_seconds(), 0))


def utcnow() -> datetime:
    return datetime.now(UTC)


def stamp(when: datetime) -> str:
    return when.isoformat()


def dsn(envelope: str, rcpt: str, n: int) -> bytes:
    """A Postfix-style delivery status notification: 5.1.1, no such user."""
    boundary = f"B{n}.1772438462/mx.example.com"
    return (
        f"Return-Path: <>\r\nDelivered-To: {envelope}\r\n"
        f"From: MAILER-DAEMON@mx.example.com (Mail Delivery System)\r\n"
        f"Subject: Undelivered Mail Returned to Sender\r\nTo: {envelope}\r\n"
        f"Message-Id: <dsn-{n}@mx.example.com>\r\nMIME-Version: 1.0\r\n"
        f"Content-Type: multipart/report; report-type=delivery-status;\r\n"
        f'\tboundary="{boundary}"\r\n\r\n'
        f"--{boundary}\r\nContent-Type: text/plain; charset=us-ascii\r\n\r\n"
        f"<{rcpt}>: host mx.example.com said: 550 5.1.1 no such user\r\n\r\n"
        f"--{boundary}\r\nContent-Type: message/delivery-status\r\n\r\n"
        f"Reporting-MTA: dns; mx.example.com\r\n\r\n"
        f"Final-Recipient: rfc822; {rcpt}\r\nOriginal-Recipient: rfc822;{rcpt}\r\n"
        f"Action: failed\r\nStatus: 5.1.1\r\n"
        f"Diagnostic-Code: smtp; 550 5.1.1 <{rcpt}>: no such user\r\n\r\n"
        f"--{boundary}--\r\n"
    ).encode()


def auto_reply(n: int) -> bytes:
    """Mail that is no bounce: it must be read, recorded and change nobody."""
    return (
        f"From: someone{n}@example.net\r\nTo: {RETURN_PATH}\r\n"
        f"Subject: Out of office\r\nMessage-ID: <ooo-{n}@example.net>\r\n"
        f"Auto-Submitted: auto-replied\r\n\r\nI am away until Monday. {'x' * 2000}\r\n"
    ).encode()
