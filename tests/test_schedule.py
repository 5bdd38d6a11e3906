"""`publisher run` and its scheduling: real scheduler, real files, real time."""

from __future__ import annotations

import mailbox
import os
import signal
import sqlite3
import subprocess
import threading
import time
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
from apscheduler.schedulers.background import BackgroundScheduler
from apscheduler.triggers.date import DateTrigger

from publisher.config import settings as config_mod
from publisher.config.settings import Config
from publisher.errors import ConfigError
from publisher.lock import site_lock, try_acquire
from publisher.service.schedule import (
    SiteCronTrigger,
    digest_job_options,
    digest_trigger,
    missed_run,
    settle_times,
)
from publisher.store.store import Store

from .delivery_support import Server, add_subscribers, env
from .service_site import (
    PUBLISHER,
    Running,
    alive,
    children_of,
    feed_titles,
    make_site,
    wait_for,
    write_post,
)

# The issue's bound for a saved post: poll_seconds (1 here) + 2 s.
FOLLOW = 3.0
REBUILT = "rebuilt feeds in "


def now() -> datetime:
    return datetime.now(UTC).replace(microsecond=0)


@pytest.fixture
def site(tmp_path: Path) -> Path:
    make_site(tmp_path)
    write_post(tmp_path, "2025-01-01-first.md", "First", "2025-01-01T09:00:00Z")
    return tmp_path


@pytest.fixture
def service(site: Path):  # type: ignore[no-untyped-def]
    running = Running(site / "publisher.toml")
    try:
        assert wait_for(lambda: "First" in feed_titles(site), 10), running.log()
        yield running
    finally:
        running.kill()


def test_feeds_follow_the_folder_and_sigterm_exits_0(site: Path, service: Running) -> None:
    old = now() - timedelta(hours=1)

    write_post(site, "second.md", "Second", old)
    assert wait_for(lambda: "Second" in feed_titles(site), FOLLOW), service.log()

    write_post(site, "second.md", "Second, edited", old)
    assert wait_for(lambda: feed_titles(site) == {"First", "Second, edited"}, FOLLOW), service.log()

    (site / "content" / "2025-01-01-first.md").unlink()
    assert wait_for(lambda: feed_titles(site) == {"Second, edited"}, FOLLOW), service.log()

    # A post dated 3 s ahead stays out until its time, then appears by itself.
    due = now() + timedelta(seconds=3)
    write_post(site, "future.md", "Future", due)
    assert service.wait_log("next future post at", FOLLOW), service.log()
    assert "Future" not in feed_titles(site)
    assert wait_for(lambda: "Future" in feed_titles(site), 5), service.log()
    assert datetime.now(UTC) >= due

    # Editor droppings never trigger a rebuild (count once the last rebuild is logged).
    assert service.wait_log("no future posts scheduled", 2), service.log()
    before = service.count(REBUILT)
    for name in (".#second.md", "second.md~", ".second.md.swp"):
        (site / "content" / name).write_text("junk", encoding="utf-8")
    time.sleep(1.5)
    assert service.count(REBUILT) == before, service.log()

    code = service.stop(signal.SIGTERM, timeout=5)
    assert code == 0, service.log()
    assert "received SIGTERM" in service.log()
    # Nothing half-written: the feed parses and no temp file is left over.
    assert feed_titles(site) == {"Second, edited", "Future"}
    assert [p.name for p in (site / "out").iterdir() if p.name.endswith(".tmp")] == []


def test_broken_post_is_logged_others_publish_and_fixing_publishes_it(
    site: Path, service: Running
) -> None:
    mark = len(service.lines)
    broken = site / "content" / "broken.md"
    broken.write_text('---\ntitle: "Broken\ndate: [\n---\nBody\n', encoding="utf-8")
    write_post(site, "good.md", "Good", now() - timedelta(minutes=5))
    assert wait_for(lambda: "Good" in feed_titles(site), FOLLOW), service.log()
    assert service.wait_log("broken.md", 2, since=mark), service.log()
    logged = [line for line in service.lines[mark:] if "broken.md" in line]
    assert any("ERROR" in line and "YAML" in line for line in logged), logged
    assert service.proc.poll() is None

    write_post(site, "broken.md", "Fixed", now() - timedelta(minutes=4))
    assert wait_for(lambda: "Fixed" in feed_titles(site), FOLLOW), service.log()
    assert feed_titles(site) == {"First", "Good", "Fixed"}
    assert service.proc.poll() is None


