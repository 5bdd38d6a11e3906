"""The mail worker of `publisher serve` and `publisher run`: a thread that
sends what sign-ups queue (confirmation mail), retrying while the server is
down."""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping

from ..config.settings import Config
from ..mail.outgoing import Worker

__all__ = ["MailWorker", "mail_worker"]

MailWorker = Worker


def mail_worker(
    config: Config,
    environ: Mapping[str, str] | None = None,
    clock: Callable[[], float] = time.time,
) -> MailWorker:
    """The worker, not started yet; raises now if the transport's settings or
    password are missing."""
    return Worker(config, environ, clock)
