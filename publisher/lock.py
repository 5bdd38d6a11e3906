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

A flock belongs to the open file, not to the process, so a child forked while
the lock is held would hold it too, and keep it after the parent dies (parse
workers did: every later `publish` was "busy" for minutes). Three defences:

- every held lock's descriptor is closed in any forked child, at the fork
  (`os.register_at_fork`); the parent keeps the lock. Descriptors are also
  close-on-exec, so no program we start inherits one;
- `content`'s worker processes die with their parent;
- should a lock still be held while the process its file names is gone (a
  child of an older version, say), the next process takes it over, with a
  warning: it replaces the lock file by a fresh one (same name, new inode)
  that it locks, and every process checks after locking that it locked the
  file now at that name. This happens only when the named holder ran in this
  same pid namespace on this host, so a live holder elsewhere (a container
  sharing the folder) is never mistaken for a dead one.
"""

from __future__ import annotations

import errno
import fcntl
import logging
import os
import time
import weakref
from collections.abc import Callable, Iterator
from contextlib import contextmanager, suppress
from dataclasses import dataclass, field
from pathlib import Path

from .config.settings import Config
from .errors import LockBusy
from .files import make_private_folder, output_error

log = logging.getLogger(__name__)

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
    # Host and pid namespace of the holder (`_here()`), when recorded; not part
    # of equality, which compares who holds it and why.
    where: str = field(default="", compare=False)

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
        _HELD.add(self)

    @property
    def held(self) -> bool:
        return self._fd is not None

    def release(self) -> None:
        fd, self._fd = self._fd, None
        _HELD.discard(self)
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

    def forget(self) -> None:
        """In a forked child: drop our copy of the descriptor, not the lock.

        Closing a duplicate leaves the parent's flock in place (an explicit
        LOCK_UN, or truncating the holder line, would not)."""
        fd, self._fd = self._fd, None
        if fd is not None:
            with suppress(OSError):
                os.close(fd)


# Every lock this process holds, so a forked child can let go of them.
_HELD: weakref.WeakSet[FileLock] = weakref.WeakSet()


def _forget_held_locks() -> None:
    for lock in list(_HELD):
        lock.forget()
    _HELD.clear()


os.register_at_fork(after_in_child=_forget_held_locks)


def read_holder(path: Path) -> Holder:
    try:
        text = path.read_text(encoding="utf-8", errors="replace").strip()
    except OSError:
        return Holder(None, "")
    first, _, rest = text.partition("\n")
    pid_text, _, purpose = first.partition(" ")
    where = rest.strip().removeprefix("on ")
    return Holder(int(pid_text) if pid_text.isdigit() else None, purpose.strip(), where)


def _here() -> str:
    """This host and pid namespace: where a pid means this process."""
    try:
        namespace = os.readlink("/proc/self/ns/pid")
    except OSError:
        namespace = "-"
    return f"{os.uname().nodename} {namespace}"


def _gone(holder: Holder) -> bool:
    """True only if the holder ran here and is certainly not running now."""
    if holder.pid is None or holder.where != _here() or holder.pid == os.getpid():
        return False
    try:
        os.kill(holder.pid, 0)
    except ProcessLookupError:
        return True
    except OSError:
        return False  # exists, another user's
    try:
        # A zombie (exited, not yet reaped by its parent) holds no files.
        with open(f"/proc/{holder.pid}/stat", "rb") as stat:
            return stat.read().rpartition(b")")[2].split()[0] == b"Z"
    except (OSError, IndexError):
        return False


def try_acquire(path: Path, purpose: str) -> FileLock | None:
    """Take the lock now, or return None if another process holds it.

    OutputError, naming the lock file, when it cannot be created or written
    (its folder is a file or read-only, the disk is full).
    """
    fd: int | None = None
    try:
        make_private_folder(path.parent)  # the state folder, often made here first
        while True:
            fd = os.open(path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o600)
            if not _flock(fd):
                os.close(fd)
                fd = None
                holder = read_holder(path)
                return _take_over(path, purpose, holder) if _gone(holder) else None
            if _same_file(fd, path):
                break
            # Taken over while we opened it: the name is a new file now.
            os.close(fd)
            fd = None
        _write_holder(fd, purpose)
        return FileLock(path, fd)
    except OSError as exc:
        if fd is not None:
            os.close(fd)
        raise output_error(path, exc, "cannot take the lock") from exc


def _flock(fd: int) -> bool:
    """Lock `fd` now; False if another open file holds the lock."""
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except OSError as exc:
        if exc.errno in (errno.EWOULDBLOCK, errno.EAGAIN, errno.EACCES):
            return False
        raise
    return True


def _same_file(fd: int, path: Path) -> bool:
    try:
        st = os.stat(path)
    except FileNotFoundError:
        return False
    mine = os.fstat(fd)
    return (st.st_dev, st.st_ino) == (mine.st_dev, mine.st_ino)


def _write_holder(fd: int, purpose: str) -> None:
    os.ftruncate(fd, 0)
    os.pwrite(fd, f"{os.getpid()} {purpose}\non {_here()}\n".encode(), 0)


def _take_over(path: Path, purpose: str, dead: Holder) -> FileLock | None:
    """The lock of a holder that is gone, still held by something it left
    behind: lock a fresh file and rename it over the old one. None if another
    process is taking it over, or the situation changed meanwhile.

    One taker at a time, under `<lock>.takeover` (itself a plain flock)."""
    guard = os.open(path.with_name(path.name + ".takeover"),
                    os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o600)
    fd: int | None = None
    try:
        if not _flock(guard):
            return None
        now = read_holder(path)
        if (now.pid, now.purpose, now.where) != (dead.pid, dead.purpose, dead.where) or not _gone(
            dead
        ):
            return None
        fresh = path.with_name(f".{path.name}.{os.getpid()}.new")
        fd = os.open(fresh, os.O_RDWR | os.O_CREAT | os.O_TRUNC | os.O_CLOEXEC, 0o600)
        _flock(fd)  # a new file: nobody else has it open
        _write_holder(fd, purpose)
        os.replace(fresh, path)
        log.warning(
            "%s: %s is gone but a process it started still held the lock; "
            "taken over by pid %s (%s)", path, dead, os.getpid(), purpose,
        )
        lock = FileLock(path, fd)
        fd = None
        return lock
    finally:
        if fd is not None:
            os.close(fd)
        os.close(guard)


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