def test_jobs_wait_for_the_site_lock_and_sigterm_finishes_the_job(
    site: Path, service: Running
) -> None:
    config = config_mod.load(site / "publisher.toml")
    mark = len(service.lines)
    with site_lock(config, "test holding the lock", timeout=5):
        write_post(site, "late.md", "Late", now() - timedelta(minutes=1))
        assert service.wait_log("waiting for the site lock", FOLLOW, since=mark), service.log()
        assert "test holding the lock" in service.log()
        # Stopping mid-job: the job (blocked on the lock) is not abandoned.
        service.proc.send_signal(signal.SIGTERM)
        assert service.wait_log("received SIGTERM", 2, since=mark), service.log()
        time.sleep(0.5)
        assert service.proc.poll() is None
        assert "Late" not in feed_titles(site)
    assert service.stop(timeout=5) == 0, service.log()
    assert "Late" in feed_titles(site)


def test_burst_of_200_files_gives_at_most_two_rebuilds(site: Path, service: Running) -> None:
    mark = len(service.lines)
    when = now() - timedelta(days=1)
    # Spread over ~3.5 s, so the burst spans several polls: without settling
    # each poll would rebuild.
    for i in range(200):
        write_post(site, f"burst-{i:03d}.md", f"Burst {i}", when)
        time.sleep(0.0175)
    assert wait_for(lambda: len(feed_titles(site)) == 201, 10), service.log()
    # Give a straggling rebuild the time to show up before counting.
    time.sleep(2.5)
    rebuilds = [line for line in service.lines[mark:] if REBUILT in line]
    assert 1 <= len(rebuilds) <= 2, service.log()
    assert "201 posts" in rebuilds[-1]


def test_second_run_refuses_and_sigint_exits_0(site: Path, service: Running) -> None:
    second = subprocess.run(
        [*PUBLISHER, "--config", str(site / "publisher.toml"), "run"],
        capture_output=True,
        text=True,
        timeout=20,
    )
    assert second.returncode == 4, second.stderr
    assert "another `publisher run`" in second.stderr
    assert f"pid {service.proc.pid}" in second.stderr
    assert service.proc.poll() is None
    assert service.stop(signal.SIGINT, timeout=5) == 0, service.log()


def test_missed_digest_is_sent_once_on_start(tmp_path: Path) -> None:
    """The service was down at the digest time: it catches up on start, once."""
    start = now()
    fire = start - timedelta(minutes=10)
    make_site(tmp_path, f'poll_seconds = 1\ndigest = "{fire.minute} {fire.hour} * * *"')
    config = tmp_path / "publisher.toml"
    write_post(tmp_path, "old.md", "Old", start - timedelta(days=3))
    earlier = (start - timedelta(days=2)).isoformat()
    first = subprocess.run(
        [*PUBLISHER, "--config", str(config), "publish", "--now", earlier],
        capture_output=True,
        text=True,
        timeout=20,
    )
    assert first.returncode == 0, first.stderr
    write_post(tmp_path, "new.md", "New", start - timedelta(days=1))

    running = Running(config)
    try:
        assert running.wait_log("issued with 1 posts", 10), running.log()
        assert "was missed while the service was down" in running.log()
        time.sleep(1.5)
    finally:
        assert running.stop() == 0
    db = sqlite3.connect(tmp_path / ".publisher" / "state.db")
    try:
        rows = db.execute("SELECT post_key FROM digest_posts ORDER BY digest_id").fetchall()
    finally:
        db.close()
    assert [r[0].rsplit("/", 1)[-1] for r in rows] == ["old.html", "new.html"]
    assert running.count("issued with") == 1


