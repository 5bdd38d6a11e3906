"""A counting SMTP sink (aiosmtpd on 127.0.0.1) in its own process.

The harness times `publisher` against it; running the server in another
process keeps its CPU out of the child's rusage and off the harness's GIL.
"""

from __future__ import annotations

import multiprocessing
import socket
from multiprocessing.sharedctypes import Synchronized
from typing import Any


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


class _Counter:
    def __init__(self, count: Synchronized[int]) -> None:
        self.count = count

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:  # noqa: N802
        with self.count.get_lock():
            self.count.value += 1
        return "250 OK"


def _serve(port: int, count: Synchronized[int], ready: Any, stop: Any) -> None:
    from aiosmtpd.controller import Controller

    controller = Controller(_Counter(count), hostname="127.0.0.1", port=port)
    controller.start()
    ready.set()
    try:
        stop.wait()
    finally:
        controller.stop()


class SmtpSink:
    """Start with `with SmtpSink() as sink:`; `sink.count` is messages accepted so far."""

    def __init__(self) -> None:
        ctx = multiprocessing.get_context("spawn")
        self.port = free_port()
        self._count: Synchronized[int] = ctx.Value("q", 0)
        self._ready = ctx.Event()
        self._stop = ctx.Event()
        self._process = ctx.Process(
            target=_serve, args=(self.port, self._count, self._ready, self._stop), daemon=True
        )

    def __enter__(self) -> SmtpSink:
        self._process.start()
        if not self._ready.wait(30):
            self.close()
            raise RuntimeError("the SMTP sink did not start within 30 s")
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        self._stop.set()
        self._process.join(10)
        if self._process.is_alive():
            self._process.kill()
            self._process.join()

    @property
    def count(self) -> int:
        with self._count.get_lock():
            return int(self._count.value)

    def reset(self) -> None:
        with self._count.get_lock():
            self._count.value = 0
