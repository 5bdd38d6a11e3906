"""What every torture scenario shares: the real CLI as a process, the checks
run after each scenario, and the tally the README's figures come from.

Every command runs as a separate `publisher` process, as a user or cron runs
it, so a SIGKILL is a real one and a traceback is what a user would see.
"""

from __future__ import annotations

import json
import os
import re
import signal
import sqlite3
import subprocess
import sys
import time
from collections.abc import Iterable, Sequence
from contextlib import suppress
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any

import feedparser

SECRET = "torture-secret-0123456789abcdefXYZ"
PUBLISHER = [sys.executable, "-c", "from publisher.cli import main; main()"]
FEEDS = ("feed.xml", "rss.xml", "feed.json")
# A token in an unsubscribe link: base64url address, a dot, base64url MAC;
# today's form is led by its purpose and the list's tag (`u.1a2b3c4d.`).
TOKEN = re.compile(r"token=(?:[a-z]\.[0-9a-f]{8}\.)?[A-Za-z0-9_-]{8,}\.[A-Za-z0-9_-]{16,}")


@dataclass
class Tally:
    """The figures. Goals: every count below `faults` is 0."""

    scenarios: int = 0
    faults: int = 0  # kills, full or read-only disks, SMTP faults, hostile inputs and reports
    tracebacks: int = 0
    lost: int = 0  # posts missing from the feeds, recipients never mailed
    duplicates: int = 0  # copies beyond the one in flight at a kill
    in_flight: int = 0  # the duplicates the design allows (one per kill, per connection)
    stale_locks: int = 0  # a run after a kill that waited, was busy, or took a lock over
    torn: int = 0  # an output neither the old one nor the new one, or invalid
    temp_files: int = 0  # temp files left under out/ after the next run
    integrity: int = 0  # PRAGMA integrity_check not ok
    leaks: int = 0  # an address, a token, the secret or state under out/
    orphans: int = 0  # processes of a killed run still alive
    unexpected: int = 0  # a wrong exit status or message
    # subscribers a fault changed (status, failures) that it must not have: a
    # refusal that is nobody's, a report that proved nothing
    changed: int = 0
    # Sign-ups during a mail server outage (the outage family): how many, how
    # many confirmations arrived after it (goal: all; the rest count as lost),
    # and the latest, in seconds after the server came back.
    signups: int = 0
    confirmations: int = 0
    confirm_seconds: float = 0.0
    problems: list[str] = field(default_factory=list)

    GOALS = ("tracebacks", "lost", "duplicates", "stale_locks", "torn", "temp_files",
             "integrity", "leaks", "orphans", "unexpected", "changed")

    def fail(self, what: str, detail: str) -> None:
        setattr(self, what, getattr(self, what) + 1)
        self.problems.append(f"{what}: {detail}")
        print(f"    ! {what}: {detail}", flush=True)

    def ok(self) -> bool:
        return all(getattr(self, name) == 0 for name in self.GOALS)

    def add(self, other: Tally) -> None:
        for item in fields(self):
            if item.name == "problems":
                self.problems.extend(other.problems)
            elif item.name == "confirm_seconds":
                self.confirm_seconds = max(self.confirm_seconds, other.confirm_seconds)
            else:
                setattr(self, item.name, getattr(self, item.name) + getattr(other, item.name))

    def as_json(self) -> dict[str, Any]:
        return {f.name: getattr(self, f.name) for f in fields(self)}


def child_env(**extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("PUBLISHER_")}
    env["PUBLISHER_SECRET"] = SECRET
    env.update(extra)
    return env


def command(site: Path, *args: str) -> list[str]:
    return [*PUBLISHER, "--config", str(site / "publisher.toml"), *args]


def run(t: Tally, site: Path, *args: str, ok: Sequence[int] = (0,),
        timeout: float = 600) -> subprocess.CompletedProcess[str]:
    """One CLI run to its end, checked for tracebacks and the exit status."""
    proc = subprocess.run(command(site, *args), cwd=site, env=child_env(), capture_output=True,
                          text=True, timeout=timeout)
    check_output(t, proc.stderr + proc.stdout, " ".join(args))
    if proc.returncode not in ok:
        t.fail("unexpected", f"`publisher {' '.join(args)}` exited {proc.returncode}: "
                             f"{tail(proc.stderr)}")
    return proc