# -- SIGTERM in the middle of each kind of job (issue 20, point 17) -------------


def assert_stopped_cleanly(running: Running, config: Config, children: list[int]) -> None:
    """Exited 0 (checked by the caller), said so, left no traceback, no lock held
    and no child process running."""
    log = running.log()
    assert "Traceback" not in log, log
    assert log.rstrip().endswith("stopped"), log
    for name in ("publisher.lock", "service.lock", "send.lock"):
        lock = try_acquire(config.state_dir / name, "test: is it free?")
        assert lock is not None, f"{name} is still held\n{log}"
        lock.release()
    assert wait_for(lambda: not any(alive(pid) for pid in children), 5), children


def cmdline(pid: int) -> bytes:
    try:
        return Path(f"/proc/{pid}/cmdline").read_bytes()
    except OSError:
        return b""


def test_sigterm_while_a_due_post_waits_for_the_lock_exits_0(
    site: Path, service: Running
) -> None:
    """The hang: the due job re-sets the next future post's job once it has
    published, and the stop had begun meanwhile."""
    config = config_mod.load(site / "publisher.toml")
    mark = len(service.lines)
    write_post(site, "future.md", "Future", now() + timedelta(seconds=3))
    assert service.wait_log("next future post at", FOLLOW, since=mark), service.log()
    with site_lock(config, "test holding the lock", timeout=5):
        assert service.wait_log("future post due", 6, since=mark), service.log()
        assert service.wait_log("due: waiting for the site lock", 2, since=mark), service.log()
        service.proc.send_signal(signal.SIGTERM)
        assert service.wait_log("received SIGTERM", 2, since=mark), service.log()
        children = children_of(service.proc.pid)
    assert service.stop(timeout=5) == 0, service.log()
    # The job was finished, not abandoned.
    assert feed_titles(site) == {"First", "Future"}
    assert_stopped_cleanly(service, config, children)


def test_sigterm_during_a_digest_send_finishes_it_and_exits_0(tmp_path: Path) -> None:
    """SIGTERM while the digest goes out: every reader gets it once, the ledger
    says so, and the service exits 0."""
    people = [f"reader{i}@example.com" for i in range(8)]
    server = Server().start()
    try:
        start = now()
        fire = start - timedelta(minutes=10)
        make_site(tmp_path, f'poll_seconds = 1\ndigest = "{fire.minute} {fire.hour} * * *"')
        config_path = tmp_path / "publisher.toml"
        with config_path.open("a", encoding="utf-8") as toml:
            # rate: the send lasts ~2 s, so the signal comes in the middle of it.
            toml.write(
                '[delivery]\ntransport = "smtp"\nfrom = "News <news@news.example.org>"\n'
                'unsubscribe_url = "https://news.example.org/unsubscribe"\n'
                f'[smtp]\nhost = "127.0.0.1"\nport = {server.port}\nsecurity = "none"\n'
                "rate = 4.0\n"
            )
        config = config_mod.load(config_path)
        write_post(tmp_path, "old.md", "Old", start - timedelta(days=3))
        earlier = (start - timedelta(days=2)).isoformat()
        first = subprocess.run(
            [*PUBLISHER, "--config", str(config_path), "publish", "--now", earlier],
            capture_output=True, text=True, timeout=30, env=env(),
        )
        assert first.returncode == 0, first.stderr
        add_subscribers(config, people)
        write_post(tmp_path, "new.md", "New", start - timedelta(days=1))

        running = Running(config_path, env=env())
        try:
            server.wait_for(1, timeout=20, sender=running.proc)
            children = children_of(running.proc.pid)
            running.proc.send_signal(signal.SIGTERM)
            assert running.stop(timeout=5) == 0, running.log()
        finally:
            running.kill()
        assert server.recorder.per_recipient() == dict.fromkeys(people, 1), running.log()
    finally:
        server.stop()
    db = sqlite3.connect(config.state_file)
    try:
        statuses = db.execute("SELECT status, COUNT(*) FROM sends GROUP BY status").fetchall()
    finally:
        db.close()
    assert statuses == [("sent", len(people))]
    log = running.log()
    assert log.index("received SIGTERM") < log.index("8 sent"), log
    assert_stopped_cleanly(running, config, children)


