"""Does the time a sign-up takes tell anything? POST /subscribe, timed per kind of address.

    python -m bench.signups              # 200 requests of each kind
    python -m bench.signups --count 50

A real `publisher serve` (outbox transport, `rate_per_address = 3`) on
127.0.0.1, asked one request at a time, the kinds shuffled together, 50 ms
apart by default (`--gap`), as someone probing addresses would:

- new: an address never seen (mailed);
- pending, active, unsubscribed: an address already in that state (mailed);
- limited: an address over the per-address limit (no mail).

It prints the median and 90th percentile answer time of each kind. A
measurement, not a test: the goal is that the kinds cannot be told apart.
"""

from __future__ import annotations

import argparse
import http.client
import random
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from urllib.parse import urlencode

from .run import child_env
from .smtpsink import free_port
from .web import percentile

CONFIG = """\
[site]
url = "https://news.example.org"
title = "Bench News"

[delivery]
transport = "outbox"
from = "Bench News <news@news.example.org>"

[web]
listen = "127.0.0.1:{port}"
base_url = "http://127.0.0.1:{port}"
rate_per_ip = 0
rate_per_address = 3
"""
KINDS = ("new", "pending", "active", "unsubscribed", "limited")
CLI = [sys.executable, "-c", "from publisher.cli import main; main()"]


def post(port: int, email: str) -> float:
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
    body = urlencode({"email": email})
    started = time.perf_counter()
    try:
        conn.request("POST", "/subscribe", body=body,
                     headers={"Content-Type": "application/x-www-form-urlencoded"})
        response = conn.getresponse()
        response.read()
        if response.status != 200:
            raise SystemExit(f"{email}: answered {response.status}")
    finally:
        conn.close()
    return time.perf_counter() - started


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.signups", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--count", type=int, default=200, help="requests of each kind")
    parser.add_argument("--gap", type=float, default=0.05, help="seconds between requests")
    args = parser.parse_args(argv)
    n = args.count
    work = Path(tempfile.mkdtemp(prefix="publisher-signups-"))
    port = free_port()
    (work / "content").mkdir()
    (work / "publisher.toml").write_text(CONFIG.format(port=port), encoding="utf-8")
    env = child_env()
    cli = [*CLI, "--config", str(work / "publisher.toml")]
    rows = "".join(f"active{i}@example.org,,active\nunsub{i}@example.org,,unsubscribed\n"
                   for i in range(n))
    (work / "people.csv").write_text("email,name,status\n" + rows, encoding="utf-8")
    subprocess.run([*cli, "subscribers", "import", str(work / "people.csv")], env=env,
                   check=True, capture_output=True)
    server = subprocess.Popen([*cli, "serve"], env=env, stdout=subprocess.DEVNULL,
                              stderr=subprocess.DEVNULL)
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                post(port, "warm-up@example.org")
                break
            except OSError:
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.1)
        for i in range(n):
            post(port, f"pending{i}@example.org")
        for _ in range(3):
            post(port, "limited@example.org")
        time.sleep(3)  # their mail goes out before the clock starts
        plan = [(kind, i) for kind in KINDS for i in range(n)]
        random.Random(7).shuffle(plan)
        address = {"new": "new{}@example.org", "pending": "pending{}@example.org",
                   "active": "active{}@example.org", "unsubscribed": "unsub{}@example.org",
                   "limited": "limited@example.org"}
        times: dict[str, list[float]] = {kind: [] for kind in KINDS}
        for kind, i in plan:
            time.sleep(args.gap)
            times[kind].append(post(port, address[kind].format(i)) * 1000)
    finally:
        server.terminate()
        server.wait(30)
        shutil.rmtree(work, ignore_errors=True)
    print(f"POST /subscribe, {n} of each kind, one at a time (ms):")
    for kind in KINDS:
        values = times[kind]
        print(f"  {kind:<13} median {statistics.median(values):5.2f}   "
              f"p90 {percentile(values, 0.9):5.2f}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
