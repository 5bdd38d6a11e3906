"""Helpers for tests that run `publisher` as a real process on a tiny site."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from datetime import datetime
from pathlib import Path
from typing import Any

import feedparser

PUBLISHER = [sys.executable, "-c", "from publisher.cli import main; main()"]


def make_site(root: Path, schedule: str = "poll_seconds = 1", timezone: str = "UTC") -> Path:
    (root / "content").mkdir(parents=True, exist_ok=True)
    config = root / "publisher.toml"
    config.write_text(
        f"""
[site]
url = "https://example.org"
title = "Service test"
timezone = "{timezone}"

[feeds]
limit = 500

[schedule]
{schedule}
""",
        encoding="utf-8",
    )
    return config


def write_post(
    root: Path, name: str, title: str, date: datetime | str, body: str = "Body."
) -> Path:
    when = date if isinstance(date, str) else date.isoformat()
    path = root / "content" / name
    # Write then rename, as editors do, so a scan never sees half a file.
    tmp = path.with_name(f".{path.name}.tmp")
    tmp.write_text(f'---\ntitle: "{title}"\ndate: "{when}"\n---\n{body}\n', encoding="utf-8")
    os.replace(tmp, path)
    return path


def feed_titles(root: Path) -> set[str]:
    path = root / "out" / "feed.xml"
    if not path.exists():
        return set()
    parsed = feedparser.parse(path.read_bytes())
    return {entry.title for entry in parsed.entries}


def wait_for(condition: Callable[[], bool], timeout: float, step: float = 0.05) -> bool:
    """Poll `condition` until it holds or `timeout` seconds pass."""
    deadline = time.monotonic() + timeout
    while True:
        if condition():
            return True
        if time.monotonic() >= deadline:
            return False
        time.sleep(step)


def children_of(pid: int) -> list[int]:
    """The pids of `pid`'s child processes, from /proc."""
    found = []
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                stat = Path(f"/proc/{entry}/stat").read_bytes()
            except OSError:
                continue
            if int(stat.rpartition(b")")[2].split()[1]) == pid:
                found.append(int(entry))
    return found


def alive(pid: int) -> bool:
    """True while `pid` runs (a zombie, exited but not reaped, does not)."""
    try:
        state = Path(f"/proc/{pid}/stat").read_bytes().rpartition(b")")[2].split()[0]
    except OSError:
        return False
    return state != b"Z"


class Running:
    """A `publisher run` subprocess whose log lines are collected as they come."""

    def __init__(
        self, config: Path, *args: str, env: dict[str, str] | None = None, **popen: Any
    ) -> None:
        self.proc = subprocess.Popen(
            [*PUBLISHER, "--config", str(config), *args, "run"],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
            text=True,
            env=env,
            **popen,
        )
        self.lines: list[str] = []
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()

    def _read(self) -> None:
        assert self.proc.stderr is not None
        for line in self.proc.stderr:
            self.lines.append(line.rstrip("\n"))

    def log(self) -> str:
        return "\n".join(self.lines)

    def count(self, text: str, since: int = 0) -> int:
        return sum(1 for line in self.lines[since:] if text in line)

    def wait_log(self, text: str, timeout: float, since: int = 0) -> bool:
        return wait_for(lambda: self.count(text, since) > 0, timeout)

    def stop(self, sig: int = signal.SIGTERM, timeout: float = 5.0) -> int:
        if self.proc.poll() is None:
            self.proc.send_signal(sig)
        try:
            code = self.proc.wait(timeout)
        finally:
            self._reader.join(2)
        return code

    def kill(self) -> None:
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait(5)
        self._reader.join(2)
