"""Confirmation mail, sent from one background thread.

A request only queues the message: it never waits on a mail server, and the
time it takes to answer does not tell whether anything was sent (the page is
the same whether or not the address was already on the list). A message still
queued when the process stops is lost; the person just asks again.
"""

from __future__ import annotations

import logging
import queue
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime

from ..config import Config
from ..errors import PublisherError
from ..mail import confirm
from ..mail.transports import Permanent, Temporary, Transport
from .pages import mask

log = logging.getLogger(__name__)

QUEUE_SIZE = 10_000
TRIES = 3


@dataclass(frozen=True)
class Confirmation:
    to: str
    name: str
    link: str


class Mailer:
    def __init__(
        self,
        config: Config,
        environ: Mapping[str, str] | None = None,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.config = config
        self.clock = clock
        self.hours = config.web.confirm_hours
        # Both raise now, at start, if a setting or the SMTP password is missing.
        self.messages = confirm.ConfirmationMessages(config)
        self.transport: Transport = confirm.transport(config, environ)
        self.queue: queue.Queue[Confirmation | None] = queue.Queue(QUEUE_SIZE)
        self.thread = threading.Thread(target=self._loop, name="publisher-web-mail", daemon=True)
        self.sent = 0
        self.failed = 0

    def start(self) -> None:
        self.thread.start()

    def submit(self, item: Confirmation) -> bool:
        """Queue one message; False if the queue is full (the caller says nothing)."""
        try:
            self.queue.put_nowait(item)
            return True
        except queue.Full:
            log.warning("confirmation queue full: a confirmation to %s was dropped",
                        mask(item.to))
            return False

    def close(self, timeout: float = 10.0) -> None:
        """Send what is queued (up to `timeout`), then stop."""
        if self.thread.is_alive():
            self.queue.put(None)
            self.thread.join(timeout)
        self.transport.close()

    def _loop(self) -> None:
        while True:
            item = self.queue.get()
            if item is None:
                return
            try:
                self._send(item)
            except Exception as exc:  # the thread must survive anything one message does
                self.failed += 1
                # No traceback at the default level: a message could quote the address.
                log.error("confirmation to %s failed: %s", mask(item.to),
                          _scrub(str(exc), item.to) if isinstance(exc, PublisherError)
                          else type(exc).__name__)
                log.debug("traceback", exc_info=exc)

    def _send(self, item: Confirmation) -> None:
        now = datetime.fromtimestamp(self.clock(), UTC)
        msg = self.messages.build(item.to, item.name, item.link, self.hours, now)
        sender = self.messages.sender.address.addr_spec
        for attempt in range(TRIES):
            try:
                self.transport.send(msg, sender, item.to, confirm.label(now))
                self.sent += 1
                log.info("confirmation sent to %s", mask(item.to))
                return
            except Permanent as exc:
                self.failed += 1
                log.warning("confirmation to %s refused: %s", mask(item.to),
                            _scrub(str(exc), item.to))
                return
            except (Temporary, PublisherError) as exc:
                if attempt + 1 == TRIES:
                    self.failed += 1
                    log.error("confirmation to %s not sent after %d tries: %s",
                              mask(item.to), TRIES, _scrub(str(exc), item.to))
                    return
                time.sleep(0.5 * (attempt + 1))


def _scrub(text: str, address: str) -> str:
    """Server replies often quote the address: never let it reach the log whole."""
    return text.replace(address, mask(address))
