"""WebSub: the hub hears of each changed feed once, of unchanged ones never, and
a hub that is down or slow costs a warning and bounded time, never the publish."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs

import pytest

from publisher.app.pipeline import publish
from publisher.feeds import websub

from .conftest import NOW, SiteDir


@dataclass
class Hub:
    """A WebSub hub on 127.0.0.1 that records every publish ping."""

    server: ThreadingHTTPServer
    pings: list[dict[str, list[str]]] = field(default_factory=list)
    # Status codes to answer with, in turn; 204 once they run out.
    answers: list[int] = field(default_factory=list)
    delay: float = 0.0

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server.server_address[1]}/hub"

    def topics(self) -> list[str]:
        return [url for ping in self.pings for url in ping.get("hub.url", [])]


@pytest.fixture
def hub() -> Iterator[Hub]:
    state: dict[str, Hub] = {}

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:  # noqa: N802 (http.server's name)
            record = state["hub"]
            length = int(self.headers.get("Content-Length", "0"))
            body = self.rfile.read(length).decode("ascii")
            if record.delay:
                time.sleep(record.delay)
            status = record.answers.pop(0) if record.answers else 204
            if status == 204:
                record.pings.append(parse_qs(body))
                assert self.headers["Content-Type"] == "application/x-www-form-urlencoded"
            self.send_response(status)
            self.send_header("Content-Length", "0")
            self.end_headers()

        def log_message(self, format: str, *args: object) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    server.daemon_threads = True
    state["hub"] = Hub(server)
    # A short poll: shutdown() waits for the loop's next look (0.5 s by default).
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.02},
                              daemon=True)
    thread.start()
    try:
        yield state["hub"]
    finally:
        server.shutdown()
        server.server_close()


def closed_port() -> int:
    """A port on 127.0.0.1 that nothing listens on: connections are refused."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def hub_site(site: SiteDir, hub_url: str, timeout: float = 2.0) -> None:
    site.write_config(
        f'[feeds]\nhub = "{hub_url}"\nhub_timeout = {timeout}\ncategories = "all"\n'
    )
    site.post("2026-01-02-a.md", "title: A\ncategories: [News]")
    site.post("2026-01-03-b.md", "title: B\ncategories: [Sport]")
    past = time.time() - 60
    for path in site.posts.iterdir():
        os.utime(path, (past, past))


BASE = "https://example.org/blog/"


def test_changed_feeds_are_pinged_once_unchanged_never(site: SiteDir, hub: Hub) -> None:
    hub_site(site, hub.url)
    config = site.config()
    first = publish(config, NOW)
    feeds = [f.url for f in first.feeds if f.kind != "page"]
    assert len(feeds) == 9  # 3 main + 2 categories, in 3 formats
    assert sorted(hub.topics()) == sorted(feeds)  # each once, one per request
    assert all(ping["hub.mode"] == ["publish"] and len(ping["hub.url"]) == 1
               for ping in hub.pings)
    assert first.websub is not None and first.websub.warnings == ()
    assert first.websub.pinged == tuple(feeds)

    hub.pings.clear()
    (site.root / ".publisher" / "last-run.json").unlink()  # a full run, nothing changed
    again = publish(config, NOW)
    assert not again.unchanged and again.websub is None
    assert publish(config, NOW).unchanged
    assert hub.pings == []

    site.post("2026-01-02-a.md", "title: A, edited\ncategories: [News]")
    os.utime(site.posts / "2026-01-02-a.md", (time.time() - 30,) * 2)
    edited = publish(config, NOW)
    expected = [f.url for f in edited.feeds if f.written and f.kind != "page"]
    assert sorted(hub.topics()) == sorted(expected)
    assert sorted(expected) == sorted(
        BASE + name for name in ("feed.xml", "rss.xml", "feed.json", "feed/news.xml",
                                 "feed/news.rss.xml", "feed/news.json")
    )


def test_a_server_error_is_retried(hub: Hub) -> None:
    hub.answers = [503, 500]
    naps: list[float] = []
    report = websub.ping(hub.url, [BASE + "feed.xml"], timeout=2.0, sleep=naps.append)
    assert report.pinged == (BASE + "feed.xml",) and report.warnings == ()
    assert naps == [0.5, 1.0]  # backing off
    assert hub.topics() == [BASE + "feed.xml"]


def test_a_refused_feed_is_a_warning_and_the_rest_go_on(hub: Hub) -> None:
    hub.answers = [400]
    report = websub.ping(hub.url, [BASE + "a.xml", BASE + "b.xml"], sleep=lambda _: None)
    assert report.pinged == (BASE + "b.xml",) and report.failed == (BASE + "a.xml",)
    assert report.warnings == (f"WebSub hub {hub.url} refused {BASE}a.xml: HTTP 400 Bad Request",)


def test_a_hub_that_is_down_is_a_warning_in_bounded_time(site: SiteDir) -> None:
    down = f"http://127.0.0.1:{closed_port()}/hub"
    hub_site(site, down, timeout=1.0)
    started = time.monotonic()
    done = subprocess.run(
        [sys.executable, "-c", "from publisher.cli import main; main()",
         "publish", "--now", NOW.isoformat()],
        cwd=site.root, capture_output=True, text=True, timeout=60,
    )
    elapsed = time.monotonic() - started
    assert done.returncode == 0, done.stderr
    assert (site.out / "feed.xml").exists()
    assert f"warning: WebSub hub {down} did not take the update (" in done.stderr
    assert "9 of 9 changed feeds were not announced" in done.stderr
    assert f"WebSub: 0 of 9 changed feeds announced to {down}." in done.stdout
    # Three tries of the first feed with back-off (0.5 s + 1 s), then it stops.
    assert elapsed < 15


def test_a_slow_hub_times_out(hub: Hub) -> None:
    hub.delay = 1.0
    started = time.monotonic()
    report = websub.ping(hub.url, [BASE + "a.xml", BASE + "b.xml"], timeout=0.2,
                         sleep=lambda _: None)
    assert time.monotonic() - started < 5
    assert report.pinged == () and report.failed == (BASE + "a.xml", BASE + "b.xml")
    (warning,) = report.warnings
    assert "(timed out, 3 tries); 2 of 2 changed feeds were not announced" in warning


def test_the_notice_stops_after_its_time_budget(hub: Hub, monkeypatch) -> None:
    monkeypatch.setattr(websub, "BUDGET_TIMEOUTS", -1)  # a budget already spent
    report = websub.ping(hub.url, [BASE + "a.xml"], timeout=1.0)
    assert report.pinged == () and hub.pings == []
    assert report.warnings == (
        f"WebSub hub {hub.url} took too long: 1 of 1 changed feeds were not announced "
        "(readers still get them when they poll)",
    )
