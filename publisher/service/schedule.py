"""`publisher run`: keep a site published without cron.

Jobs on one APScheduler scheduler. The first three run one at a time (one
thread, `workers.JobThread`), each under the same site lock as `publisher
publish`, so the service and cron never write at the same time:

- scan: every `[schedule] poll_seconds`, diff the posts folder against a stat
  cache; after a burst of saves settles, rebuild the feeds once.
- due: a one-off job at the next future-dated post's time, re-set after every
  rebuild, so a scheduled post goes out on time without any polling.
- digest: the `[schedule] digest` cron expression in the site timezone; calls
  `pipeline.publish`, which issues (and delivers) a digest only if there are
  new posts.
- bounces: every `[bounces] poll_minutes` (when set), read the bounce mailbox
  and act on what it reports (`app.bounces`). This one has a thread
  of its own and does the reading in a child process, so a slow mailbox or a
  hostile report never delays the jobs above; it needs no site lock (each
  report is its own transaction).

The main thread only waits for SIGTERM or SIGINT, then stops the scheduler
and waits for the running jobs (`Service.run`).

The job store is in memory: the SQLite state store already records what was
issued, so the scheduler keeps no state of its own. What the scheduler would
forget across a restart (a digest run missed while the service was down) is
recovered at start from that state store.
"""

from __future__ import annotations

import logging
import os
import select
import signal
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager, suppress
from datetime import UTC, datetime, timedelta
from types import FrameType
from typing import TYPE_CHECKING, Any

from apscheduler.jobstores.base import JobLookupError
from apscheduler.schedulers import SchedulerNotRunningError
from apscheduler.schedulers.background import BackgroundScheduler
from apscheduler.triggers.cron import CronTrigger
from apscheduler.triggers.date import DateTrigger
from apscheduler.triggers.interval import IntervalTrigger

from ..app import pipeline
from ..app.mailer import MailWorker, mail_worker
from ..app.service import check_run, last_digest_run, note_digest_run
from ..config.rules import raise_problems, schedule_problems
from ..config.settings import Config
from ..errors import PublisherError
from ..lock import FileLock, Holder, service_lock, site_lock
from ..model import Summary
from ..report import archive_lines, as_publisher_error, error_line, rebuild_line, warning_lines
from .watch import Watcher
from .workers import JobThread, read_bounces_apart

if TYPE_CHECKING:
    from ..web.server import WebThread

log = logging.getLogger(__name__)

SCAN_JOB = "scan"
DIGEST_JOB = "digest"
BOUNCES_JOB = "bounces"
# A burst is over once a rescan this soon after finds nothing new; short enough
# that a saved post is out within poll_seconds + 2 s.
MAX_QUIET_SECONDS = 1.0
# ...and a folder that never goes quiet is still rebuilt this often.
MAX_SETTLE_SECONDS = 5.0


def utcnow() -> datetime:
    return datetime.now(UTC)


class SiteCronTrigger(CronTrigger):  # type: ignore[misc]
    """A cron trigger that runs a fixed wall-clock time once when clocks go back.

    APScheduler 3 (with zoneinfo) fires "30 1 * * *" twice on the night the
    clocks go back, once in each pass through 01:30. Like cron, a job with a
    fixed hour runs only in the first pass; jobs with `*` in the hour field
    run in both passes, since they are meant to run every hour that passes.
    A time that does not exist (the gap when clocks go forward) is left to
    APScheduler: it fires once, an hour later by the wall clock.
    """

    def get_next_fire_time(
        self, previous_fire_time: datetime | None, now: datetime
    ) -> datetime | None:
        candidate: datetime | None = super().get_next_fire_time(previous_fire_time, now)
        # A repeated hour happens at most once per transition; a few tries is plenty.
        for _ in range(4):
            if candidate is None or not self._second_pass(candidate):
                return candidate
            candidate = super().get_next_fire_time(candidate, candidate)
        return candidate

    def _second_pass(self, when: datetime) -> bool:
        hour = next(f for f in self.fields if f.name == "hour")
        if str(hour) == "*":
            return False
        local = when.astimezone(self.timezone)
        first = local.replace(fold=0)
        return local.fold == 1 and first.utcoffset() != local.utcoffset()


def digest_trigger(config: Config) -> SiteCronTrigger | None:
    """The digest schedule, or None when `[schedule] digest` is empty (no digest)."""
    raise_problems(schedule_problems(config))
    expr = config.schedule.digest.strip()
    if not expr:
        return None
    trigger: SiteCronTrigger = SiteCronTrigger.from_crontab(expr, timezone=config.tz)
    return trigger


