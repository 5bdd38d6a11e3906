"""Kill anywhere: SIGKILL `publish` and `send` at random moments, then check
what a user would find.

After each kill the next run must find the site as if the killed run had
either never started or finished: every feed the old file or the new one,
never half of one; the state store intact; no lock left held (the next run
neither waits nor is busy); no temp file under out/; no process of the killed
run still alive; every post in the feeds; every recipient mailed exactly
once, but for the one message in flight at the kill.
"""

from __future__ import annotations

import random
import shutil
import time
from collections import Counter
from datetime import datetime, timedelta
from email import message_from_bytes
from email.header import decode_header, make_header
from pathlib import Path

from bench import generate
from tests.delivery_support import Server, free_port

from . import harness as h
from .harness import Tally

NOW = datetime(2026, 1, 2, 12, 0)  # after bench.generate's newest post


def stamp(when: datetime) -> str:
    return when.isoformat() + "+00:00"


def kill_publish(work: Path, posts: int, kills: int, rng: random.Random) -> Tally:
    """`publisher publish` killed during cold builds and warm runs of a big site."""
    t = Tally()
    site = work / "kill-publish"
    shutil.rmtree(site, ignore_errors=True)
    print(f"  generating {posts:,} posts", flush=True)
    generate.write_posts(site / "content", posts, seed=rng.randrange(1 << 30))
    h.write_config(site)
    readers = [f"reader{i}@example.org" for i in range(20)]
    h.subscribe(t, site, readers)
    out, db = site / "out", site / ".publisher" / "state.db"
    started = time.perf_counter()
    h.run(t, site, "publish", "--now", stamp(NOW))
    durations = {"cold": time.perf_counter() - started}
    h.post(site, "_posts/calibrate.md", "Calibration", stamp(NOW - timedelta(minutes=5)))
    started = time.perf_counter()
    h.run(t, site, "publish", "--now", stamp(NOW + timedelta(minutes=1)))
    durations["warm"] = time.perf_counter() - started
    print(f"  cold publish {durations['cold']:.2f} s, warm {durations['warm']:.2f} s", flush=True)
    now = NOW
    done = round_ = 0
    while done < kills and round_ < 3 * kills:  # a run that ends first is no kill: go on
        round_ += 1
        mode = "cold" if round_ % 2 == 0 else "warm"
        now += timedelta(hours=1)
        if mode == "cold":
            shutil.rmtree(out, ignore_errors=True)
            shutil.rmtree(site / ".publisher", ignore_errors=True)
            h.subscribe(t, site, readers)
        new_titles = [f"Round {round_} post {i}" for i in range(rng.randint(1, 3))]
        for i, title in enumerate(new_titles):
            h.post(site, f"_posts/round-{round_}-{i}.md", title,
                   (now - timedelta(minutes=10 + i)).isoformat() + "+00:00")
        old = h.snapshot(out)
        delay = rng.uniform(0, durations[mode])
        killed, children = h.kill_at(h.start(site, "publish", "--now", stamp(now)), delay)
        done += killed
        seen = h.snapshot(out)
        what = f"publish kill {round_} ({mode}, {delay:.2f} s)"
        t.scenarios += 1
        t.faults += killed
        h.check_orphans(t, children, what)
        began = time.perf_counter()
        after = h.run(t, site, "publish", "--now", stamp(now))
        # Aim the next kill of this kind inside the run: a run that ended
        # first was shorter than the delay; a killed one was redone in full.
        if killed:
            durations[mode] = max(durations[mode], time.perf_counter() - began)
        else:
            durations[mode] = max(delay * 0.9, 0.3)
        h.check_lock_free(t, after, what)
        new = h.snapshot(out)
        h.check_old_or_new(t, old, seen, new, what)
        h.check_temp_files(t, out, what)
        h.check_integrity(t, db, what)
        h.check_private(t, out, readers, what)
        feed = (out / "feed.xml").read_text(encoding="utf-8")
        for title in new_titles:
            if title not in feed:
                t.fail("lost", f"{what}: {title!r} is not in the feed")
        twice = h.digests_per_post(db)
        if twice:
            t.fail("duplicates", f"{what}: {twice} posts in two digests")
        sends = h.ledger(db)
        if set(sends) - {"sent"}:
            t.fail("lost", f"{what}: ledger {sends}")
        outbox = {p.name for p in (site / ".publisher" / "outbox").glob("*.eml")}
        if len(outbox) != sends.get("sent", 0):
            t.fail("lost", f"{what}: {len(outbox)} messages for {sends.get('sent', 0)} sent")
        print(f"  {what}: {'killed' if killed else 'finished first'}", flush=True)
    return t