def start(site: Path, *args: str) -> subprocess.Popen[str]:
    return subprocess.Popen(command(site, *args), cwd=site, env=child_env(),
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def check_output(t: Tally, text: str, what: str) -> None:
    if "Traceback (most recent call last)" in text:
        t.fail("tracebacks", f"{what}: {tail(text, 6)}")


def tail(text: str, lines: int = 2) -> str:
    return " | ".join(text.strip().splitlines()[-lines:])


def kill_at(proc: subprocess.Popen[str], delay: float) -> tuple[bool, list[int]]:
    """SIGKILL `proc` after `delay` seconds unless it ended first.

    Returns (killed, the pids of its children at that moment)."""
    deadline = time.monotonic() + delay
    while time.monotonic() < deadline and proc.poll() is None:
        time.sleep(min(0.005, max(deadline - time.monotonic(), 0)))
    if proc.poll() is not None:
        proc.communicate()
        return False, []
    children = children_of(proc.pid)
    proc.send_signal(signal.SIGKILL)
    proc.communicate()
    return True, children


def children_of(pid: int) -> list[int]:
    found = []
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            stat = Path(f"/proc/{entry}/stat").read_bytes()
        except OSError:
            continue
        if int(stat.rpartition(b")")[2].split()[1]) == pid:
            found.append(int(entry))
    return found


def alive(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_bytes().rpartition(b")")[2].split()[0]
    except OSError:
        return False
    return state != b"Z"


def check_orphans(t: Tally, pids: Iterable[int], what: str) -> None:
    pids = list(pids)
    deadline = time.monotonic() + 5
    while any(alive(p) for p in pids) and time.monotonic() < deadline:
        time.sleep(0.05)
    left = [p for p in pids if alive(p)]
    if left:
        t.fail("orphans", f"{what}: processes {left} outlived the killed run")
        for pid in left:
            with suppress(OSError):
                os.kill(pid, signal.SIGKILL)


def snapshot(out: Path) -> dict[str, bytes]:
    """Every file under out/ (relative name -> bytes)."""
    found = {}
    if out.is_dir():
        for path in out.rglob("*"):
            if path.is_file():
                with suppress(OSError):
                    found[str(path.relative_to(out))] = path.read_bytes()
    return found


def valid_feed(name: str, data: bytes) -> bool:
    if name.endswith(".json"):
        try:
            doc = json.loads(data)
        except ValueError:
            return False
        return isinstance(doc, dict) and "items" in doc
    parsed = feedparser.parse(data)
    return not parsed.bozo


def check_old_or_new(t: Tally, old: dict[str, bytes], seen: dict[str, bytes],
                     new: dict[str, bytes], what: str) -> None:
    """Each feed as a killed run left it: the old file, the new one, or (if
    there was none before) not yet there; and always a valid feed."""
    for name in FEEDS:
        if name not in seen:
            if name in old:
                t.fail("torn", f"{what}: {name} vanished")
            continue
        data = seen[name]
        if data not in (old.get(name), new.get(name)):
            t.fail("torn", f"{what}: {name} is neither the old nor the new file")
        elif not valid_feed(name, data):
            t.fail("torn", f"{what}: {name} is not a valid feed")


def check_temp_files(t: Tally, out: Path, what: str) -> None:
    left = [str(p.relative_to(out)) for p in out.rglob("*.tmp")] if out.is_dir() else []
    if left:
        t.fail("temp_files", f"{what}: {left[:3]} under out/")


def check_integrity(t: Tally, db: Path, what: str) -> None:
    if not db.exists():
        return
    try:
        with sqlite3.connect(db) as conn:
            verdict = conn.execute("PRAGMA integrity_check").fetchone()[0]
    except sqlite3.Error as exc:
        verdict = str(exc)
    if verdict != "ok":
        t.fail("integrity", f"{what}: {verdict}")


def check_lock_free(t: Tally, proc: subprocess.CompletedProcess[str], what: str) -> None:
    """After a kill, the next run must neither wait, nor be busy, nor need a takeover."""
    text = proc.stderr + proc.stdout
    if (proc.returncode == 4 or "Waiting for the site lock" in text
            or "taken over" in text or "another publisher process is delivering" in text):
        t.fail("stale_locks", f"{what}: {tail(text)}")


def check_private(t: Tally, out: Path, addresses: Iterable[str], what: str) -> None:
    """Nothing under out/ holds a subscriber's address, a token, the secret or state."""
    if not out.is_dir():
        return
    needles = [a.encode() for a in addresses] + [SECRET.encode(), b"SQLite format 3"]
    for path in out.rglob("*"):
        if path.suffix in (".db", ".eml", ".lock", ".cache") or path.name.startswith("state"):
            t.fail("leaks", f"{what}: {path.relative_to(out)} is private")
            continue
        if not path.is_file():
            continue
        data = path.read_bytes()
        for needle in needles:
            if needle in data:
                t.fail("leaks", f"{what}: {path.relative_to(out)} holds {needle[:40]!r}")
        if TOKEN.search(data.decode("utf-8", "replace")):
            t.fail("leaks", f"{what}: {path.relative_to(out)} holds an unsubscribe token")


def digests_per_post(db: Path) -> int:
    """Posts that went out in more than one digest."""
    if not db.exists():
        return 0
    with sqlite3.connect(db) as conn:
        try:
            rows = conn.execute(
                "SELECT post_key FROM digest_posts GROUP BY post_key HAVING COUNT(*) > 1"
            ).fetchall()
        except sqlite3.Error:
            return 0
    return len(rows)


def ledger(db: Path) -> dict[str, int]:
    with sqlite3.connect(db) as conn:
        return dict(conn.execute("SELECT status, COUNT(*) FROM sends GROUP BY status"))


CONFIG = """\
[site]
url = "https://news.example.org"
title = "Torture News"
timezone = "Europe/London"
author = {{ name = "Desk", email = "desk@news.example.org" }}

[digest]
first_window_days = 3650

[delivery]
transport = "{transport}"
from = "Torture News <news@news.example.org>"
unsubscribe_url = "https://news.example.org/unsubscribe"
"""


def write_config(site: Path, transport: str = "outbox", extra: str = "") -> None:
    site.mkdir(parents=True, exist_ok=True)
    text = CONFIG.format(transport=transport) + extra
    (site / "publisher.toml").write_text(text, encoding="utf-8")


def post(site: Path, name: str, title: str, date: str, body: str = "A body.\n") -> Path:
    path = site / "content" / name
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(f'---\ntitle: "{title}"\ndate: {date}\n---\n{body}', encoding="utf-8")
    return path


def subscribe(t: Tally, site: Path, addresses: Sequence[str]) -> None:
    csv = site / "people.csv"
    csv.write_text("email,name\n" + "".join(f"{a},Reader\n" for a in addresses))
    run(t, site, "subscribers", "import", str(csv))
    csv.unlink()
