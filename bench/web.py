"""Load the list's web app while a digest goes out: no errors, no lost unsubscribes.

    python -m bench.web            # 10,000 recipients, 200 one-click POSTs, 1,000 subscribes
    python -m bench.web --smoke    # tiny sizes: checks the harness works (the tests run it)

A real `publisher serve` (uvicorn, on 127.0.0.1) and a real `publisher send`
to the outbox run as separate processes on one site. Once the send is under
way, 200 one-click unsubscribes (RFC 8058 POSTs, all released at once) and
1,000 subscribe POSTs (form-encoded, `--concurrency` at a time) hit the
server together. Afterwards it checks, from the state store and the outbox:

- every request answered 200 (errors = anything else, or no answer);
- every one-click unsubscribe is recorded (lost unsubscribes = 0);
- nobody was mailed after their unsubscribe was answered (the outbox file's
  time against the time the answer arrived);
- every subscribe left a pending subscriber and a confirmation mail.

It prints latency percentiles per kind of request and writes JSON to
bench/results/web-<UTC timestamp>.json. This is a measurement, not a test:
nothing here fails on time, only on errors and lost unsubscribes.
"""

from __future__ import annotations

import argparse
import http.client
import json
import math
import os
import platform
import random
import shutil
import signal
import sqlite3
import statistics
import subprocess
import sys
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from urllib.parse import quote, urlencode

from . import generate
from .run import SECRET, child_env, publisher_command
from .smtpsink import free_port

HERE = Path(__file__).resolve().parent
REPO = HERE.parent

CONFIG = """\
[site]
url = "https://news.example.org"
title = "Bench News"
timezone = "Europe/London"

[digest]
max_posts = 10
first_window_days = 36500

[delivery]
transport = "outbox"
from = "Bench News <news@news.example.org>"

[web]
listen = "127.0.0.1:{port}"
base_url = "http://127.0.0.1:{port}"
rate_per_ip = 0
rate_per_address = 0
"""


@dataclass
class Sizes:
    recipients: int = 10_000
    clicks: int = 200
    subscribes: int = 1_000
    concurrency: int = 50


@dataclass
class Call:
    kind: str  # "one-click" or "subscribe"
    started: float  # time.time()
    seconds: float
    status: int  # 0: no answer
    error: str = ""


@dataclass
class Report:
    sizes: dict[str, int]
    send_seconds: float = 0.0
    send_sent: int = 0
    send_skipped: int = 0
    load_seconds: float = 0.0
    load_during_send: bool = False
    errors: int = 0
    lost_unsubscribes: int = 0
    mailed_after_unsubscribe: int = 0
    skipped_by_unsubscribe: int = 0
    pending_created: int = 0
    confirmations: int = 0
    latency_ms: dict[str, dict[str, float]] = field(default_factory=dict)
    problems: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.problems


def percentile(values: list[float], share: float) -> float:
    """Nearest-rank percentile (0 < share <= 1)."""
    ordered = sorted(values)
    if not ordered:
        return 0.0
    # Nearest rank: the smallest value with at least `share` of them at or below it.
    rank = math.ceil(share * len(ordered))
    return ordered[min(len(ordered), max(1, rank)) - 1]


def post(port: int, path: str, body: str, timeout: float = 30.0) -> int:
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=timeout)
    try:
        conn.request("POST", path, body=body.encode(),
                     headers={"Content-Type": "application/x-www-form-urlencoded"})
        response = conn.getresponse()
        response.read()
        return response.status
    finally:
        conn.close()


def call(kind: str, port: int, path: str, body: str) -> Call:
    started, clock = time.time(), time.perf_counter()
    try:
        status, error = post(port, path, body), ""
    except OSError as exc:
        status, error = 0, f"{type(exc).__name__}: {exc}"
    return Call(kind, started, time.perf_counter() - clock, status, error)


def cli(site: Path, *args: str, secret: bool = True, ok: tuple[int, ...] = (0,)) -> None:
    env = child_env()
    if not secret:
        env.pop("PUBLISHER_SECRET", None)
    done = subprocess.run([*publisher_command(), "--quiet", *args], cwd=site, env=env,
                          capture_output=True, text=True, timeout=600)
    if done.returncode not in ok:
        raise SystemExit(f"`publisher {' '.join(args)}` exited {done.returncode}:\n"
                         f"{done.stdout}{done.stderr}")


def prepare(site: Path, port: int, sizes: Sizes, seed: int) -> None:
    if site.exists():
        shutil.rmtree(site)
    site.mkdir(parents=True)
    (site / "publisher.toml").write_text(CONFIG.format(port=port), encoding="utf-8")
    generate.write_posts(site / "content", 20, seed)
    people = site / "subscribers.csv"
    generate.write_subscribers(people, sizes.recipients, seed)
    cli(site, "subscribers", "import", str(people))
    # Issue the digest but send nothing yet: without the secret, delivery stops first.
    cli(site, "publish", secret=False, ok=(1,))


