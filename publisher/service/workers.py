"""Where `publisher run`'s jobs run.

- `JobThread`: an APScheduler executor with a thread of its own that runs its
  jobs one after another. The service has two: one for the posts (scans,
  future posts, the digest) and one for reading bounces, so a slow mailbox
  never holds up a post.
- `read_bounces_apart`: the bounce job's work, done in a child process that
  the service can stop at any moment.
"""

from __future__ import annotations

import multiprocessing
import os
import queue
import signal
import sys
import threading
import traceback
from datetime import datetime
from multiprocessing.connection import Connection, wait
from typing import Any

from apscheduler.executors.base import BaseExecutor, run_job

from ..app.service import die_with_parent
from ..config.settings import Config
from ..errors import PublisherError
from ..report import as_publisher_error


class JobThread(BaseExecutor):  # type: ignore[misc]
    """An APScheduler executor: one thread, its jobs one at a time, in order.

    Stopping never waits inside the scheduler. APScheduler's pool executors
    wait for the running job in `shutdown`, which APScheduler 3.11 calls with
    its job-store lock held; a job that then adds or removes a job (a rebuild
    re-sets the next future post's) waits for that lock for ever, and so does
    the service. Here `shutdown` only closes the queue and `join` does the
    waiting, holding no lock. A job queued before the shutdown is skipped, and
    one handed over after it is dropped rather than refused (a refusal is a
    traceback in APScheduler's log).
    """

    def __init__(self, name: str) -> None:
        super().__init__()
        self._queue: queue.SimpleQueue[tuple[Any, list[datetime]] | None] = queue.SimpleQueue()
        self._closed = threading.Event()
        self._thread = threading.Thread(target=self._work, name=name, daemon=True)

    def start(self, scheduler: Any, alias: str) -> None:
        super().start(scheduler, alias)
        self._thread.start()

    def shutdown(self, wait: bool = True) -> None:
        # `wait` is ignored on purpose: see the class comment.
        self._closed.set()
        self._queue.put(None)

    def join(self, timeout: float | None = None) -> bool:
        """Wait up to `timeout` s for the running job; True once none can run any more."""
        if self._thread.ident is None:  # never started
            return True
        self._thread.join(timeout)
        return not self._thread.is_alive()

    def _do_submit_job(self, job: Any, run_times: list[datetime]) -> None:
        self._queue.put((job, run_times))

    def _work(self) -> None:
        while (item := self._queue.get()) is not None:
            job, run_times = item
            if self._closed.is_set():
                self._run_job_success(job.id, [])  # queued before the stop: skipped
                continue
            try:
                events = run_job(job, job._jobstore_alias, run_times, self._logger.name)
            except BaseException:
                self._run_job_error(job.id, *sys.exc_info()[1:])
            else:
                self._run_job_success(job.id, events)


# How often a waiting bounce job looks at its stop flag.
STOP_POLL_SECONDS = 0.1


def read_bounces_apart(
    config: Config, now: datetime, stop: threading.Event
) -> list[str] | None:
    """`app.bounces.bounces` in a child process: its summary lines, or None
    when `stop` was set first (the child is then killed at once).

    A process, not a thread: parsing a hostile report is CPU work that keeps
    the GIL (a regex runs to its end without letting another thread in), and a
    mailbox on a hung mount blocks reading; either would stall the scans and
    the web pages beside it. Killing the child at any moment loses nothing:
    each report is read in its own transaction, so an unfinished one is
    rolled back and read again next time.

    PublisherError for what the reader reported (no mailbox, a bad password);
    RuntimeError, carrying the child's traceback, for a bug.
    """
    context = multiprocessing.get_context("spawn")  # never fork a threaded process
    receiver, sender = context.Pipe(duplex=False)
    child = context.Process(
        target=_read_bounces,
        args=(config, now, sender, os.getpid()),
        name="publisher-bounces",
        daemon=True,
    )
    child.start()
    sender.close()
    try:
        while True:
            ready = wait([receiver, child.sentinel], timeout=STOP_POLL_SECONDS)
            if receiver in ready:
                try:
                    kind, detail = receiver.recv()
                except EOFError:
                    break  # ended without a word: killed, see below
                if kind == "lines":
                    lines: list[str] = detail
                    return lines
                if kind == "error":
                    message, hint = detail
                    raise PublisherError(message, hint=hint)
                raise RuntimeError(f"the bounce reader failed:\n{detail}")
            if ready:
                break
            if stop.is_set():
                return None
    finally:
        if child.is_alive():
            child.kill()
        child.join()
        receiver.close()
    code = child.exitcode
    if code is not None and code < 0:
        # systemd's default KillMode signals every process of the service, so
        # the child may be stopped a moment before this process hears of it.
        return None
    raise PublisherError(
        f"the bounce reader ended without reporting (exit status {code})",
        hint="the reports it did not finish are read at the next poll",
    )


def _read_bounces(config: Config, now: datetime, answer: Connection, parent: int) -> None:
    """The child's side: read, then send back ("lines" | "error" | "crash", detail)."""
    # Ctrl-C reaches the whole process group; the parent decides when this stops.
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    die_with_parent(parent)
    # lazy: only this child reads reports; the service process that imports
    # this module never needs the report parser and the IMAP client.
    from ..app.bounces import bounces as collect  # noqa: PLC0415

    reply: tuple[str, Any]
    try:
        reply = ("lines", [summary.line() for summary in collect(config, now)])
    except PublisherError as exc:
        reply = ("error", (exc.message, exc.hint))
    except Exception as exc:
        known = as_publisher_error(exc)
        if known is None:
            reply = ("crash", traceback.format_exc())
        else:
            reply = ("error", (known.message, known.hint))
    answer.send(reply)
    answer.close()
