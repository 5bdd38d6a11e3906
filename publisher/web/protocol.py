"""uvicorn's h11 protocol, with the limits on slow and large requests it lacks.

uvicorn closes idle keep-alive connections (`timeout_keep_alive`) and answers
503 beyond `limit_concurrency`, but it sets no deadline for reading a request:
a client that sends its headers or its body one byte every few seconds holds a
connection for as long as it likes, and a few hundred of them hold the server.
And h11's `max_incomplete_event_size` only bounds a header block that arrives
in pieces: one that arrives in a single read is parsed whatever its size.

An ASGI middleware could time the app's reads of the body, but not the headers
(the app is called only once they are in), nor a body the app never reads (a
429 or 404 answered first). So both deadlines and the header cap live here, in
the one place that sees every byte before h11 does: one timer per connection,
armed for the part of a request being read.
"""

from __future__ import annotations

import asyncio
import logging
import re
from dataclasses import dataclass
from typing import Any, ClassVar

import h11
from uvicorn.config import Config
from uvicorn.protocols.http.h11_impl import H11Protocol
from uvicorn.server import ServerState

log = logging.getLogger(__name__)

# Where a request's head ends, as h11 finds it (it accepts bare LF line ends).
_END_OF_HEAD = re.compile(rb"\n\r?\n")


@dataclass(frozen=True)
class ReadLimits:
    header_timeout: float  # seconds to send the head, from connecting or the last answer
    body_timeout: float  # seconds to send the body, once the head is in
    max_header_bytes: int  # request line and headers; beyond it, 431


class LimitedH11Protocol(H11Protocol):
    """One instance per connection; `limits` is set by `with_limits`."""

    limits: ClassVar[ReadLimits]

    def __init__(
        self,
        config: Config,
        server_state: ServerState,
        app_state: dict[str, Any],
        _loop: asyncio.AbstractEventLoop | None = None,
    ) -> None:
        super().__init__(config, server_state, app_state, _loop)
        self.timer: asyncio.TimerHandle | None = None
        self.phase = ""  # what is being read: "head", "body" or "" (nothing)
        self.head_size = 0  # bytes of the current head received so far
        self.tail = b""  # its last bytes, to find an end split across reads
        self.refused = False

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        super().connection_made(transport)
        self.watch()

    def data_received(self, data: bytes) -> None:
        if self.refused:
            return  # the rest of a refused request: read and dropped
        if self.conn.their_state is h11.IDLE and self.head_too_large(data):
            limit = self.limits.max_header_bytes // 1024
            self.refuse(431, "Request Header Fields Too Large",
                        f"The request's headers are too large (at most {limit} kB).\n")
            return
        super().data_received(data)
        self.watch()

    def on_response_complete(self) -> None:
        super().on_response_complete()
        self.watch()  # a keep-alive connection now waits for its next head

    def connection_lost(self, exc: Exception | None) -> None:
        self.cancel()
        super().connection_lost(exc)

    def head_too_large(self, data: bytes) -> bool:
        seen = self.tail + data
        end = _END_OF_HEAD.search(seen)
        if end is None:
            self.head_size += len(data)
            self.tail = seen[-2:]
        else:
            self.head_size += end.end() - len(self.tail)
        return self.head_size > self.limits.max_header_bytes

    def watch(self) -> None:
        """Arm the deadline of what is being read now, when that changes."""
        state = self.conn.their_state
        phase = "head" if state is h11.IDLE else "body" if state is h11.SEND_BODY else ""
        if phase == self.phase or self.transport.is_closing():
            return
        self.cancel()
        self.phase, self.head_size, self.tail = phase, 0, b""
        if phase:
            seconds = self.limits.header_timeout if phase == "head" else self.limits.body_timeout
            self.timer = self.loop.call_later(seconds, self.timed_out)

    def cancel(self) -> None:
        if self.timer is not None:
            self.timer.cancel()
            self.timer = None

    def timed_out(self) -> None:
        self.timer = None
        if self.transport.is_closing():
            return
        if self.refused:
            self.transport.close()
            return
        if self.phase == "head":
            started = self.head_size > 0
        else:  # "body": unless the app has already answered (a 429 before reading it)
            started = self.cycle is not None and not self.cycle.response_started
        log.debug("closing a connection that sent its request too slowly (%s)", self.phase)
        if started:
            # Raw bytes, not through h11: the app's cycle may still hold h11's
            # state, and after close() anything it sends is dropped.
            self.transport.write(_answer(408, "Request Timeout",
                                         "The request took too long to arrive.\n"))
        self.transport.close()

    def refuse(self, status: int, reason: str, text: str) -> None:
        """Answer and end the connection without parsing the request. Its unread
        rest is read and dropped until the client closes (or the head's deadline
        passes): closing with unread bytes would send a reset, and the client's
        system could throw the answer away before the client reads it."""
        self.refused = True
        self.transport.write(_answer(status, reason, text))
        if self.transport.can_write_eof():
            self.transport.write_eof()
        else:
            self.transport.close()


def _answer(status: int, reason: str, text: str) -> bytes:
    body = text.encode("utf-8")
    head = (
        f"HTTP/1.1 {status} {reason}\r\n"
        "content-type: text/plain; charset=utf-8\r\n"
        "x-content-type-options: nosniff\r\n"
        f"content-length: {len(body)}\r\n"
        "connection: close\r\n\r\n"
    )
    return head.encode("ascii") + body


def with_limits(limits: ReadLimits) -> type[LimitedH11Protocol]:
    """The protocol class for one server (uvicorn makes one instance per connection)."""

    class Protocol(LimitedH11Protocol):
        pass

    Protocol.limits = limits
    return Protocol
