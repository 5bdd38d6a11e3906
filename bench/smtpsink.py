"""A counting SMTP sink (aiosmtpd on 127.0.0.1) in its own process, and its ceiling.

The harness times `publisher` against it; running the server in another
process keeps its CPU out of the child's rusage and off the harness's GIL.

The sink is not free: aiosmtpd reads DATA line by line in Python, a few
milliseconds of CPU per ~27 KB digest, in one process. So the sink records its
own CPU time, keeps one message it received, and `ceiling()` replays that
message from a client that does nothing else: the most messages a second this
sink takes on this machine, which no client can beat.
"""

from __future__ import annotations

import json
import multiprocessing
import smtplib
import socket
import threading
import time
from dataclasses import dataclass
from multiprocessing.sharedctypes import Synchronized
from pathlib import Path
from typing import Any


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


@dataclass(frozen=True)
class Message:
    """One message as the sink received it: its envelope and its bytes."""

    mail_from: str
    rcpt_tos: list[str]
    content: bytes

    def save(self, path: Path) -> None:
        """One JSON line for the envelope, then the bytes as they came."""
        head = json.dumps({"mail_from": self.mail_from, "rcpt_tos": self.rcpt_tos})
        path.write_bytes(head.encode() + b"\n" + self.content)

    @classmethod
    def load(cls, path: Path) -> Message:
        head, content = path.read_bytes().split(b"\n", 1)
        envelope = json.loads(head)
        return cls(envelope["mail_from"], list(envelope["rcpt_tos"]), content)


class _Counter:
    def __init__(self, count: Synchronized[int], cpu: Synchronized[float],
                 keep: Path | None) -> None:
        self.count = count
        self.cpu = cpu
        self.keep = keep

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:  # noqa: N802
        with self.count.get_lock():
            self.count.value += 1
        if self.keep is not None:
            # The first message only: the ceiling replays it (one small write, once).
            Message(envelope.mail_from, list(envelope.rcpt_tos), envelope.content).save(self.keep)
            self.keep = None
        # All of this process's CPU so far (the server's thread included), after each
        # message: the harness reads the difference over a run.
        self.cpu.value = time.process_time()
        return "250 OK"


def _serve(port: int, count: Synchronized[int], cpu: Synchronized[float],
           keep: Path | None, ready: Any, stop: Any) -> None:
    from aiosmtpd.controller import Controller

    controller = Controller(_Counter(count, cpu, keep), hostname="127.0.0.1", port=port)
    controller.start()
    cpu.value = time.process_time()  # start-up (imports, the server thread): not a run's
    ready.set()
    try:
        stop.wait()
    finally:
        controller.stop()


class SmtpSink:
    """Start with `with SmtpSink() as sink:`; `sink.count` is messages accepted so far,
    `sink.cpu_seconds` the CPU the sink spent on them.

    With `keep`, the first message the sink receives is written to that file
    (see Message.load).
    """

    def __init__(self, keep: Path | None = None) -> None:
        ctx = multiprocessing.get_context("spawn")
        self.port = free_port()
        self._count: Synchronized[int] = ctx.Value("q", 0)
        self._cpu: Synchronized[float] = ctx.Value("d", 0.0)
        self._cpu_at_reset = 0.0
        self._ready = ctx.Event()
        self._stop = ctx.Event()
        self._process = ctx.Process(
            target=_serve,
            args=(self.port, self._count, self._cpu, keep, self._ready, self._stop),
            daemon=True,
        )

    def __enter__(self) -> SmtpSink:
        self._process.start()
        if not self._ready.wait(30):
            self.close()
            raise RuntimeError("the SMTP sink did not start within 30 s")
        self.reset()
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

    @property
    def cpu_seconds(self) -> float:
        """The sink process's user + system CPU from the last reset to the last
        message accepted (what it spends after that, a QUIT, is next run's)."""
        with self._cpu.get_lock():
            return float(self._cpu.value) - self._cpu_at_reset

    def reset(self) -> None:
        with self._count.get_lock():
            self._count.value = 0
        with self._cpu.get_lock():
            self._cpu_at_reset = float(self._cpu.value)


@dataclass(frozen=True)
class Ceiling:
    """A bare client replaying one message to a fresh sink: what the sink allows."""

    messages: int
    connections: int
    seconds: float
    sink_cpu_seconds: float
    # The client's own CPU (this process): beside publisher's, what a client costs.
    client_cpu_seconds: float = 0.0

    @property
    def rate(self) -> float:
        """Messages a second."""
        return self.messages / self.seconds if self.seconds else 0.0

    @property
    def sink_ms_per_message(self) -> float:
        return self.sink_cpu_seconds / self.messages * 1000 if self.messages else 0.0

    @property
    def client_ms_per_message(self) -> float:
        return self.client_cpu_seconds / self.messages * 1000 if self.messages else 0.0


def ceiling(message: Message, messages: int, connections: int) -> Ceiling:
    """Send `message` `messages` times over `connections` connections, one thread
    each doing nothing but `sendmail`, to a sink of its own; timed from the
    moment every connection is open to the last reply.

    The threads share this process's GIL but spend most of their time waiting
    for the sink's replies (10,000 digests on the bench machine: the sink busy
    95% of the time, this client ~0.9 ms of CPU a message): the sink's limit,
    not the client's.
    """
    shares = [messages // connections + (n < messages % connections)
              for n in range(connections)]
    with SmtpSink() as sink:
        clients: list[smtplib.SMTP] = []
        failures: list[BaseException] = []

        def send(client: smtplib.SMTP, count: int) -> None:
            try:
                for _ in range(count):
                    client.sendmail(message.mail_from, message.rcpt_tos, message.content)
            except (OSError, smtplib.SMTPException) as exc:
                failures.append(exc)

        try:
            for _ in shares:
                clients.append(smtplib.SMTP("127.0.0.1", sink.port, timeout=60))
            threads = [threading.Thread(target=send, args=(client, count))
                       for client, count in zip(clients, shares, strict=True)]
            sink.reset()
            started, cpu = time.perf_counter(), time.process_time()
            for thread in threads:
                thread.start()
            for thread in threads:
                thread.join()
            seconds, cpu = time.perf_counter() - started, time.process_time() - cpu
        finally:
            for client in clients:
                try:
                    client.quit()
                except (OSError, smtplib.SMTPException):
                    client.close()
        if failures:
            raise failures[0]
        if sink.count != messages:
            raise RuntimeError(f"the sink took {sink.count} of {messages} messages")
        return Ceiling(messages, connections, seconds, sink.cpu_seconds, cpu)