def test_a_stuck_bounce_read_holds_up_no_post_and_sigterm_ends_it(tmp_path: Path) -> None:
    """A bounce mailbox that never answers (a message file that is a FIFO: a
    read blocks, as on a hung mount) delays no post, and SIGTERM still stops
    the service at once."""
    make_site(tmp_path)
    config_path = tmp_path / "publisher.toml"
    with config_path.open("a", encoding="utf-8") as toml:
        toml.write('[bounces]\nmaildir = "Maildir"\npoll_minutes = 1\n')
    config = config_mod.load(config_path)
    mailbox.Maildir(tmp_path / "Maildir", create=True)
    os.mkfifo(tmp_path / "Maildir" / "new" / "1767225600.M1P1.mx")
    write_post(tmp_path, "first.md", "First", now() - timedelta(days=1))

    running = Running(config_path, env=env())
    try:
        assert running.wait_log("scan found 1 post files", 10), running.log()
        assert running.wait_log("rebuilt feeds", 10), running.log()
        write_post(tmp_path, "second.md", "Second", now() - timedelta(minutes=1))
        # Published within a couple of polls, the bounce read still stuck meanwhile.
        assert wait_for(lambda: "Second" in feed_titles(tmp_path), FOLLOW), running.log()
        children = children_of(running.proc.pid)
        readers = [pid for pid in children if b"spawn_main" in cmdline(pid)]
        assert len(readers) == 1 and alive(readers[0]), "the bounce reader is not running"
        running.proc.send_signal(signal.SIGTERM)
        assert running.stop(timeout=5) == 0, running.log()
    finally:
        running.kill()
    assert "bounces: stopped part-way" in running.log()
    assert_stopped_cleanly(running, config, children)


def test_stopping_never_waits_inside_the_scheduler() -> None:
    """`JobThread.shutdown` returns at once, even while the running job needs the
    scheduler (it adds a job, as every rebuild does); the job queued behind it
    is skipped; `join` waits for the running one."""
    from publisher.service.workers import JobThread

    worker = JobThread("test-jobs")
    scheduler = BackgroundScheduler(timezone=UTC, executors={"default": worker})
    started, release = threading.Event(), threading.Event()
    ran: list[str] = []

    def first() -> None:
        started.set()
        release.wait(10)
        scheduler.add_job(lambda: None, DateTrigger(now() + timedelta(hours=1)))
        ran.append("first")

    scheduler.add_job(first, next_run_time=datetime.now(UTC))
    scheduler.add_job(lambda: ran.append("second"), next_run_time=datetime.now(UTC))
    scheduler.start()
    assert started.wait(5)
    stopper = threading.Thread(target=scheduler.shutdown)  # wait=True, APScheduler's default
    stopper.start()
    stopper.join(5)
    assert not stopper.is_alive()
    release.set()
    assert worker.join(5)
    assert ran == ["first"]


# -- the digest trigger across DST transitions ---------------------------------


def fire_times(trigger: SiteCronTrigger, start: datetime, end: datetime) -> list[datetime]:
    out: list[datetime] = []
    prev = None
    current = start
    while True:
        nxt = trigger.get_next_fire_time(prev, current)
        if nxt is None or nxt > end:
            return out
        out.append(nxt)
        prev = current = nxt


def trigger_for(tmp_path: Path, expr: str, zone: str) -> SiteCronTrigger:
    make_site(tmp_path, f'digest = "{expr}"', timezone=zone)
    trigger = digest_trigger(config_mod.load(tmp_path / "publisher.toml"))
    assert trigger is not None
    return trigger


def per_day(times: list[datetime], zone: ZoneInfo) -> dict[date, list[datetime]]:
    days: dict[date, list[datetime]] = {}
    for t in times:
        days.setdefault(t.astimezone(zone).date(), []).append(t)
    return days


