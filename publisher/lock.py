"""One writer at a time: the site lock, the service lock and the send lock.

All are advisory `fcntl.flock` locks on files in the state folder. The kernel
drops a flock when its process dies, so a crash never leaves a stale lock; the
file itself is only a place to hang the lock and to say who holds it.

- `publisher.lock` (the site lock) is taken for the length of every piece of
  work that writes `out/` or the state store: each `publisher publish`, each
  job of `publisher run`. Waiters poll up to a bound, then give up with
  `LockBusy` (exit status 4).
- `service.lock` is held for the whole life of a `publisher run`, never waited
  for: a second service on the same site refuses to start.
- `send.lock` is held while one process delivers mail, never waited for: a
  second delivery leaves the pending messages to the first.
"""

from __future__ import annotations

import errno
import fcntl
import os
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from .config import Config
from .errors import LockBusy
from .files import output_error

SITE_LOCK = "publisher.lock"
SERVICE_LOCK = "service.lock"

# Polling is gentle at first and never slower than this, so a waiter notices a
# released lock quickly without spinning.
MAX_POLL = 0.2


@dataclass(frozen=True)
class Holder:
    """What a lock file says about the process holding it (best effort)."""

    pid: int | None
    purpose: str

    def __str__(self) -> str:
        if self.pid is None:
            return "another publisher process"
        what = f" ({self.purpose})" if self.purpose else ""
        return f"pid {self.pid}{what}"


class FileLock:
    """A held flock. Release it, or use it as a context manager."""

    def __init__(self, path: Path, fd: int) -> None:
        self.path = path
        self._fd: int | None = fd

    @property
    def held(self) -> bool:
        return self._fd is not None

    def release(self) -> None:
        fd, self._fd = self._fd, None
        if fd is None:
            return
        try:
            # Blank the holder line first so a reader never names a dead pid.
            os.ftruncate(fd, 0)
        finally:
            # Closing the descriptor drops the flock. The file stays: unlinking
            # it would let two processes lock two different inodes.
            os.close(fd)

    def __enter__(self) -> FileLock:
        return self

    def __exit__(self, *exc: object) -> None:
        self.release()


def read_holder(path: Path) -> Holder:
    try:
        text = path.read_text(encoding="utf-8", errors="replace").strip()
    except OSError:
        return Holder(None, "")
    pid_text, _, purpose = text.partition(" ")
    return Holder(int(pid_text) if pid_text.isdigit() else None, purpose.strip())


def try_acquire(path: Path, purpose: str) -> FileLock | None:
    """Take the lock now, or return None if another process holds it.

    OutputError, naming the lock file, when it cannot be created or written
    (its folder is a file or read-only, the disk is full).
    """
    fd: int | None = None
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o600)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError as exc:
            if exc.errno in (errno.EWOULDBLOCK, errno.EAGAIN, errno.EACCES):
                os.close(fd)
                return None
            raise
        os.ftruncate(fd, 0)
        os.pwrite(fd, f"{os.getpid()} {purpose}\n".encode(), 0)
        return FileLock(path, fd)
    except OSError as exc:
        if fd is not None:
            os.close(fd)
        raise output_error(path, exc, "cannot take the lock") from exc


def acquire(
    path: Path,
    timeout: float,
    purpose: str,
    on_wait: Callable[[Holder], None] | None = None,
    clock: Callable[[], float] = time.monotonic,
) -> FileLock:
    """Take the lock, waiting up to `timeout` seconds; LockBusy after that.

    `on_wait` is called once, with the current holder, when we have to wait.
    """
    deadline = clock() + max(timeout, 0.0)
    delay = 0.02
    waited = False
    while True:
        lock = try_acquire(path, purpose)
        if lock is not None:
            return lock
        holder = read_holder(path)
        if not waited:
            waited = True
            if on_wait is not None:
                on_wait(holder)
        remaining = deadline - clock()
        if remaining <= 0:
            raise LockBusy(
                f"{path}: the site is busy: {holder} still holds the lock after "
                f"waiting {timeout:g} s",
                hint="try again when it has finished, or raise [schedule] lock_timeout "
                "in publisher.toml",
            )
        time.sleep(min(delay, remaining))
        delay = min(delay * 2, MAX_POLL)


@contextmanager
def site_lock(
    config: Config,
    purpose: str,
    timeout: float | None = None,
    on_wait: Callable[[Holder], None] | None = None,
) -> Iterator[FileLock]:
    """Hold the site lock for the body of the `with`; wait `[schedule] lock_timeout`."""
    bound = config.schedule.lock_timeout if timeout is None else timeout
    lock = acquire(config.state_dir / SITE_LOCK, bound, purpose, on_wait)
    try:
        yield lock
    finally:
        lock.release()


def service_lock(config: Config) -> FileLock:
    """The lock a `publisher run` holds for its whole life; LockBusy if taken."""
    path = config.state_dir / SERVICE_LOCK
    lock = try_acquire(path, "publisher run")
    if lock is None:
        pid = read_holder(path).pid
        who = f" (pid {pid})" if pid is not None else ""
        raise LockBusy(
            f"{path}: another `publisher run`{who} is already running for {config.file}",
            hint="stop it first (for example `systemctl stop publisher`); "
            "`publisher publish` still works alongside it",
        )
    return lock


def send_lock(config: Config) -> FileLock | None:
    """The lock a delivery run holds while it sends; None if another process is delivering."""
    return try_acquire(config.state_dir / "send.lock", "delivery")
