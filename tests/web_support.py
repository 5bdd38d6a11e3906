"""Helpers for the web tests: a real `publisher serve` on a free port, a tiny HTTP
client, the outbox, and snapshots of the store to prove a request changed nothing."""

from __future__ import annotations

import email
import email.policy
import http.client
import re
import signal
import sqlite3
import subprocess
import time
from dataclasses import dataclass
from email.message import EmailMessage
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from .delivery_support import CLI, SECRET, _toml, env, free_port, write_post

ADDRESS = "Example News <news@news.example.org>"


@dataclass
class Reply:
    status: int
    headers: dict[str, str]  # lower-case names; repeated ones joined with ", "
    body: bytes
    seconds: float

    @property
    def text(self) -> str:
        return self.body.decode("utf-8", "replace")


def request(
    base: str,
    method: str,
    path: str,
    body: bytes | str | None = None,
    headers: dict[str, str] | None = None,
    timeout: float = 10.0,
) -> Reply:
    """One HTTP/1.1 request on its own connection, as curl would send it."""
    parts = urlsplit(base)
    conn = http.client.HTTPConnection(parts.hostname or "127.0.0.1", parts.port, timeout=timeout)
    data = body.encode("utf-8") if isinstance(body, str) else body
    started = time.perf_counter()
    try:
        conn.request(method, path, body=data, headers=headers or {})
        response = conn.getresponse()
        content = response.read()
        found: dict[str, str] = {}
        for name, value in response.getheaders():
            key = name.lower()
            found[key] = f"{found[key]}, {value}" if key in found else value
        return Reply(response.status, found, content, time.perf_counter() - started)
    finally:
        conn.close()


FORM = {"Content-Type": "application/x-www-form-urlencoded"}
JSON = {"Content-Type": "application/json"}


def write_site(
    root: Path,
    port: int,
    web: dict[str, Any] | None = None,
    delivery: dict[str, Any] | None = None,
    smtp: dict[str, Any] | None = None,
    base_url: str | None = None,
) -> Path:
    table: dict[str, Any] = {
        "listen": f"127.0.0.1:{port}",
        "base_url": base_url if base_url is not None else f"http://127.0.0.1:{port}",
        "rate_per_ip": 0,
        "rate_per_address": 0,
    }
    table.update(web or {})
    deliver: dict[str, Any] = {"from": ADDRESS}
    deliver.update(delivery or {})
    lines = [
        "[site]",
        'url = "https://news.example.org"',
        'title = "Example News"',
        'description = "World news, weekly."',
        "[digest]",
        "first_window_days = 30",
        "[delivery]",
        *(f"{k} = {_toml(v)}" for k, v in deliver.items()),
        "[web]",
        *(f"{k} = {_list(v) if isinstance(v, list) else _toml(v)}" for k, v in table.items()),
    ]
    if smtp is not None:
        lines.append("[smtp]")
        lines.extend(f"{k} = {_toml(v)}" for k, v in smtp.items())
    (root / "content").mkdir(parents=True, exist_ok=True)
    path = root / "publisher.toml"
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


def _list(values: list[str]) -> str:
    return "[" + ", ".join(_toml(v) for v in values) + "]"


class Served:
    """`publisher serve` as a subprocess; its log goes to a file we can read."""

    def __init__(self, root: Path, port: int, *args: str, command: str = "serve") -> None:
        self.root = root
        self.port = port
        self.base = f"http://127.0.0.1:{port}"
        self.log_path = root / f"{command}.log"
        self._log = open(self.log_path, "wb")  # noqa: SIM115 - closed in stop()
        self.proc = subprocess.Popen(
            [*CLI, "--config", str(root / "publisher.toml"), "-v", command, *args],
            stdout=self._log, stderr=subprocess.STDOUT, env=env(), cwd=root,
        )
        self.wait_ready()

    def wait_ready(self, timeout: float = 20.0) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise AssertionError(f"server exited {self.proc.returncode}:\n{self.log()}")
            try:
                if request(self.base, "GET", "/health", timeout=1).status == 200:
                    return
            except OSError:
                pass
            time.sleep(0.05)
        raise AssertionError(f"server not ready after {timeout} s:\n{self.log()}")

    def log(self) -> str:
        return self.log_path.read_text(encoding="utf-8", errors="replace")

    def get(self, path: str, **kw: Any) -> Reply:
        return request(self.base, "GET", path, **kw)

    def post(self, path: str, body: bytes | str = b"", headers: dict[str, str] | None = None,
             **kw: Any) -> Reply:
        return request(self.base, "POST", path, body, headers if headers is not None else FORM,
                       **kw)

    def stop(self, sig: int = signal.SIGTERM) -> int:
        if self.proc.poll() is None:
            self.proc.send_signal(sig)
        try:
            return self.proc.wait(15)
        finally:
            self._log.close()


def outbox(root: Path) -> list[Path]:
    folder = root / ".publisher" / "outbox"
    return sorted(folder.glob("*.eml")) if folder.is_dir() else []


def confirmations(root: Path) -> list[Path]:
    return [p for p in outbox(root) if p.name.startswith("confirm-")]


def wait_for_files(root: Path, count: int, kind: str = "confirm-", timeout: float = 10.0
                   ) -> list[Path]:
    deadline = time.monotonic() + timeout
    while True:
        found = [p for p in outbox(root) if p.name.startswith(kind)]
        if len(found) >= count or time.monotonic() > deadline:
            return found
        time.sleep(0.02)


def message(path: Path) -> EmailMessage:
    msg = email.message_from_bytes(path.read_bytes(), policy=email.policy.default)
    assert isinstance(msg, EmailMessage)
    return msg


def body_text(msg: EmailMessage, subtype: str = "plain") -> str:
    part = msg.get_body((subtype,))
    assert part is not None
    content: str = part.get_content()
    return content


LINK = re.compile(r"https?://[^\s\"'<>]+")


def links(text: str, path: str) -> list[str]:
    return [u for u in LINK.findall(text) if urlsplit(u).path.endswith(path)]


def local(url: str) -> str:
    """The path and query of a link, to ask our server for it."""
    parts = urlsplit(url)
    return parts.path + (f"?{parts.query}" if parts.query else "")


def snapshot(root: Path) -> tuple[list[tuple[Any, ...]], list[tuple[Any, ...]]]:
    """Every subscriber and send row: equal before and after means nothing changed."""
    path = root / ".publisher" / "state.db"
    if not path.exists():
        return [], []
    conn = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
    try:
        subscribers = conn.execute("SELECT * FROM subscribers ORDER BY id").fetchall()
        sends = conn.execute("SELECT * FROM sends ORDER BY digest_id, subscriber_id").fetchall()
    finally:
        conn.close()
    return subscribers, sends


def status_of(root: Path, address: str) -> str | None:
    subscribers, _ = snapshot(root)
    for row in subscribers:
        if row[1] == address:
            return str(row[4])
    return None


def publish(root: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [*CLI, "--config", str(root / "publisher.toml"), "publish", *args],
        capture_output=True, text=True, env=env(), cwd=root, timeout=120,
    )


__all__ = [
    "CLI", "FORM", "JSON", "SECRET", "Reply", "Served", "body_text", "confirmations", "env",
    "free_port", "links", "local", "message", "outbox", "publish", "request", "snapshot",
    "status_of", "wait_for_files", "write_post", "write_site",
]