def kill_send(work: Path, readers: int, kills: int, rng: random.Random) -> Tally:
    """`publisher send` to a real SMTP server (aiosmtpd), killed mid-send.

    Each round issues a digest while the server is unreachable (so every
    recipient is pending), then starts `send` and kills it at a random moment,
    then runs `send` again. Each recipient must then have that round's digest
    exactly once, or twice if it was the one message in flight at the kill."""
    t = Tally()
    site = work / "kill-send"
    shutil.rmtree(site, ignore_errors=True)
    server = Server().start()
    closed = free_port()
    people = [f"reader{i}@example.org" for i in range(readers)]
    rate = max(readers / 1.5, 50.0)  # the send lasts ~1.5 s: room for a kill anywhere in it

    def smtp(port: int, retries: int) -> str:
        return (f'[smtp]\nhost = "127.0.0.1"\nport = {port}\nsecurity = "none"\n'
                f"timeout = 5.0\nretries = {retries}\nretry_delay = 0.01\nrate = {rate}\n")

    try:
        h.write_config(site, "smtp", smtp(server.port, 2))
        h.subscribe(t, site, people)
        now = NOW
        h.post(site, "calibrate.md", "Calibration", stamp(now - timedelta(hours=1)))
        h.write_config(site, "smtp", smtp(closed, 0))
        h.run(t, site, "publish", "--now", stamp(now), ok=(1,))
        h.write_config(site, "smtp", smtp(server.port, 2))
        started = time.perf_counter()
        h.run(t, site, "send", "--now", stamp(now))
        duration = time.perf_counter() - started
        print(f"  send to {readers} readers: {duration:.2f} s", flush=True)
        done = round_ = 0
        while done < kills and round_ < 3 * kills:
            round_ += 1
            now += timedelta(days=1)
            title = f"Send round {round_}"
            h.post(site, f"round-{round_}.md", title, stamp(now - timedelta(hours=1)))
            h.write_config(site, "smtp", smtp(closed, 0))
            h.run(t, site, "publish", "--now", stamp(now), ok=(1,))  # issued, none sent
            h.write_config(site, "smtp", smtp(server.port, 2))
            before = server.recorder.count()
            delay = rng.uniform(0, duration)
            killed, children = h.kill_at(h.start(site, "send", "--now", stamp(now)), delay)
            done += killed
            at_kill = server.recorder.count() - before
            what = f"send kill {round_} ({delay:.2f} s, {at_kill} delivered)"
            t.scenarios += 1
            t.faults += killed
            h.check_orphans(t, children, what)
            after = h.run(t, site, "send", "--now", stamp(now))
            h.check_lock_free(t, after, what)
            h.check_integrity(t, site / ".publisher" / "state.db", what)
            h.check_private(t, site / "out", people, what)
            copies = Counter(
                rcpt for rcpt, data in server.recorder.messages[before:]
                if title in subject(data)
            )
            missing = [p for p in people if copies[p] == 0]
            if missing:
                t.fail("lost", f"{what}: {len(missing)} never got it, e.g. {missing[0]}")
            extra = sum(n - 1 for n in copies.values() if n > 1)
            allowed = 1 if killed else 0  # connections = 1: one message in flight
            t.in_flight += min(extra, allowed)
            if extra > allowed:
                t.fail("duplicates", f"{what}: {extra} extra copies")
            sends = h.ledger(site / ".publisher" / "state.db")
            if set(sends) - {"sent"}:
                t.fail("lost", f"{what}: ledger {sends}")
            print(f"  {what}: {'killed' if killed else 'finished first'}, "
                  f"{extra} duplicate(s)", flush=True)
    finally:
        server.stop()
    return t


def subject(data: bytes) -> str:
    message = message_from_bytes(data)
    return str(make_header(decode_header(message.get("Subject", ""))))
