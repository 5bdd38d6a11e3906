"""Full and read-only disks under out/, the state folder and the outbox.

Each is a real tmpfs mount (root only), filled to leave a chosen number of
bytes free, so a run fails at a different step each time (the lock, opening
the store, a feed, the digest, a ledger commit, an outbox file). Every run
must end in one error line and exit 1 (or succeed, when the room was enough),
leave the old feeds intact and the store sound, and the next run, once there
is room, must finish the job with each recipient mailed exactly once.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import timedelta
from pathlib import Path

from tests.disk_support import fill, read_only, tmpfs, writable

from . import harness as h
from .harness import Tally
from .kills import NOW, stamp


def available() -> str | None:
    """None if tmpfs can be mounted here, else why not (tried, not guessed)."""
    if os.geteuid() != 0:
        return "not root: cannot mount tmpfs"
    with tempfile.TemporaryDirectory() as folder:
        done = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=64k", "tmpfs", folder],
                              capture_output=True, text=True)
        if done.returncode != 0:
            return f"mount -t tmpfs failed: {done.stderr.strip() or done.returncode}"
        subprocess.run(["umount", folder], check=False)
    return None


@contextmanager
def mounted(folder: Path, size: str) -> Iterator[Path]:
    # tests.disk_support.tmpfs skips or fails through pytest when mounting
    # fails; here there is no pytest, so catch what it raises.
    try:
        with tmpfs(folder, size) as path:
            yield path
    except BaseException as exc:
        if type(exc).__name__ in ("Skipped", "Failed"):
            raise RuntimeError(str(exc)) from exc
        raise


def leave_free(folder: Path, room: int) -> Path:
    filler = fill(folder)
    size = filler.stat().st_size
    with open(filler, "r+b") as f:
        f.truncate(max(size - room, 0))
    return filler


ROOMS = (0, 4096, 16384, 65536, 131072, 262144)


def full_disks(work: Path, rooms: tuple[int, ...] = ROOMS) -> Tally:
    t = Tally()
    readers = [f"reader{i}@example.org" for i in range(40)]
    for where in ("out", "state", "outbox"):
        for room in rooms:
            site = work / f"disk-{where}-{room}"
            shutil.rmtree(site, ignore_errors=True)
            h.write_config(site)
            for i in range(60):
                h.post(site, f"2025-12-{1 + i % 28:02d}-p{i}.md", f"Post {i}",
                       f"2025-12-{1 + i % 28:02d} 10:00:00+00:00", "Some text. " * 200 + "\n")
            folder = {"out": site / "out", "state": site / ".publisher",
                      "outbox": site / ".publisher" / "outbox"}[where]
            what = f"{where} full, {room // 1024} KiB free"
            t.scenarios += 1
            t.faults += 1
            with mounted(folder, "32m"):
                h.subscribe(t, site, readers)
                h.run(t, site, "publish", "--now", stamp(NOW))
                old = h.snapshot(site / "out")
                filler = leave_free(folder, room)
                later = NOW + timedelta(days=1)
                h.post(site, "2026-01-02-new.md", "Brand new", stamp(later - timedelta(hours=1)))
                failed = h.run(t, site, "publish", "--now", stamp(later), ok=(0, 1))
                if failed.returncode == 1:
                    hint = failed.stderr.strip().splitlines()[-1]
                    if str(folder) not in failed.stderr or not hint.startswith("hint: "):
                        t.fail("unexpected", f"{what}: {h.tail(failed.stderr)}")
                seen = h.snapshot(site / "out")
                filler.unlink()
                again = h.run(t, site, "publish", "--now", stamp(later))
                new = h.snapshot(site / "out")
                h.check_old_or_new(t, old, seen, new, what)
                h.check_temp_files(t, site / "out", what)
                db = site / ".publisher" / "state.db"
                h.check_integrity(t, db, what)
                h.check_private(t, site / "out", readers, what)
                if "Brand new" not in (site / "out" / "feed.xml").read_text():
                    t.fail("lost", f"{what}: the new post is not in the feed")
                sends = h.ledger(db)
                outbox = list((site / ".publisher" / "outbox").glob("*.eml"))
                if set(sends) - {"sent"} or len(outbox) != sends.get("sent", 0):
                    t.fail("lost", f"{what}: ledger {sends}, {len(outbox)} messages")
                if sends.get("sent", 0) != 2 * len(readers):
                    t.fail("lost", f"{what}: {sends.get('sent', 0)} sent of {2 * len(readers)}")
                if h.digests_per_post(db):
                    t.fail("duplicates", f"{what}: a post in two digests")
            print(f"  {what}: exit {failed.returncode}, then {again.returncode}", flush=True)
    for where in ("out", "state"):
        site = work / f"disk-ro-{where}"
        shutil.rmtree(site, ignore_errors=True)
        h.write_config(site)
        h.post(site, "2026-01-01-a.md", "A", "2026-01-01 10:00:00+00:00")
        folder = site / ("out" if where == "out" else ".publisher")
        t.scenarios += 1
        t.faults += 1
        with mounted(folder, "1m"):
            read_only(folder)
            failed = h.run(t, site, "publish", "--now", stamp(NOW), ok=(1,))
            if "Read-only file system" not in failed.stderr:
                t.fail("unexpected", f"read-only {where}: {h.tail(failed.stderr)}")
            writable(folder)
            h.run(t, site, "publish", "--now", stamp(NOW))
        print(f"  read-only {where}: exit {failed.returncode}", flush=True)
    return t
