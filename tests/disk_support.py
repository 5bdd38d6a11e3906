"""Real full and read-only disks for the tests: tmpfs mounts (root only).

A size-limited tmpfs gives the real ENOSPC ("No space left on device") and
SQLite's real "database or disk is full"; a read-only one the real EROFS. No
mocks: the kernel says no. Mounting needs root (CAP_SYS_ADMIN); without it the
tests skip saying why, and under CI=true that is a failure instead, as for the
browser tests.
"""

from __future__ import annotations

import errno
import os
import subprocess
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from pathlib import Path

import pytest


def _why_not() -> str | None:
    if os.geteuid() != 0:
        return "needs root to mount a tmpfs (run the tests as root, as .ci/run does)"
    return None


def need_mounts() -> None:
    """Skip (fail under CI=true) unless tmpfs can be mounted here."""
    why = _why_not()
    if why is None:
        return
    if os.environ.get("CI", "").lower() == "true":
        pytest.fail(f"full-disk tests cannot run under CI=true: {why}", pytrace=False)
    pytest.skip(f"full-disk tests skipped: {why}")


@contextmanager
def tmpfs(folder: Path, size: str = "1m") -> Iterator[Path]:
    """`folder` as a fresh tmpfs of `size` for the body of the `with`; what was
    in it before is hidden meanwhile and back afterwards."""
    folder.mkdir(parents=True, exist_ok=True)
    done = subprocess.run(["mount", "-t", "tmpfs", "-o", f"size={size},mode=0755", "tmpfs",
                           str(folder)], capture_output=True, text=True)
    if done.returncode != 0:
        why = f"mount -t tmpfs failed: {done.stderr.strip()}"
        if os.environ.get("CI", "").lower() == "true":
            pytest.fail(f"full-disk tests cannot run under CI=true: {why}", pytrace=False)
        pytest.skip(f"full-disk tests skipped: {why}")
    try:
        yield folder
    finally:
        subprocess.run(["umount", "-l", str(folder)], check=False)


def read_only(folder: Path) -> None:
    subprocess.run(["mount", "-o", "remount,ro", str(folder)], check=True)


def writable(folder: Path) -> None:
    subprocess.run(["mount", "-o", "remount,rw", str(folder)], check=True)


def fill(folder: Path) -> Path:
    """Fill the file system of `folder` to the last byte; returns the filler."""
    filler = folder / "filler.bin"
    fd = os.open(filler, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)
    try:
        for size in (1 << 20, 4096, 1):  # big steps, then the last page, byte by byte
            with suppress(OSError):
                while True:
                    os.write(fd, b"\0" * size)
    finally:
        os.close(fd)
    probe = folder / ".probe"
    try:
        probe.write_bytes(b"x" * 4096)
    except OSError as exc:
        assert exc.errno == errno.ENOSPC
    else:
        raise AssertionError("the disk is not full")
    finally:
        probe.unlink(missing_ok=True)
    return filler
