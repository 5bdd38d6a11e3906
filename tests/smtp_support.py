"""Misbehaving SMTP servers for the fault tests and the torture suite: aiosmtpd
handlers that answer from a script, hang after the dot, or hang up mid-data."""

from __future__ import annotations

import asyncio
import ssl
from collections import Counter
from pathlib import Path
from typing import Any

from aiosmtpd.controller import Controller
from aiosmtpd.smtp import SMTP

FIXTURES = Path(__file__).parent / "fixtures"


class Faulty:
    """An aiosmtpd handler answering from a script, per recipient.

    `rcpt` and `data`: address -> replies to give, in turn (then 250);
    `hang`: addresses whose DATA gets no reply for `hang_for` seconds, though
    the message is kept, as a real server that hangs after queueing it would.
    """

    def __init__(self) -> None:
        self.rcpt: dict[str, list[str]] = {}
        self.data: dict[str, list[str]] = {}
        self.hang: set[str] = set()
        self.hang_once: set[str] = set()  # hang at the first message only
        self.hang_for = 2.0
        self.received: Counter[str] = Counter()
        self.mail_from = 0

    async def handle_MAIL(self, server: Any, session: Any, envelope: Any, address: str,
                          options: list[str]) -> str:
        self.mail_from += 1
        envelope.mail_from = address
        return "250 OK"

    async def handle_RCPT(self, server: Any, session: Any, envelope: Any, address: str,
                          options: list[str]) -> str:
        replies = self.rcpt.get(address)
        if replies:
            return replies.pop(0)
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        (to,) = envelope.rcpt_tos
        replies = self.data.get(to)
        if replies:
            return replies.pop(0)
        self.received[to] += 1
        if to in self.hang or to in self.hang_once:
            self.hang_once.discard(to)
            await asyncio.sleep(self.hang_for)
        return "250 2.0.0 Queued"


class DropMidData(SMTP):  # type: ignore[misc]
    """Reads a little of the message, then hangs up: the dot never arrives."""

    async def smtp_DATA(self, arg: str) -> None:
        await self.push("354 End data with <CR><LF>.<CR><LF>")
        await self._reader.read(64)
        self.transport.close()


class Dropping(Controller):  # type: ignore[misc]
    def factory(self) -> SMTP:
        return DropMidData(self.handler, **self.SMTP_kwargs)


def tls_context() -> ssl.SSLContext:
    """A server context with a self-signed certificate (tests/fixtures): no
    client trusts it, as no client should."""
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.load_cert_chain(FIXTURES / "selfsigned.crt", FIXTURES / "selfsigned.key")
    return context