@pytest.mark.parametrize(
    ("zone", "expr", "spring", "autumn", "gap_fire_utc", "fold_fire_utc"),
    [
        # London: 01:00 GMT -> 02:00 BST on 29 March, 02:00 BST -> 01:00 GMT on 25 October.
        ("Europe/London", "30 1 * * *", date(2026, 3, 29), date(2026, 10, 25), "01:30", "00:30"),
        # New York: 02:00 EST -> 03:00 EDT on 8 March, 02:00 EDT -> 01:00 EST on 1 November.
        ("America/New_York", "30 2 * * *", date(2026, 3, 8), date(2026, 11, 1), "07:30", None),
        ("America/New_York", "30 1 * * *", date(2026, 3, 8), date(2026, 11, 1), "06:30", "05:30"),
    ],
)
def test_daily_digest_neither_skipped_nor_doubled_across_dst(
    tmp_path: Path,
    zone: str,
    expr: str,
    spring: date,
    autumn: date,
    gap_fire_utc: str,
    fold_fire_utc: str | None,
) -> None:
    tz = ZoneInfo(zone)
    trigger = trigger_for(tmp_path, expr, zone)
    for day in (spring, autumn):
        start = datetime.combine(day - timedelta(days=3), datetime.min.time(), tz)
        times = fire_times(trigger, start, start + timedelta(days=7))
        days = per_day(times, tz)
        # Exactly one run on each of the 7 days, the transition day included.
        assert sorted(days) == [day - timedelta(days=3 - i) for i in range(7)], times
        assert all(len(v) == 1 for v in days.values()), times
        assert all(b - a >= timedelta(hours=23) for a, b in zip(times, times[1:], strict=False))
    spring_run = per_day(
        fire_times(
            trigger,
            datetime.combine(spring, datetime.min.time(), tz),
            datetime.combine(spring, datetime.max.time(), tz),
        ),
        tz,
    )
    (only,) = spring_run[spring]
    # The wall time does not exist that day: it runs once, an hour later by the clock.
    assert f"{only.astimezone(UTC):%H:%M}" == gap_fire_utc
    if fold_fire_utc is not None:
        autumn_start = datetime.combine(autumn, datetime.min.time(), tz)
        (only,) = per_day(
            fire_times(trigger, autumn_start, autumn_start + timedelta(hours=23)), tz
        )[autumn]
        # The wall time happens twice that day: it runs in the first pass only.
        assert f"{only.astimezone(UTC):%H:%M}" == fold_fire_utc


def test_weekly_default_keeps_local_8am_across_dst(tmp_path: Path) -> None:
    tz = ZoneInfo("Europe/London")
    trigger = trigger_for(tmp_path, "0 8 * * mon", "Europe/London")
    start = datetime(2026, 3, 1, tzinfo=tz)
    times = fire_times(trigger, start, datetime(2026, 12, 1, tzinfo=tz))
    local = [t.astimezone(tz) for t in times]
    assert all((t.weekday(), t.hour, t.minute) == (0, 8, 0) for t in local)
    mondays = [
        d
        for d in (date(2026, 3, 1) + timedelta(days=i) for i in range(275))
        if d.weekday() == 0 and d < date(2026, 11, 30)
    ] + [date(2026, 11, 30)]
    # Every Monday from 2 March to 30 November, once each.
    assert [t.date() for t in local] == mondays
    assert {t.utcoffset() for t in local} == {timedelta(0), timedelta(hours=1)}


def test_hourly_schedule_runs_in_both_passes_of_the_repeated_hour(tmp_path: Path) -> None:
    tz = ZoneInfo("Europe/London")
    trigger = trigger_for(tmp_path, "30 * * * *", "Europe/London")
    start = datetime(2026, 10, 25, 0, 0, tzinfo=tz)
    times = fire_times(trigger, start, start + timedelta(hours=4))
    utc = [f"{t.astimezone(UTC):%H:%M}" for t in times]
    # 00:30 BST, 01:30 BST, 01:30 GMT, 02:30 GMT, ...: one run per real hour.
    assert utc[:4] == ["23:30", "00:30", "01:30", "02:30"]
    assert len(utc) == len(set(utc))