def digest_job_options(config: Config) -> dict[str, Any]:
    """Weekly-job settings: a late run still happens within the grace time, and
    runs missed while the machine slept collapse into one (coalesce)."""
    return {
        "misfire_grace_time": config.schedule.misfire_grace_seconds,
        "coalesce": True,
        "max_instances": 1,
    }


def missed_run(
    trigger: CronTrigger, last_done: datetime | None, now: datetime, grace: float
) -> datetime | None:
    """The latest fire time within the grace window before `now` that came
    after `last_done`; None if nothing was missed (or nothing was ever done)."""
    if last_done is None:
        # A new site: its first digest waits for the first scheduled time
        # rather than going out the moment the service is first started.
        return None
    latest: datetime | None = None
    when: datetime | None = trigger.get_next_fire_time(None, now - timedelta(seconds=grace))
    while when is not None and when <= now:
        latest = when
        when = trigger.get_next_fire_time(when, when)
    if latest is None or last_done >= latest:
        return None
    return latest


def settle_times(config: Config) -> tuple[float, float]:
    """(quiet, max_wait) for `Watcher.settle` at this poll interval."""
    poll = config.schedule.poll_seconds
    return min(MAX_QUIET_SECONDS, poll / 2), max(MAX_SETTLE_SECONDS, poll)


class _QuietOverlaps(logging.Filter):
    """A scan (or a bounce read) that finds the previous one still running is
    expected, not a warning."""

    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        return not (
            "maximum number of running instances" in message
            and (SCAN_JOB in message or BOUNCES_JOB in message)
        )


class _Signals:
    """SIGTERM and SIGINT, delivered to the main thread as bytes on a pipe.

    Python runs a signal handler in the main thread between two bytecodes,
    wherever that thread is: inside `Event.wait` holding the event's lock, or
    inside the scheduler holding its own. A handler that logs, sets an event
    or stops the scheduler can wait for a lock its own thread holds. So the
    handler does nothing; `signal.set_wakeup_fd` has the interpreter write
    the signal's number to the pipe, from whichever thread the kernel chose,
    and the main thread reads it in plain code.
    """

    SIGNALS = (signal.SIGTERM, signal.SIGINT)

    def __enter__(self) -> _Signals:
        self._read, self._write = os.pipe()
        os.set_blocking(self._write, False)
        self._previous = {sig: signal.signal(sig, _noted) for sig in self.SIGNALS}
        self._wakeup = signal.set_wakeup_fd(self._write, warn_on_full_buffer=False)
        return self

    def __exit__(self, *exc: object) -> None:
        signal.set_wakeup_fd(self._wakeup)
        for sig, handler in self._previous.items():
            signal.signal(sig, handler)
        os.close(self._read)
        os.close(self._write)

    def wait(self, timeout: float | None = None) -> list[str]:
        """The names of the signals received, waiting up to `timeout` s for one."""
        ready, _, _ = select.select([self._read], [], [], timeout)
        if not ready:
            return []
        # The pipe also carries any other signal that has a Python handler.
        numbers = os.read(self._read, 64)
        return [signal.Signals(n).name for n in numbers if n in self.SIGNALS]


def _noted(signum: int, frame: FrameType | None) -> None:
    """The Python-level handler: the wakeup pipe already has the signal."""


