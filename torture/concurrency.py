"""Two at once: two `publish`, `publish` during `run`, two `send`, and
unsubscribes landing while a send is going out."""

from __future__ import annotations

import shutil
import signal
import subprocess
import threading
import time
from collections import Counter
from datetime import timedelta
from pathlib import Path

from bench import generate
from tests.delivery_support import Server, free_port

from . import harness as h
from .harness import Tally
from .kills import NOW, stamp, subject


def concurrency(work: Path, posts: int, readers: int) -> Tally:
    t = Tally()
    two_publishes(t, work, posts)
    publish_during_run(t, work)
    two_sends_and_unsubscribes(t, work, readers)
    return t


def finish(t: Tally, proc: subprocess.Popen[str], what: str) -> subprocess.CompletedProcess[str]:
    out, err = proc.communicate(timeout=600)
    h.check_output(t, out + err, what)
    return subprocess.CompletedProcess(proc.args, proc.returncode, out, err)


def two_publishes(t: Tally, work: Path, posts: int) -> None:
    site = work / "two-publishes"
    shutil.rmtree(site, ignore_errors=True)
    generate.write_posts(site / "content", posts, seed=11)
    h.write_config(site)
    readers = [f"reader{i}@example.org" for i in range(30)]
    h.subscribe(t, site, readers)
    for round_ in range(3):
        now = stamp(NOW + timedelta(days=round_))
        h.post(site, f"two-{round_}.md", f"Both at once {round_}",
               stamp(NOW + timedelta(days=round_, hours=-1)))
        first, second = (h.start(site, "publish", "--now", now) for _ in range(2))
        results = [finish(t, p, "two publishes") for p in (first, second)]
        t.scenarios += 1
        codes = sorted(r.returncode for r in results)
        if codes != [0, 0]:
            t.fail("unexpected", f"two publishes exited {codes}: "
                                 f"{[h.tail(r.stderr) for r in results]}")
        db = site / ".publisher" / "state.db"
        h.check_integrity(t, db, "two publishes")
        h.check_temp_files(t, site / "out", "two publishes")
        h.check_private(t, site / "out", readers, "two publishes")
        if h.digests_per_post(db):
            t.fail("duplicates", "two publishes: a post in two digests")
        sends = h.ledger(db)
        outbox = list((site / ".publisher" / "outbox").glob("*.eml"))
        if sends != {"sent": 30 * (round_ + 1)} or len(outbox) != 30 * (round_ + 1):
            t.fail("lost", f"two publishes: ledger {sends}, {len(outbox)} messages")
        for name in h.FEEDS:
            if not h.valid_feed(name, (site / "out" / name).read_bytes()):
                t.fail("torn", f"two publishes: {name} invalid")
    print("  two publishes at once: 3 rounds", flush=True)


def publish_during_run(t: Tally, work: Path) -> None:
    site = work / "publish-during-run"
    shutil.rmtree(site, ignore_errors=True)
    h.write_config(site, extra='\n[schedule]\npoll_seconds = 0.3\ndigest = ""\n')
    for i in range(5):
        h.post(site, f"2026-01-01-p{i}.md", f"Early {i}", "2026-01-01 10:00:00+00:00")
    service = h.start(site, "run")
    try:
        time.sleep(1.5)
        for round_ in range(5):
            h.post(site, f"2026-01-02-r{round_}.md", f"While running {round_}",
                   "2026-01-02 10:00:00+00:00")
            proc = h.run(t, site, "publish", "--no-digest", ok=(0,))
            t.scenarios += 1
            h.check_temp_files(t, site / "out", "publish during run")
            if f"While running {round_}" not in (site / "out" / "feed.xml").read_text():
                t.fail("lost", f"publish during run: round {round_} not in the feed: "
                               f"{h.tail(proc.stdout)}")
            time.sleep(0.4)
    finally:
        if service.poll() is None:
            service.send_signal(signal.SIGTERM)
        result = finish(t, service, "publisher run")
    if result.returncode != 0:
        t.fail("unexpected", f"publisher run exited {result.returncode}: {h.tail(result.stderr)}")
    print("  publish during run: 5 rounds", flush=True)


def two_sends_and_unsubscribes(t: Tally, work: Path, readers: int) -> None:
    site = work / "two-sends"
    shutil.rmtree(site, ignore_errors=True)
    server = Server().start()
    people = [f"reader{i}@example.org" for i in range(readers)]
    rate = max(readers / 2.0, 50.0)

    def smtp(port: int, retries: int) -> str:
        return (f'[smtp]\nhost = "127.0.0.1"\nport = {port}\nsecurity = "none"\n'
                f"retries = {retries}\nretry_delay = 0.01\nrate = {rate}\n")

    try:
        h.write_config(site, "smtp", smtp(free_port(), 0))
        h.subscribe(t, site, people)
        h.post(site, "first.md", "Two senders", stamp(NOW - timedelta(hours=1)))
        h.run(t, site, "publish", "--now", stamp(NOW), ok=(1,))  # issued; nobody mailed yet
        h.write_config(site, "smtp", smtp(server.port, 2))
        first, second = (h.start(site, "send", "--now", stamp(NOW)) for _ in range(2))
        # Unsubscribes while they send: from the command line, as the web
        # app's one-click handler would commit them.
        # From the last third: most of them are not mailed yet when they leave.
        leaving = people[2 * readers // 3 : 2 * readers // 3 + 20]
        unsubscribed_at: dict[str, int] = {}

        def unsubscribe() -> None:
            time.sleep(0.8)
            for address in leaving:
                h.run(t, site, "unsubscribe", address)
                unsubscribed_at[address] = server.recorder.count()

        worker = threading.Thread(target=unsubscribe)
        worker.start()
        results = [finish(t, p, "two sends") for p in (first, second)]
        worker.join()
        t.scenarios += 2
        codes = sorted(r.returncode for r in results)
        if codes not in ([0, 0], [0, 4]):
            t.fail("unexpected", f"two sends exited {codes}")
        h.run(t, site, "send", "--now", stamp(NOW))
        copies = Counter(rcpt for rcpt, data in server.recorder.messages
                         if "Two senders" in subject(data))
        for person in people:
            if copies[person] > 1:
                t.fail("duplicates", f"two sends: {person} got {copies[person]} copies")
            if person not in leaving and copies[person] == 0:
                t.fail("lost", f"two sends: {person} never got it")
        # Someone who unsubscribed gets nothing sent after: at most the one
        # message already handed to the server at that moment.
        order = [rcpt for rcpt, data in server.recorder.messages if "Two senders" in subject(data)]
        for address in leaving:
            if address in order and order.index(address) > unsubscribed_at[address]:
                t.fail("unexpected", f"{address} was mailed after unsubscribing")
        h.check_integrity(t, site / ".publisher" / "state.db", "two sends")
        h.check_private(t, site / "out", people, "two sends")
        skipped = sum(1 for a in leaving if copies[a] == 0)
        print(f"  two sends at once, {len(leaving)} unsubscribes during the send "
              f"({skipped} skipped, {len(leaving) - skipped} already mailed): exits {codes}",
              flush=True)
    finally:
        server.stop()