# -- misfires: the machine slept through runs ----------------------------------


def test_runs_missed_while_asleep_give_one_digest_on_wake(tmp_path: Path) -> None:
    """Two daily runs passed while the process was suspended: exactly one runs."""
    make_site(tmp_path, "misfire_grace_seconds = 10800")
    config = config_mod.load(tmp_path / "publisher.toml")
    last = now() - timedelta(hours=1)
    trigger = SiteCronTrigger(hour=last.hour, minute=last.minute, timezone=UTC)
    runs: list[datetime] = []
    ran = threading.Event()

    def job() -> None:
        runs.append(datetime.now(UTC))
        ran.set()

    scheduler = BackgroundScheduler(timezone=UTC)
    # As the in-memory job looks after a sleep: its next run is two days stale.
    scheduler.add_job(
        job, trigger, next_run_time=last - timedelta(days=2), **digest_job_options(config)
    )
    scheduler.start()
    try:
        assert ran.wait(5)
        time.sleep(0.5)
        job_state = scheduler.get_jobs()[0]
        assert job_state.next_run_time > datetime.now(UTC)
    finally:
        scheduler.shutdown()
    assert len(runs) == 1


def test_missed_run_window() -> None:
    trigger = SiteCronTrigger(hour=8, minute=0, timezone=UTC)
    monday = datetime(2026, 11, 30, 8, 0, tzinfo=UTC)
    grace = 6 * 3600
    later = monday + timedelta(hours=2)
    assert missed_run(trigger, monday - timedelta(days=1), later, grace) == monday
    assert missed_run(trigger, monday + timedelta(minutes=1), later, grace) is None
    too_late = monday + timedelta(hours=7)
    assert missed_run(trigger, monday - timedelta(days=1), too_late, grace) is None
    assert missed_run(trigger, None, later, grace) is None


def test_bad_digest_expression_is_a_config_error(tmp_path: Path) -> None:
    # Five fields pass the cheap check at load; the trigger finds hour 25.
    make_site(tmp_path, 'digest = "0 25 * * mon"')
    with pytest.raises(ConfigError, match=r"\[schedule\] digest: '0 25 \* \* mon'"):
        digest_trigger(config_mod.load(tmp_path / "publisher.toml"))


def test_empty_digest_expression_turns_the_digest_off(tmp_path: Path) -> None:
    make_site(tmp_path, 'digest = ""')
    assert digest_trigger(config_mod.load(tmp_path / "publisher.toml")) is None


def test_settle_times_keep_the_latency_bound(tmp_path: Path) -> None:
    for poll in (0.5, 1, 5, 60):
        make_site(tmp_path, f"poll_seconds = {poll}")
        quiet, max_wait = settle_times(config_mod.load(tmp_path / "publisher.toml"))
        assert quiet <= 1.0 and quiet <= poll
        assert max_wait >= quiet


def test_digest_job_issues_into_the_state_store(tmp_path: Path) -> None:
    from publisher.service.schedule import Service

    make_site(tmp_path)
    write_post(tmp_path, "a.md", "A", now() - timedelta(hours=2))
    config = config_mod.load(tmp_path / "publisher.toml")
    Service(config).digest_job()
    state = Store.open(config.state_file)
    try:
        last = state.digests.last()
    finally:
        state.close()
    assert last is not None and len(last.post_keys) == 1
    assert "A" in feed_titles(tmp_path)


def test_a_digest_run_that_issued_nothing_is_not_run_again_on_restart(tmp_path: Path) -> None:
    from publisher.service.schedule import Service

    make_site(tmp_path)
    config = config_mod.load(tmp_path / "publisher.toml")
    service = Service(config)
    ran_at = now()
    service.clock = lambda: ran_at  # type: ignore[method-assign]
    service.digest_job()  # nothing to mail: no digest is issued
    state = Store.open(config.state_file)
    try:
        assert state.digests.last() is None
    finally:
        state.close()
    # A restart later in the grace window measures from that run, not from
    # the last digest issued, so the run is not missed.
    assert service._last_digest() == ran_at


