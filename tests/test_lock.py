"""The site lock and the service lock: real flocks, real processes."""

from __future__ import annotations

import os
import subprocess
import sys
import threading
from pathlib import Path

import pytest

from publisher.config import settings as config_mod
from publisher.errors import LockBusy, OutputError
from publisher.lock import (
    SITE_LOCK,
    Holder,
    acquire,
    read_holder,
    send_lock,
    service_lock,
    site_lock,
    try_acquire,
)

from .service_site import PUBLISHER, feed_titles, make_site, write_post


def test_lock_is_exclusive_and_names_its_holder(tmp_path: Path) -> None:
    path = tmp_path / "state" / SITE_LOCK
    first = try_acquire(path, "first job")
    assert first is not None
    holder = read_holder(path)
    assert (holder.pid, holder.purpose) == (os.getpid(), "first job")
    # flock is per open file: a second open conflicts even in the same process.
    assert try_acquire(path, "second job") is None
    with pytest.raises(LockBusy) as caught:
        acquire(path, 0.2, "second job")
    assert caught.value.exit_code == 4
    assert f"pid {os.getpid()} (first job)" in caught.value.message
    first.release()
    assert read_holder(path).pid is None
    second = try_acquire(path, "second job")
    assert second is not None
    second.release()


def test_waiter_gets_the_lock_when_it_is_released(tmp_path: Path) -> None:
    path = tmp_path / SITE_LOCK
    held = try_acquire(path, "long job")
    assert held is not None
    seen = []
    threading.Timer(0.5, held.release).start()
    with acquire(path, 5, "waiter", on_wait=seen.append) as lock:
        assert lock.held
        assert read_holder(path).purpose == "waiter"
    assert [h.purpose for h in seen] == ["long job"]


def test_lock_of_a_killed_process_is_free(tmp_path: Path) -> None:
    path = tmp_path / SITE_LOCK
    code = (
        "import sys, time; from pathlib import Path; from publisher.lock import try_acquire;"
        f"lock = try_acquire(Path({str(path)!r}), 'doomed'); print('held', flush=True);"
        "time.sleep(60)"
    )
    proc = subprocess.Popen([sys.executable, "-c", code], stdout=subprocess.PIPE, text=True)
    try:
        assert proc.stdout is not None and proc.stdout.readline().strip() == "held"
        assert try_acquire(path, "me") is None
        proc.kill()
        proc.wait(5)
    finally:
        if proc.poll() is None:
            proc.kill()
    # The file is still there with the dead holder's line, but it holds nothing.
    assert read_holder(path).pid == proc.pid
    lock = acquire(path, 2, "me")
    lock.release()


def test_service_lock_refuses_a_second_service(tmp_path: Path) -> None:
    make_site(tmp_path)
    config = config_mod.load(tmp_path / "publisher.toml")
    with service_lock(config):
        with pytest.raises(LockBusy, match="another `publisher run`"):
            service_lock(config)
        # The service lock is separate from the site lock: publish can still run.
        with site_lock(config, "publish", timeout=0):
            pass


def test_send_lock_is_taken_now_or_not_at_all(tmp_path: Path) -> None:
    make_site(tmp_path)
    config = config_mod.load(tmp_path / "publisher.toml")
    held = send_lock(config)
    assert held is not None
    with held:
        assert held.path == config.state_dir / "send.lock"
        assert read_holder(held.path) == Holder(os.getpid(), "delivery")
        assert send_lock(config) is None  # never waited for
        # Separate from the site and service locks.
        with site_lock(config, "publish", timeout=0), service_lock(config):
            pass
    again = send_lock(config)
    assert again is not None
    again.release()


def publish(config: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [*PUBLISHER, "--config", str(config), "publish"],
        capture_output=True,
        text=True,
        timeout=30,
    )


def test_publish_waits_for_a_running_job_then_succeeds(tmp_path: Path) -> None:
    config_path = make_site(tmp_path, "lock_timeout = 20")
    write_post(tmp_path, "a.md", "A", "2025-01-01T00:00:00Z")
    config = config_mod.load(config_path)
    held = acquire(config.state_dir / SITE_LOCK, 1, "publisher run: digest")
    timer = threading.Timer(1.5, held.release)
    timer.start()
    try:
        result = publish(config_path)
    finally:
        timer.cancel()
        held.release()
    assert result.returncode == 0, result.stderr
    assert f"Waiting for the site lock held by pid {os.getpid()} (publisher run: digest)" in (
        result.stderr
    )
    assert feed_titles(tmp_path) == {"A"}


def test_publish_gives_up_after_the_bound_with_exit_4(tmp_path: Path) -> None:
    config_path = make_site(tmp_path, "lock_timeout = 0.5")
    write_post(tmp_path, "a.md", "A", "2025-01-01T00:00:00Z")
    config = config_mod.load(config_path)
    with site_lock(config, "publisher run: scan"):
        result = publish(config_path)
    assert result.returncode == 4, result.stderr
    lines = result.stderr.splitlines()
    error = next(line for line in lines if line.startswith("error: "))
    assert "the site is busy" in error
    assert f"pid {os.getpid()} (publisher run: scan)" in error
    assert "0.5 s" in error
    assert any(line.startswith("hint: ") and "lock_timeout" in line for line in lines)
    assert not (tmp_path / "out" / "feed.xml").exists()


def test_lock_folder_under_a_plain_file_is_an_output_error(tmp_path: Path) -> None:
    (tmp_path / "blocker").write_text("")
    path = tmp_path / "blocker" / "state" / SITE_LOCK
    with pytest.raises(OutputError) as caught:
        try_acquire(path, "publish")
    assert caught.value.message == f"{path}: cannot take the lock: Not a directory"
    assert caught.value.hint == (
        f"{tmp_path / 'blocker'} is a file, not a folder: move it away or choose another path"
    )


def test_lock_file_that_is_a_folder_is_an_output_error(tmp_path: Path) -> None:
    path = tmp_path / SITE_LOCK
    path.mkdir()
    with pytest.raises(OutputError) as caught:
        try_acquire(path, "publish")
    assert caught.value.message == f"{path}: cannot take the lock: Is a directory"