class Service:
    """One `publisher run` process: the scheduler, its jobs and their state."""

    def __init__(self, config: Config, clock: Callable[[], datetime] = utcnow) -> None:
        self.config = config
        self.clock = clock
        self.watcher = Watcher(
            config.posts_dir, config.jekyll_site, config.content.follow_symlinks
        )
        self.digest = digest_trigger(config)
        self.stopping = threading.Event()
        # True while the feeds may not match the folder: at start, and after a
        # rebuild that failed (for example, the lock was busy) until one succeeds.
        self.dirty = True
        self._first_scan = True
        self._due_id: str | None = None
        self._due_at: datetime | None = None
        self._workers = (JobThread("publisher-jobs"), JobThread("publisher-bounces"))
        # UTC inside the scheduler: aware datetimes in one zoneinfo zone
        # subtract by wall clock, which miscounts waits across DST changes.
        # The digest trigger carries the site timezone itself.
        self.scheduler = BackgroundScheduler(
            timezone=UTC,
            executors={"default": self._workers[0], BOUNCES_JOB: self._workers[1]},
            job_defaults={"coalesce": True, "max_instances": 1, "misfire_grace_time": None},
        )

    # -- life cycle -----------------------------------------------------------

    def run(self) -> None:
        """Serve until SIGTERM or SIGINT; returns after the running job finishes.
        Refuses to start (ConfigError, SecretMissing) if the work needs a
        setting or secret that is missing. In the main thread only (it handles
        the signals)."""
        check_run(self.config, web=bool(self.config.web.base_url))
        # Signals are taken from the start: one that comes while the web
        # pages start still ends in a clean stop, not in death by SIGTERM.
        with _Signals() as signals, service_lock(self.config):
            web = self._start_web()
            mail = self._start_mail(web is not None)
            try:
                self._serve(signals)
            finally:
                if web is not None:
                    web.stop()
                if mail is not None:
                    mail.stop()
        log.info("stopped")

    def _start_mail(self, web: bool) -> MailWorker | None:
        """Queued list mail goes out from the web pages' own worker; without
        them, from one here, once [delivery] is set up."""
        if web or not self.config.delivery.sender:
            return None
        worker = mail_worker(self.config)
        worker.start()
        return worker

    def _start_web(self) -> WebThread | None:
        """The list's pages, when `[web] base_url` says where they live."""
        if not self.config.web.base_url:
            return None
        # lazy: uvicorn and Starlette cost more to import than the rest of the
        # service together, and a service without [web] base_url never needs them.
        from ..web.server import WebThread  # noqa: PLC0415

        web = WebThread(self.config)
        web.start()
        return web

    def _serve(self, signals: _Signals) -> None:
        """The scheduler, in its own thread, until a signal comes."""
        self._add_jobs()
        quiet = _QuietOverlaps()
        logging.getLogger("apscheduler.scheduler").addFilter(quiet)
        try:
            self.scheduler.start()
            try:
                received = signals.wait()
                while not received:
                    received = signals.wait()
                log.info("received %s: finishing the running job, then exiting", received[0])
            finally:
                self.stop()
            for worker in self._workers:
                while not worker.join(timeout=0):
                    for name in signals.wait(timeout=0.1):
                        log.info("received %s again: still finishing the running job", name)
        finally:
            logging.getLogger("apscheduler.scheduler").removeFilter(quiet)

    def stop(self) -> None:
        """Stop the scheduler: queued jobs are skipped, a bounce read is cut short,
        and `JobThread.join` waits for the running job. Any thread but a signal
        handler may call it; it never waits."""
        self.stopping.set()
        with suppress(SchedulerNotRunningError):
            self.scheduler.shutdown(wait=False)

    def _add_jobs(self) -> None:
        config = self.config
        now = self.clock()
        log.info(
            "publisher run (pid %s): watching %s every %g s",
            os.getpid(),
            config.posts_dir,
            config.schedule.poll_seconds,
        )
        self.scheduler.add_job(
            self._guarded("scan", self.scan_job),
            IntervalTrigger(seconds=config.schedule.poll_seconds),
            id=SCAN_JOB,
            name=SCAN_JOB,
            next_run_time=now,
        )
        if config.bounces.poll_minutes > 0:
            self.scheduler.add_job(
                self._guarded("bounces", self.bounces_job),
                IntervalTrigger(minutes=config.bounces.poll_minutes),
                id=BOUNCES_JOB,
                name=BOUNCES_JOB,
                next_run_time=now,
                executor=BOUNCES_JOB,  # its own thread: never in the way of a post
            )
            log.info("reading bounces every %d min", config.bounces.poll_minutes)
        if self.digest is None:
            log.info("digest: off ([schedule] digest is empty)")
            return
        options = digest_job_options(config)
        missed = missed_run(
            self.digest, self._last_digest(), now, config.schedule.misfire_grace_seconds
        )
        if missed is not None:
            log.info(
                "digest run of %s was missed while the service was down; running it now",
                _local(missed, config),
            )
            options["next_run_time"] = missed
        self.scheduler.add_job(
            self._guarded("digest", self.digest_job),
            self.digest,
            id=DIGEST_JOB,
            name=DIGEST_JOB,
            **options,
        )
        self._log_next_digest(now)

    def _last_digest(self) -> datetime | None:
        """When the digest job last ran, issued or not; else the last digest issued."""
        return last_digest_run(self.config)

    # -- jobs -----------------------------------------------------------------

    def _guarded(self, name: str, work: Callable[[], None]) -> Callable[[], None]:
        """An error in one job is logged; the service carries on."""

        def job() -> None:
            if self.stopping.is_set():
                return
            try:
                work()
            except PublisherError as exc:
                log.error("%s failed: %s", name, error_line(exc))
            except Exception as exc:
                known = as_publisher_error(exc)  # a full disk, say: no traceback
                if known is None:
                    log.exception("%s failed unexpectedly", name)
                else:
                    log.error("%s failed: %s", name, error_line(known))

        return job

    def scan_job(self) -> None:
        started = time.perf_counter()
        changes = self.watcher.scan()
        if self._first_scan:
            self._first_scan = False
            log.info("scan found %d post files", len(self.watcher))
        elif changes:
            log.info("scan found %s", changes)
            quiet, max_wait = settle_times(self.config)
            settled = self.watcher.settle(changes, quiet, max_wait, stop=self.stopping.is_set)
            if settled != changes:
                log.info("scan settled after %.1f s: %s", time.perf_counter() - started, settled)
        elif self.dirty:
            log.info("scan found no changes; retrying the last failed rebuild")
        else:
            log.debug("scan found no changes in %d files", len(self.watcher))
            return
        self.rebuild("scan")

    def due_job(self) -> None:
        log.info("future post due: publishing it")
        self.rebuild("due")

    def digest_job(self) -> None:
        self.dirty = True
        with self._lock("digest"):
            now = self.clock()
            result = pipeline.publish(self.config, now)
            # A run that found nothing new leaves no digest behind; remember it
            # anyway, or a restart within the grace time would run it again.
            note_digest_run(self.config, now)
        self.dirty = False
        self._report(result)
        digest = result.digest
        if digest is not None and digest.record is None:
            log.info("digest: none issued (%s)", digest.reason)
        if result.delivery is not None:
            log.info("%s", result.delivery.line())
        error = result.delivery_error
        if error is not None:
            # The feeds and the digest are done; the mail waits for `publisher send`
            # or the next digest run.
            log.error("delivery failed: %s", error_line(error))
        self._schedule_due(result.summary)
        self._log_next_digest(self.clock())

    def bounces_job(self) -> None:
        """Read the bounce mailbox, in a child process; no site lock: each report
        is its own transaction. Stopping the service stops the reading at once."""
        lines = read_bounces_apart(self.config, self.clock(), self.stopping)
        if lines is None:
            log.info("bounces: stopped part-way; the reports not read yet are read next time")
            return
        for line in lines:
            log.info("%s", line)

    def rebuild(self, why: str) -> Summary:
        self.dirty = True
        with self._lock(why):
            result = pipeline.build(self.config, self.clock())
        self.dirty = False
        self._report(result)
        self._schedule_due(result.summary)
        return result.summary

    # -- helpers --------------------------------------------------------------

    @contextmanager
    def _lock(self, why: str) -> Iterator[FileLock]:
        def waiting(holder: Holder) -> None:
            log.info("%s: waiting for the site lock held by %s", why, holder)

        with site_lock(self.config, f"publisher run: {why}", on_wait=waiting) as lock:
            yield lock

    def _report(self, result: pipeline.PublishResult) -> None:
        site = result.summary
        for problem in site.problems:
            if problem.severity == "error":
                log.error("%s", problem)
            else:
                log.warning("%s", problem)
        log.info("%s", rebuild_line(result))
        for line in warning_lines(result):
            log.warning("%s", line.removeprefix("warning: "))
        for line in archive_lines(result.archived, self.config, self.clock()):
            log.warning("%s", line)

    def _schedule_due(self, site: Summary) -> None:
        when = site.next_due
        if when == self._due_at:
            return
        old, self._due_id, self._due_at = self._due_id, None, when
        if old is not None:
            with suppress(JobLookupError):  # it already ran
                self.scheduler.remove_job(old)
        if when is None:
            log.info("no future posts scheduled")
            return
        # A fresh id each time: the scheduler removes a one-off job after it
        # fires, and must not remove the one that job set for the next post.
        self._due_id = f"due-{when.timestamp():.0f}-{time.monotonic_ns()}"
        self.scheduler.add_job(
            self._guarded("publish due post", self.due_job),
            DateTrigger(run_date=when.astimezone(UTC)),
            id=self._due_id,
            name="due",
        )
        title = site.next_title
        log.info("next future post at %s: %s", _local(when, self.config), title)

    def _log_next_digest(self, now: datetime) -> None:
        if self.digest is None:
            return
        when = self.digest.get_next_fire_time(None, now)
        if when is not None:
            log.info(
                "next digest run at %s (%s)", _local(when, self.config), self.config.schedule.digest
            )


def _local(when: datetime, config: Config) -> str:
    return f"{when.astimezone(config.tz):%Y-%m-%d %H:%M:%S %Z}"
