"""Shared helpers for the delivery tests: a tiny site and a real SMTP server.

The server is aiosmtpd on 127.0.0.1 with a handler that records every
accepted message and can, per recipient, answer 451 a few times, answer 550,
or drop the connection.
"""

from __future__ import annotations

import email
import email.policy
import os
import socket
import subprocess
import sys
import threading
import time
from collections import Counter
from dataclasses import dataclass, field
from datetime import UTC, datetime
from email.message import EmailMessage
from pathlib import Path
from typing import Any

from aiosmtpd.controller import Controller
from aiosmtpd.smtp import AuthResult, LoginPassword

from publisher.config import settings as config_mod
from publisher.config.settings import Config
from publisher.store.store import Store

SECRET = "test-secret-0123456789abcdef"
NOW = datetime(2026, 3, 2, 8, 0, tzinfo=UTC)
CLI = [sys.executable, "-c", "from publisher.cli import main; main()"]
UNSUB = "https://news.example.org/unsubscribe"

POST = """---
title: "{title}"
date: {date}
author: "Desk"
excerpt: "An excerpt for {title}."
---

Body of the post about {title}.
"""


def write_post(site: Path, slug: str, title: str, date: str) -> None:
    folder = site / "content"
    folder.mkdir(parents=True, exist_ok=True)
    (folder / f"{date[:10]}-{slug}.md").write_text(
        POST.format(title=title, date=date), encoding="utf-8"
    )


def write_config(site: Path, delivery: dict[str, Any] | None = None,
                 smtp: dict[str, Any] | None = None) -> Path:
    table: dict[str, Any] = {
        "from": "Example News <news@news.example.org>",
        "unsubscribe_url": UNSUB,
        "unsubscribe_mailto": "unsubscribe@news.example.org",
    }
    table.update(delivery or {})
    lines = [
        "[site]",
        'url = "https://news.example.org"',
        'title = "Example News"',
        "[digest]",
        "first_window_days = 30",
        "[delivery]",
        *(f"{k} = {_toml(v)}" for k, v in table.items()),
    ]
    if smtp is not None:
        lines.append("[smtp]")
        lines.extend(f"{k} = {_toml(v)}" for k, v in smtp.items())
    path = site / "publisher.toml"
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


def _toml(value: Any) -> str:
    if isinstance(value, str):
        return '"' + value.replace("\\", "\\\\").replace('"', '\\"') + '"'
    if isinstance(value, bool):
        return "true" if value else "false"
    return repr(value)


def make_site(tmp_path: Path, delivery: dict[str, Any] | None = None,
              smtp: dict[str, Any] | None = None, posts: int = 2) -> Config:
    for i in range(posts):
        write_post(tmp_path, f"post-{i}", f"Post number {i}", f"2026-03-01T0{i % 8}:00:00")
    return config_mod.load(write_config(tmp_path, delivery, smtp))


def smtp_table(port: int, **extra: Any) -> dict[str, Any]:
    table: dict[str, Any] = {
        "host": "127.0.0.1",
        "port": port,
        "security": "none",
        "timeout": 5.0,
        "retries": 3,
        "retry_delay": 0.01,
        "retry_max_delay": 0.05,
    }
    table.update(extra)
    return table


def add_subscribers(config: Config, addresses: list[str]) -> None:
    state = Store.open(config.state_file)
    try:
        with state.transaction():
            for i, address in enumerate(addresses):
                state.subscribers.add(address, f"Reader {i}", NOW)
    finally:
        state.close()


def ledger_rows(config: Config) -> dict[tuple[int, str], tuple[str, int, str]]:
    """(digest_id, email) -> (status, attempts, last_error)."""
    state = Store.open(config.state_file)
    try:
        rows = state._conn.execute(
            "SELECT s.digest_id, u.email, s.status, s.attempts, s.last_error "
            "FROM sends s JOIN subscribers u ON u.id = s.subscriber_id"
        ).fetchall()
    finally:
        state.close()
    return {(r[0], r[1]): (r[2], r[3], r[4]) for r in rows}


def env(**extra: str) -> dict[str, str]:
    result = {k: v for k, v in os.environ.items() if not k.startswith("PUBLISHER_")}
    result["PUBLISHER_SECRET"] = SECRET
    result.update(extra)
    return result