def active(site: Path) -> list[tuple[int, str]]:
    conn = sqlite3.connect(f"file:{site / '.publisher' / 'state.db'}?mode=ro", uri=True)
    try:
        return conn.execute(
            "SELECT id, email FROM subscribers WHERE status = 'active' ORDER BY id"
        ).fetchall()
    finally:
        conn.close()


def outbox_files(site: Path) -> list[Path]:
    folder = site / ".publisher" / "outbox"
    return [p for p in folder.iterdir() if p.suffix == ".eml"] if folder.is_dir() else []


def wait_health(port: int, server: subprocess.Popen[bytes], timeout: float = 30) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if server.poll() is not None:
            raise SystemExit(f"publisher serve exited {server.returncode}")
        try:
            conn = http.client.HTTPConnection("127.0.0.1", port, timeout=1)
            conn.request("GET", "/health")
            if conn.getresponse().status == 200:
                return
        except OSError:
            time.sleep(0.05)
    raise SystemExit("publisher serve did not answer /health")


def run(work: Path, sizes: Sizes, seed: int) -> Report:
    from publisher.mail import tokens
    from publisher.store.subscribers import email_key

    port = free_port()
    site = work / f"web-{sizes.recipients}"
    print(f"preparing {sizes.recipients:,} recipients in {site}", flush=True)
    prepare(site, port, sizes, seed)
    people = active(site)
    victims = random.Random(seed).sample(people, min(sizes.clicks, len(people)))
    # The list's own keys: its state store's salt bound to the secret.
    keys = tokens.for_store(site / ".publisher" / "state.db", {"PUBLISHER_SECRET": SECRET})
    clicks = [
        (sid, email, f"/unsubscribe?token={quote(tokens.make(keys, email_key(email)))}")
        for sid, email in victims
    ]
    signups = [urlencode({"email": f"new-{seed}-{i}@example.net", "name": f"New {i}"})
               for i in range(sizes.subscribes)]
    report = Report(sizes=asdict(sizes))

    log = open(site / "serve.log", "wb")  # noqa: SIM115 - closed below
    server = subprocess.Popen([*publisher_command(), "serve"], cwd=site, env=child_env(),
                              stdout=log, stderr=log)
    try:
        wait_health(port, server)
        send_started = time.perf_counter()
        sender = subprocess.Popen([*publisher_command(), "send"], cwd=site, env=child_env(),
                                  stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        # Start the load once mail is going out, so the two really overlap.
        threshold = min(200, sizes.recipients // 10)
        while len(outbox_files(site)) < threshold and sender.poll() is None:
            time.sleep(0.005)

        calls: list[Call] = []
        lock = threading.Lock()
        barrier = threading.Barrier(len(clicks) + 1)
        answered: dict[int, float] = {}

        def one_click(sid: int, path: str) -> None:
            barrier.wait()
            result = call("one-click", port, path, "List-Unsubscribe=One-Click")
            with lock:
                calls.append(result)
                answered[sid] = result.started + result.seconds

        def subscribe(body: str) -> None:
            result = call("subscribe", port, "/subscribe", body)
            with lock:
                calls.append(result)

        load_started = time.perf_counter()
        threads = [threading.Thread(target=one_click, args=(sid, path)) for sid, _, path in clicks]
        for thread in threads:
            thread.start()
        with ThreadPoolExecutor(sizes.concurrency) as pool:
            barrier.wait()  # the clicks go at once, the subscribes start with them
            list(pool.map(subscribe, signups))
        for thread in threads:
            thread.join()
        report.load_seconds = time.perf_counter() - load_started
        report.load_during_send = sender.poll() is None
        out, err = sender.communicate(timeout=600)
        report.send_seconds = time.perf_counter() - send_started
        if sender.returncode != 0:
            report.problems.append(f"publisher send exited {sender.returncode}: {err.strip()}")
        print(f"  send: {out.strip()}", flush=True)

        # Confirmation mail is sent from the server's background thread: let it drain.
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline:
            report.confirmations = sum(1 for p in outbox_files(site)
                                       if p.name.startswith("confirm-"))
            if report.confirmations >= sizes.subscribes:
                break
            time.sleep(0.1)
    finally:
        server.send_signal(signal.SIGTERM)
        code = server.wait(60)
        log.close()
    if code != 0:
        report.problems.append(f"publisher serve exited {code}")

    judge(site, report, calls, clicks, answered)
    return report


def judge(site: Path, report: Report, calls: list[Call], clicks: list[tuple[int, str, str]],
          answered: dict[int, float]) -> None:
    failed = [c for c in calls if c.status != 200]
    report.errors = len(failed)
    for c in failed[:5]:
        report.problems.append(f"{c.kind}: status {c.status} {c.error}".strip())
    for kind in ("one-click", "subscribe"):
        times = [c.seconds * 1000 for c in calls if c.kind == kind]
        if times:
            report.latency_ms[kind] = {
                "count": len(times),
                "p50": round(statistics.median(times), 1),
                "p99": round(percentile(times, 0.99), 1),
                "max": round(max(times), 1),
            }
    conn = sqlite3.connect(f"file:{site / '.publisher' / 'state.db'}?mode=ro", uri=True)
    try:
        status = dict(conn.execute("SELECT id, status FROM subscribers").fetchall())
        sends = dict(conn.execute(
            "SELECT subscriber_id, status FROM sends WHERE digest_id = "
            "(SELECT max(id) FROM digests)").fetchall())
        slug = conn.execute("SELECT slug FROM digests ORDER BY id DESC LIMIT 1").fetchone()[0]
        report.pending_created = conn.execute(
            "SELECT COUNT(*) FROM subscribers WHERE status = 'pending'").fetchone()[0]
    finally:
        conn.close()
    counts = {s: sum(1 for v in sends.values() if v == s) for s in ("sent", "skipped")}
    report.send_sent, report.send_skipped = counts["sent"], counts["skipped"]
    outbox = site / ".publisher" / "outbox"
    for sid, _email, _path in clicks:
        if status.get(sid) != "unsubscribed":
            report.lost_unsubscribes += 1
        if sends.get(sid) == "skipped":
            report.skipped_by_unsubscribe += 1
        copy = outbox / f"{slug}-{sid:07d}.eml"
        if copy.exists() and sid in answered and copy.stat().st_mtime > answered[sid]:
            report.mailed_after_unsubscribe += 1
    if report.lost_unsubscribes:
        report.problems.append(f"{report.lost_unsubscribes} unsubscribes lost")
    if report.mailed_after_unsubscribe:
        report.problems.append(
            f"{report.mailed_after_unsubscribe} mailed after their unsubscribe was answered")
    subscribes = report.sizes["subscribes"]
    if report.pending_created != subscribes:
        report.problems.append(f"{report.pending_created} pending subscribers, not {subscribes}")
    if report.confirmations != subscribes:
        report.problems.append(f"{report.confirmations} confirmation mails, not {subscribes}")


def show(report: Report) -> None:
    s = report.sizes
    print()
    print(f"send of {s['recipients']:,} to the outbox: {report.send_seconds:.2f} s "
          f"({report.send_sent:,} sent, {report.send_skipped} skipped)")
    print(f"load: {s['clicks']} one-click + {s['subscribes']:,} subscribe POSTs in "
          f"{report.load_seconds:.2f} s, {'during' if report.load_during_send else 'NOT during'}"
          " the send")
    print("request    | count | p50 ms | p99 ms | max ms")
    print("-----------|-------|--------|--------|-------")
    for kind, row in report.latency_ms.items():
        print(f"{kind:<10} | {row['count']:>5} | {row['p50']:>6} | {row['p99']:>6} | "
              f"{row['max']:>6}")
    print(f"errors: {report.errors}; lost unsubscribes: {report.lost_unsubscribes}; "
          f"mailed after unsubscribing: {report.mailed_after_unsubscribe} "
          f"({report.skipped_by_unsubscribe} skipped by the send because of it); "
          f"pending created: {report.pending_created}; confirmations: {report.confirmations}")
    for problem in report.problems:
        print(f"PROBLEM: {problem}")


def commit() -> str:
    try:
        return subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=REPO,
                              capture_output=True, text=True, timeout=10).stdout.strip()
    except OSError:
        return ""


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.web", description=__doc__.split("\n")[0])
    parser.add_argument("--smoke", action="store_true", help="tiny sizes, to check the harness")
    parser.add_argument("--work", type=Path, default=HERE / "work")
    parser.add_argument("--results", type=Path, default=HERE / "results")
    parser.add_argument("--recipients", type=int)
    parser.add_argument("--clicks", type=int)
    parser.add_argument("--subscribes", type=int)
    parser.add_argument("--concurrency", type=int)
    parser.add_argument("--seed", type=int, default=1)
    args = parser.parse_args(argv)
    sizes = Sizes(300, 20, 50, 10) if args.smoke else Sizes()
    for name in ("recipients", "clicks", "subscribes", "concurrency"):
        if getattr(args, name) is not None:
            setattr(sizes, name, getattr(args, name))
    report = run(args.work, sizes, args.seed)
    show(report)
    args.results.mkdir(parents=True, exist_ok=True)
    stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ")
    data: dict[str, Any] = {
        "scenario": "web", "smoke": args.smoke, "commit": commit(), "cpu_count": os.cpu_count(),
        "python": platform.python_version(), **asdict(report), "ok": report.ok,
    }
    path = args.results / f"web-{stamp}.json"
    path.write_text(json.dumps(data, indent=2) + "\n", encoding="utf-8")
    print(f"results: {path}")
    sys.exit(0 if report.ok else 1)


if __name__ == "__main__":
    main()
