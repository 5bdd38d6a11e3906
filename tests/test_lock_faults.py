"""Locks after kill -9: no child keeps them, a dead holder's lock is taken over."""

from __future__ import annotations

import logging
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from publisher.lock import SITE_LOCK, acquire, read_holder, try_acquire

from .delivery_support import CLI, env

HOLD_AND_FORK = """
import os, sys, time
from pathlib import Path
from publisher.lock import try_acquire
lock = try_acquire(Path(sys.argv[1]), "parent job")
assert lock is not None
child = os.fork()
if child == 0:
    # The fork hooks have run by now: say so, then outlive the parent.
    Path(sys.argv[1] + ".child-ready").touch()
    time.sleep(60)
    os._exit(0)
print(child, flush=True)
os._exit(0)  # dies holding the lock, as a SIGKILL would leave it
"""

HOLD_AND_LEAK = """
import subprocess, sys, time
from pathlib import Path
from publisher.lock import try_acquire
lock = try_acquire(Path(sys.argv[1]), "parent job")
# What an older version's parse worker did: inherit the lock's open file.
child = subprocess.Popen(["sleep", "60"], pass_fds=(lock._fd,))
print(child.pid, flush=True)
import os; os._exit(0)
"""


def run_holder(script: str, path: Path) -> tuple[int, int]:
    """Run `script` to its end; (its pid, the pid of the child it leaves behind).

    Only the first line is read: the child keeps the pipe open."""
    proc = subprocess.Popen([sys.executable, "-c", script, str(path)],
                            stdout=subprocess.PIPE, text=True)
    assert proc.stdout is not None
    child = int(proc.stdout.readline())
    proc.stdout.close()
    assert proc.wait(30) == 0
    return proc.pid, child


def alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return True


def test_a_forked_child_never_holds_the_lock(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    path = tmp_path / SITE_LOCK
    _, child = run_holder(HOLD_AND_FORK, path)
    try:
        ready = Path(f"{path}.child-ready")
        deadline = time.monotonic() + 10
        while not ready.exists() and time.monotonic() < deadline:
            time.sleep(0.01)
        assert alive(child) and ready.exists()
        with caplog.at_level(logging.WARNING, logger="publisher.lock"):
            lock = try_acquire(path, "next run")
        assert lock is not None
        assert caplog.records == []  # simply free: the child let go at the fork
        lock.release()
    finally:
        os.kill(child, signal.SIGKILL)


def test_a_lock_left_with_a_dead_holder_is_taken_over_with_a_warning(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    path = tmp_path / SITE_LOCK
    _, leaked = run_holder(HOLD_AND_LEAK, path)
    try:
        dead = read_holder(path)
        assert dead.pid is not None and not alive(dead.pid) and alive(leaked)
        with caplog.at_level(logging.WARNING, logger="publisher.lock"):
            lock = acquire(path, 2, "next run")
        assert read_holder(path).pid == os.getpid()
        (record,) = caplog.records
        assert f"pid {dead.pid} (parent job) is gone but a process it started still held" in (
            record.getMessage()
        )
        # Taken over means held: nobody else gets it now, and the stale file
        # the leaked process still locks is no longer the lock.
        assert try_acquire(path, "third") is None
        lock.release()
        again = try_acquire(path, "third")
        assert again is not None
        again.release()
    finally:
        os.kill(leaked, signal.SIGKILL)


def test_a_live_holder_or_one_from_elsewhere_is_never_taken_over(tmp_path: Path) -> None:
    path = tmp_path / SITE_LOCK
    _, leaked = run_holder(HOLD_AND_LEAK, path)
    try:
        first, _, where = path.read_text().partition("\n")
        # The holder ran on another host (or in another container): its pid
        # means nothing here, so however dead it looks, the lock stays.
        path.write_text(f"{first}\non otherhost pid:[1]\n")
        assert try_acquire(path, "next run") is None
        # A holder that is alive keeps it too.
        path.write_text(f"{os.getppid()} someone\n{where}")
        assert try_acquire(path, "next run") is None
    finally:
        os.kill(leaked, signal.SIGKILL)


@pytest.mark.skipif((os.cpu_count() or 1) < 2, reason="one core: no parse workers to start")
def test_kill_9_during_a_cold_build_leaves_no_worker_and_no_lock(tmp_path: Path) -> None:
    from bench import generate

    generate.write_posts(tmp_path / "content", 4000, seed=3)
    (tmp_path / "publisher.toml").write_text(
        '[site]\nurl = "https://example.org/"\n', encoding="utf-8"
    )
    command = [*CLI, "--config", str(tmp_path / "publisher.toml"), "build",
               "--now", "2026-01-02T00:00:00+00:00"]
    proc = subprocess.Popen(command, env=env(), stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL)
    workers: list[int] = []
    deadline = time.monotonic() + 60
    while not workers and time.monotonic() < deadline and proc.poll() is None:
        workers = children_of(proc.pid)
        time.sleep(0.01)
    assert workers, "the build finished before its workers could be seen"
    proc.send_signal(signal.SIGKILL)
    proc.wait(10)
    deadline = time.monotonic() + 10
    while any(alive(w) and not zombie(w) for w in workers) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert not [w for w in workers if alive(w) and not zombie(w)]
    again = subprocess.run(command, env=env(), capture_output=True, text=True, timeout=120)
    assert again.returncode == 0, again.stderr


def children_of(pid: int) -> list[int]:
    found = []
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                stat = Path(f"/proc/{entry}/stat").read_bytes()
            except OSError:
                continue
            fields = stat.rpartition(b")")[2].split()
            if int(fields[1]) == pid:
                found.append(int(entry))
    return found


def zombie(pid: int) -> bool:
    try:
        return Path(f"/proc/{pid}/stat").read_bytes().rpartition(b")")[2].split()[0] == b"Z"
    except OSError:
        return False