def run_cli(site: Path, *args: str, environ: dict[str, str] | None = None,
            check: bool = False) -> subprocess.CompletedProcess[str]:
    proc = subprocess.run(
        [*CLI, "--config", str(site / "publisher.toml"), *args],
        capture_output=True, text=True, env=environ if environ is not None else env(),
        cwd=site, timeout=120,
    )
    if check and proc.returncode != 0:
        raise AssertionError(f"exit {proc.returncode}\n{proc.stdout}\n{proc.stderr}")
    return proc


def parse(data: bytes) -> EmailMessage:
    msg = email.message_from_bytes(data, policy=email.policy.default)
    assert isinstance(msg, EmailMessage)
    return msg


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@dataclass
class Behaviour:
    temporary: dict[str, int] = field(default_factory=dict)  # rcpt -> 451s left
    permanent: set[str] = field(default_factory=set)  # rcpt -> `refusal`
    refusal: str = "550 5.1.1 No such user here"
    drop_at_data: set[int] = field(default_factory=set)  # nth DATA (1-based) to drop


class Recorder:
    """The aiosmtpd handler: records accepted messages, misbehaves on request."""

    def __init__(self) -> None:
        self.messages: list[tuple[str, bytes]] = []
        self.senders: dict[str, str] = {}  # recipient -> envelope sender (MAIL FROM)
        self.behaviour = Behaviour()
        self.rcpt_calls: Counter[str] = Counter()
        self.datas = 0
        self.sessions = 0
        self.lock = threading.Lock()

    async def handle_EHLO(self, server: Any, session: Any, envelope: Any, hostname: str,
                          responses: list[str]) -> list[str]:
        with self.lock:
            self.sessions += 1
        session.host_name = hostname
        return responses

    async def handle_RCPT(self, server: Any, session: Any, envelope: Any, address: str,
                          options: list[str]) -> str:
        with self.lock:
            self.rcpt_calls[address] += 1
            if address in self.behaviour.permanent:
                return self.behaviour.refusal
            left = self.behaviour.temporary.get(address, 0)
            if left > 0:
                self.behaviour.temporary[address] = left - 1
                return "451 4.7.1 Greylisted, try again later"
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        with self.lock:
            self.datas += 1
            if self.datas in self.behaviour.drop_at_data:
                # Vanish without a reply: the client cannot know the outcome.
                server.transport.close()
                return "421 closing"
            for rcpt in envelope.rcpt_tos:
                self.messages.append((rcpt, bytes(envelope.content)))
                self.senders[rcpt] = envelope.mail_from
        return "250 2.0.0 Accepted"

    def count(self) -> int:
        with self.lock:
            return len(self.messages)

    def per_recipient(self) -> Counter[str]:
        with self.lock:
            return Counter(r for r, _ in self.messages)


class Authenticator:
    def __init__(self, login: str, password: str) -> None:
        self.login = login.encode()
        self.password = password.encode()

    def __call__(self, server: Any, session: Any, envelope: Any, mechanism: str,
                 auth_data: Any) -> AuthResult:
        ok = (
            isinstance(auth_data, LoginPassword)
            and auth_data.login == self.login
            and auth_data.password == self.password
        )
        return AuthResult(success=ok, handled=False)


class Server:
    def __init__(self, port: int | None = None, auth: Authenticator | None = None) -> None:
        self.port = port or free_port()
        self.recorder = Recorder()
        kwargs: dict[str, Any] = {}
        if auth is not None:
            kwargs.update(authenticator=auth, auth_require_tls=False, auth_required=True)
        self.controller = Controller(
            self.recorder, hostname="127.0.0.1", port=self.port, ready_timeout=10, **kwargs
        )

    def start(self) -> Server:
        self.controller.start()
        return self

    def stop(self) -> None:
        self.controller.stop()

    def wait_for(self, count: int, timeout: float = 60,
                 sender: subprocess.Popen[bytes] | None = None) -> None:
        deadline = time.monotonic() + timeout
        while self.recorder.count() < count:
            if sender is not None and sender.poll() is not None:
                out, err = sender.communicate()
                raise AssertionError(f"sender exited {sender.returncode} early:\n{out!r}\n{err!r}")
            if time.monotonic() > deadline:
                raise AssertionError(f"server got {self.recorder.count()} of {count} messages")
            time.sleep(0.005)