def test_a_delivery_error_in_the_digest_job_is_logged(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    from publisher.service.schedule import Service

    monkeypatch.delenv("PUBLISHER_SECRET", raising=False)
    make_site(tmp_path)
    write_post(tmp_path, "a.md", "A", now() - timedelta(hours=2))
    config = config_mod.load(tmp_path / "publisher.toml")
    state = Store.open(config.state_file)
    try:
        with state.transaction():
            state.subscribers.add("reader@example.com", "Reader", now())
    finally:
        state.close()
    with caplog.at_level("INFO", logger="publisher"):
        Service(config).digest_job()
    errors = [r.getMessage() for r in caplog.records if r.levelname == "ERROR"]
    assert any(m.startswith("delivery failed:") for m in errors), errors
    assert "A" in feed_titles(tmp_path)  # the feeds were still built


# -- refusing to start: what the work needs, with `publisher check`'s words -----------


def start_refused(config: Path, environ: dict[str, str] | None = None
                  ) -> subprocess.CompletedProcess[str]:
    """`publisher run` that must exit by itself; a service left running is a failure."""
    try:
        return subprocess.run([*PUBLISHER, "--config", str(config), "run"], capture_output=True,
                              text=True, timeout=30, env=environ)
    except subprocess.TimeoutExpired as exc:
        pytest.fail(f"`publisher run` started instead of refusing:\n{exc.stderr!r}")


def error_lines(text: str) -> list[str]:
    return [line for line in text.splitlines() if line.startswith(("error:", "hint:"))]


def test_run_refuses_the_mail_settings_check_rejects_once_someone_is_on_the_list(
    tmp_path: Path,
) -> None:
    from .delivery_support import env

    config = make_site(tmp_path)
    with open(config, "a", encoding="utf-8") as handle:
        handle.write('[delivery]\nfrom = "News <news@example.org>"\n')
    added = subprocess.run([*PUBLISHER, "--config", str(config), "subscribers", "add",
                            "reader@example.com"], capture_output=True, text=True, timeout=30)
    assert added.returncode == 0, added.stderr
    check = subprocess.run([*PUBLISHER, "--config", str(config), "check"], capture_output=True,
                           text=True, timeout=60)
    assert check.returncode == 1
    assert "[delivery] unsubscribe_url: required" in check.stderr
    refused = start_refused(config, env())
    assert refused.returncode == 1, refused.stderr
    assert error_lines(refused.stderr) == error_lines(check.stderr)


def test_run_refuses_without_the_secret_or_a_bounce_mailbox(tmp_path: Path) -> None:
    from .delivery_support import UNSUB, env

    config = make_site(tmp_path)
    with open(config, "a", encoding="utf-8") as handle:
        handle.write(f'[delivery]\nfrom = "News <news@example.org>"\nunsubscribe_url = "{UNSUB}"\n')
    no_secret = start_refused(config, env(PUBLISHER_SECRET=""))
    assert no_secret.returncode == 1
    assert "PUBLISHER_SECRET is not set: `publisher run` signs" in no_secret.stderr
    assert "delivers what is pending" not in no_secret.stderr
    with open(config, "a", encoding="utf-8") as handle:
        handle.write("[bounces]\npoll_minutes = 10\n")
    check = subprocess.run([*PUBLISHER, "--config", str(config), "check"], capture_output=True,
                           text=True, timeout=60, env=env())
    no_mailbox = start_refused(config, env())
    assert no_mailbox.returncode == 1 and check.returncode == 1
    assert "[bounces] poll_minutes = 10, but there is no mailbox to read" in no_mailbox.stderr
    assert error_lines(no_mailbox.stderr) == error_lines(check.stderr)
