"""A full or read-only disk under out/, the state folder or the outbox: one
error line naming the path and what to do, the old outputs intact, nothing lost.

Real tmpfs mounts (tests/disk_support.py); skipped without root, failing
under CI=true. And the stale temp files a killed run leaves are cleaned.
"""

from __future__ import annotations

import sqlite3
import subprocess
import sys
from pathlib import Path

import feedparser

from publisher.app.pipeline import build
from publisher.files import remove_stale_temps

from .conftest import NOW, SiteDir
from .delivery_support import add_subscribers, env, write_config
from .disk_support import fill, need_mounts, read_only, tmpfs, writable

WHEN = NOW.isoformat()


def cli(root: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-c", "from publisher.cli import main; main()", *args],
        cwd=root, capture_output=True, text=True, timeout=120, env=env(),
    )


def many_posts(site: SiteDir, count: int = 60) -> None:
    for i in range(count):
        day = f"2026-01-{1 + i % 9:02d}"
        site.post(f"{day}-p{i}.md", f"title: Post {i}\ndate: {day}",
                  body=f"Body {i} " + "text " * 300 + "\n")


def temps(folder: Path) -> list[str]:
    return sorted(str(p.relative_to(folder)) for p in folder.rglob("*.tmp"))


def test_stale_temp_files_are_removed_where_we_write_only(site: SiteDir) -> None:
    site.post("2026-01-02-a.md", "title: A")
    build(site.config(), NOW)
    state = site.root / ".publisher"
    left = [
        site.out / ".rss.xml.abc_1234.tmp",
        site.out / ".feed.xml.tmp",
        site.out / "digest" / ".latest.html.zz9zz9zz.tmp",
        site.out / "feed" / "by_tag" / ".x.xml.a1b2c3d4.tmp",
        state / ".run.json.q1w2e3r4.tmp",
    ]
    kept = [site.out / "notes.tmp", site.out / "assets" / ".x.tmp", site.out / ".abc"]
    for path in left + kept:
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text("half a file")
    build(site.config(), NOW)
    assert all(not p.exists() for p in left)
    assert all(p.exists() for p in kept)


def test_remove_stale_temps_survives_missing_folders(tmp_path: Path) -> None:
    assert remove_stale_temps([tmp_path / "nope", tmp_path]) == []


def test_full_out_folder_keeps_the_old_feeds(site: SiteDir) -> None:
    need_mounts()
    many_posts(site)
    with tmpfs(site.out, "256k"):
        first = cli(site.root, "build", "--now", WHEN)
        assert first.returncode == 0, first.stderr
        before = (site.out / "feed.xml").read_bytes()
        fill(site.out)
        site.post("2026-01-09-new.md", "title: Brand new\ndate: 2026-01-09 10:00")
        failed = cli(site.root, "build", "--now", WHEN)
        assert failed.returncode == 1
        assert "Traceback" not in failed.stderr
        assert failed.stderr.splitlines()[-2:] == [
            f"error: {site.out}/feed.xml: cannot write: No space left on device",
            f"hint: free some space on the disk that holds {site.out}, then run again",
        ]
        assert (site.out / "feed.xml").read_bytes() == before
        assert not feedparser.parse(before).bozo
        assert temps(site.out) == []
        (site.out / "filler.bin").unlink()
        again = cli(site.root, "build", "--now", WHEN)
        assert again.returncode == 0, again.stderr
        assert "Brand new" in (site.out / "feed.xml").read_text()


def test_read_only_out_folder(site: SiteDir) -> None:
    need_mounts()
    site.post("2026-01-02-a.md", "title: A")
    with tmpfs(site.out):
        read_only(site.out)
        failed = cli(site.root, "build", "--now", WHEN)
        writable(site.out)
    assert failed.returncode == 1 and "Traceback" not in failed.stderr
    assert failed.stderr.splitlines()[-2:] == [
        f"error: {site.out}/feed.xml: cannot write: Read-only file system",
        f"hint: {site.out} is on a read-only file system: mount it writable or choose "
        "another path",
    ]


def test_full_state_folder_is_a_clear_error_and_nothing_is_lost(site: SiteDir) -> None:
    need_mounts()
    many_posts(site, 20)
    state = site.root / ".publisher"
    with tmpfs(state, "600k"):
        filler = fill(state)
        # Room for the lock and a little more, not for the digest.
        filler.write_bytes(b"\0" * (filler.stat().st_size - 40_000))
        failed = cli(site.root, "publish", "--now", WHEN)
        assert failed.returncode == 1, failed.stderr
        assert "Traceback" not in failed.stderr
        error, hint = failed.stderr.splitlines()[-2:]
        assert error.startswith(f"error: {state}/") and ("full" in error or "space" in error)
        assert hint == f"hint: free some space on the disk that holds {state}, then run again"
        if (state / "state.db").exists():
            with sqlite3.connect(state / "state.db") as db:
                assert db.execute("PRAGMA integrity_check").fetchone() == ("ok",)
                tables = {r[0] for r in db.execute("SELECT name FROM sqlite_master")}
                if "digests" in tables:
                    assert db.execute("SELECT COUNT(*) FROM digests").fetchone() == (0,)
        filler.unlink()
        ok = cli(site.root, "publish", "--now", WHEN)
        assert ok.returncode == 0, ok.stderr
        with sqlite3.connect(state / "state.db") as db:
            assert db.execute("SELECT COUNT(*) FROM digests").fetchone() == (1,)


def test_state_folder_too_full_for_the_lock(site: SiteDir) -> None:
    need_mounts()
    site.post("2026-01-02-a.md", "title: A")
    state = site.root / ".publisher"
    with tmpfs(state, "64k"):
        fill(state)
        failed = cli(site.root, "publish", "--now", WHEN)
    assert failed.returncode == 1 and "Traceback" not in failed.stderr
    assert failed.stderr.splitlines()[-2] == (
        f"error: {state}/publisher.lock: cannot take the lock: No space left on device"
    )


def test_read_only_state_folder(site: SiteDir) -> None:
    need_mounts()
    site.post("2026-01-02-a.md", "title: A")
    state = site.root / ".publisher"
    with tmpfs(state):
        read_only(state)
        failed = cli(site.root, "publish", "--now", WHEN)
        writable(state)
    assert failed.returncode == 1 and "Traceback" not in failed.stderr
    assert "Read-only file system" in failed.stderr


def test_full_outbox_stops_the_send_and_a_later_send_delivers_each_once(tmp_path: Path) -> None:
    need_mounts()
    for i in range(3):
        (tmp_path / "content").mkdir(exist_ok=True)
        (tmp_path / "content" / f"2026-03-01-p{i}.md").write_text(
            f"---\ntitle: P{i}\ndate: 2026-03-01 0{i}:00\n---\nBody.\n", encoding="utf-8"
        )
    from publisher.config import settings as config_mod

    config = config_mod.load(write_config(tmp_path))
    add_subscribers(config, [f"r{i}@example.org" for i in range(30)])
    outbox = tmp_path / ".publisher" / "outbox"
    when = "2026-03-02T08:00:00+00:00"
    with tmpfs(outbox, "2m"):
        filler = fill(outbox)
        failed = cli(tmp_path, "publish", "--now", when)
        assert failed.returncode == 1, failed.stderr
        assert "Traceback" not in failed.stderr
        assert f"{outbox}: cannot write to the outbox: No space left on device" in failed.stderr
        filler.unlink()
        sent = cli(tmp_path, "send", "--now", when)
        assert sent.returncode == 0, sent.stderr
        names = sorted(p.name for p in outbox.glob("*.eml"))
    assert len(names) == 30 and len(set(names)) == 30
