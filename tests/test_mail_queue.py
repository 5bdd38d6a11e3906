"""The list's own mail goes through the store: a confirmation asked for while the
mail server is down is queued, retried, and sent once the server is back, by a
real `publisher serve` or `publisher send`, to a real aiosmtpd; sign-ups whose
link expired are removed with their mail."""

from __future__ import annotations

import re
import sqlite3
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from urllib.parse import urlencode

from publisher.store.store import Store

from .delivery_support import Server, run_cli, smtp_table
from .service_site import Running
from .test_web_app import message_from
from .web_support import (
    Served,
    body_text,
    free_port,
    links,
    local,
    message,
    status_of,
    wait_for_files,
    write_site,
)

# Quick retries for the tests; the defaults wait 1 s, doubling, at most 60 s.
QUICK = {"retry_delay": 0.2, "retry_max_delay": 1.0}


def wait_until(condition: Callable[[], bool], timeout: float = 30.0) -> bool:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            return False
        time.sleep(0.05)
    return True


def queue_rows(root: Path) -> list[tuple[str, str, int, str]]:
    """(address, state, attempts, last error) of every queued message."""
    conn = sqlite3.connect(f"file:{root / '.publisher' / 'state.db'}?mode=ro", uri=True)
    try:
        return conn.execute(
            "SELECT s.email, q.state, q.attempts, q.last_error FROM mail_queue q "
            "JOIN subscribers s ON s.id = q.subscriber_id ORDER BY s.email"
        ).fetchall()
    finally:
        conn.close()


def pending_table(root: Path) -> dict[str, dict[str, str]]:
    """`subscribers list --status pending`, read back: address -> column -> cell."""
    done = run_cli(root, "subscribers", "list", "--status", "pending", check=True)
    lines = done.stdout.splitlines()
    head = re.split(r"\s{2,}", lines[0])
    assert head == ["email", "signed up", "confirmation", "tries", "next try", "link expires",
                    "last error"], lines[0]
    table = {}
    for line in lines[1:]:
        cells = re.split(r"\s{2,}", line, maxsplit=len(head) - 1)
        table[cells[0]] = dict(zip(head, cells, strict=True))
    return table


def smtp_site(root: Path, smtp_port: int, **web: object) -> int:
    port = free_port()
    write_site(root, port, web=dict(web), delivery={"transport": "smtp"},
               smtp=smtp_table(smtp_port, **QUICK))
    return port


def test_confirmations_asked_while_smtp_is_down_go_out_once_it_is_back(tmp_path: Path) -> None:
    smtp_port = free_port()  # nothing listens there yet: the server is down
    server = Served(tmp_path, smtp_site(tmp_path, smtp_port))
    smtp = Server(smtp_port)
    try:
        people = [f"outage{i}@example.com" for i in range(3)]
        for person in people:
            reply = server.post("/subscribe", urlencode({"email": person}))
            assert reply.status == 200 and "Check your inbox" in reply.text
        # Each waits in the store, tried, with the reason.
        assert wait_until(lambda: len(queue_rows(tmp_path)) == 3 and all(
            "cannot connect" in error for _, _, _, error in queue_rows(tmp_path)
        )), queue_rows(tmp_path)
        assert sum(attempts for _, _, attempts, _ in queue_rows(tmp_path)) >= 1
        table = pending_table(tmp_path)
        assert set(table) == set(people)
        for row in table.values():
            assert row["confirmation"] == "waiting", row
            assert "cannot connect" in row["last error"], row
            assert re.fullmatch(r"\d{4}-\d\d-\d\d \d\d:\d\d:\d\d", row["next try"]), row
            assert re.fullmatch(r"\d{4}-\d\d-\d\d \d\d:\d\d:\d\d", row["signed up"]), row
            assert row["link expires"] > row["signed up"]
        # Several tries while it is down, then the server comes back.
        assert wait_until(lambda: sum(r[2] for r in queue_rows(tmp_path)) >= 3)
        smtp.start()
        smtp.wait_for(3, timeout=30)
        assert sorted(r for r, _ in smtp.recorder.messages) == people
        assert wait_until(lambda: all(r[1] == "sent" for r in queue_rows(tmp_path)))
        assert all(row["confirmation"].startswith("sent ")
                   for row in pending_table(tmp_path).values())
        # Each link works.
        for rcpt, data in smtp.recorder.messages:
            (link,) = links(body_text(message_from(data)), "/confirm")
            assert server.post(local(link), "").status == 200
            assert status_of(tmp_path, rcpt) == "active"
        time.sleep(1.5)  # nothing goes out twice
        assert smtp.recorder.count() == 3
    finally:
        assert server.stop() == 0, server.log()
        smtp.stop()
    log = server.log()
    assert "confirmation mail:" in log and "cannot connect" in log
    assert "outage0@example.com" not in log


def test_publisher_send_delivers_waiting_confirmations(tmp_path: Path) -> None:
    smtp_port = free_port()
    server = Served(tmp_path, smtp_site(tmp_path, smtp_port))
    try:
        assert server.post("/subscribe", "email=later%40example.com").status == 200
        assert wait_until(lambda: any("cannot connect" in r[3] for r in queue_rows(tmp_path)))
    finally:
        assert server.stop() == 0, server.log()
    down = run_cli(tmp_path, "send")
    assert down.returncode == 1, down.stdout + down.stderr
    assert "Confirmations: 0 sent, 0 refused, 1 waiting" in down.stdout
    assert "confirmation mail not sent" in down.stderr and "cannot connect" in down.stderr
    smtp = Server(smtp_port).start()
    try:
        done = run_cli(tmp_path, "send")
        assert done.returncode == 0, done.stdout + done.stderr
        assert "Confirmations: 1 sent, 0 refused, 0 waiting." in done.stdout
        assert [r for r, _ in smtp.recorder.messages] == ["later@example.com"]
        again = run_cli(tmp_path, "send")
        assert again.returncode == 0 and "Confirmations" not in again.stdout
        assert smtp.recorder.count() == 1
    finally:
        smtp.stop()
    assert [r[:2] for r in queue_rows(tmp_path)] == [("later@example.com", "sent")]


def test_expired_sign_ups_are_removed_with_their_queued_mail(tmp_path: Path) -> None:
    smtp_port = free_port()
    server = Served(tmp_path, smtp_site(tmp_path, smtp_port, confirm_hours=1))
    run_cli(tmp_path, "subscribers", "add", "kept@example.com", check=True)
    imported = tmp_path / "old.csv"
    imported.write_text("email,status\nimported@example.com,unconfirmed\n")
    run_cli(tmp_path, "subscribers", "import", str(imported), check=True)
    try:
        for person in ("never@example.com", "kept@example.com"):
            assert server.post("/subscribe", urlencode({"email": person})).status == 200
        assert wait_until(lambda: len(queue_rows(tmp_path)) == 2 and all(
            r[3] for r in queue_rows(tmp_path)))
    finally:
        assert server.stop() == 0, server.log()
    # Within the hour the link still works: nothing is removed, all still waits.
    soon = (datetime.now(UTC) + timedelta(minutes=30)).isoformat()
    down = run_cli(tmp_path, "send", "--now", soon)
    assert down.returncode == 1 and "0 sent, 0 refused, 2 waiting." in down.stdout, down.stdout
    assert status_of(tmp_path, "never@example.com") == "pending"
    smtp = Server(smtp_port).start()
    try:
        later = (datetime.now(UTC) + timedelta(hours=1, minutes=1)).isoformat()
        done = run_cli(tmp_path, "send", "--now", later)
        assert done.returncode == 0, done.stdout + done.stderr
        assert "1 expired sign-up(s) removed" in done.stdout
        assert smtp.recorder.count() == 0  # their mail was dropped, not sent late
    finally:
        smtp.stop()
    assert status_of(tmp_path, "never@example.com") is None
    assert status_of(tmp_path, "kept@example.com") == "active"
    # Imported unconfirmed: never sent a link, so nothing expires.
    assert status_of(tmp_path, "imported@example.com") == "pending"
    assert queue_rows(tmp_path) == []
    conn = sqlite3.connect(tmp_path / ".publisher" / "state.db")
    try:
        dump = "\n".join(conn.iterdump())
    finally:
        conn.close()
    assert "never@example.com" not in dump


def test_the_confirmation_carries_nothing_typed_but_the_address(tmp_path: Path) -> None:
    port = free_port()
    write_site(tmp_path, port)
    server = Served(tmp_path, port)
    name = '<a href="http://evil.example/x">Claim your prize</a> http://evil.example/phish'
    try:
        reply = server.post("/subscribe", urlencode({"email": "victim@example.com",
                                                     "name": name}))
        assert reply.status == 200
        (path,) = wait_for_files(tmp_path, 1)
    finally:
        assert server.stop() == 0, server.log()
    raw = path.read_bytes()
    msg = message(path)
    assert msg["To"].addresses[0].display_name == ""
    assert msg["To"].addresses[0].addr_spec == "victim@example.com"
    for text in (body_text(msg), body_text(msg, "html"), raw.decode("utf-8", "replace")):
        assert "evil.example" not in text and "Claim your prize" not in text
    assert links(body_text(msg), "/confirm")


def test_a_sign_up_does_the_same_store_work_whatever_the_address_is(tmp_path: Path) -> None:
    """The time an answer takes must not tell whether the address was on the list,
    or whether a mail was sent: the same statements, each writing, every time."""
    from publisher.app.signups import subscribe

    state = Store.open(tmp_path / "state.db")
    now = datetime(2026, 3, 2, 8, 0, tzinfo=UTC)
    try:
        with state.transaction():
            for address, status in (("pending@example.com", "pending"),
                                    ("active@example.com", "active"),
                                    ("gone@example.com", "unsubscribed"),
                                    ("bounced@example.com", "bounced")):
                subscriber = state.subscribers.sign_up(address, "", now)
                state._conn.execute("UPDATE subscribers SET status = ? WHERE id = ?",
                             (status, subscriber.id))
        work = []
        for address, allowed in (("new@example.com", True), ("pending@example.com", True),
                                 ("active@example.com", True), ("gone@example.com", True),
                                 ("bounced@example.com", True),
                                 ("pending@example.com", False)):
            statements: list[str] = []
            before = state._conn.total_changes
            state._conn.set_trace_callback(statements.append)
            with state.transaction():
                subscribe(state, address, "Name", "https://x.example/confirm?token=t",
                          now.timestamp() + 3600, now, allowed)
            state._conn.set_trace_callback(None)
            # The statements with their values taken out.
            shape = [re.sub(r"'[^']*'|\b\d+(?:\.\d+)?\b", "?", s) for s in statements]
            work.append((shape, state._conn.total_changes - before))
        assert all(w == work[0] for w in work), work
        assert work[0][1] == 2  # both statements wrote
        rows = dict(state._conn.execute("SELECT email, status FROM subscribers").fetchall())
        assert rows["active@example.com"] == "active" and rows["gone@example.com"] == (
            "unsubscribed") and rows["new@example.com"] == "pending"
    finally:
        state.close()


def test_publisher_run_without_the_web_pages_sends_what_is_queued(tmp_path: Path) -> None:
    smtp_port = free_port()
    port = smtp_site(tmp_path, smtp_port)
    server = Served(tmp_path, port)
    try:
        assert server.post("/subscribe", "email=queued%40example.com").status == 200
        assert wait_until(lambda: any(r[3] for r in queue_rows(tmp_path)))
    finally:
        assert server.stop() == 0, server.log()
    # The same site, its pages off: `publisher run` alone.
    text = (tmp_path / "publisher.toml").read_text()
    text = re.sub(r'base_url = "[^"]*"\n', "", text)
    text += '[schedule]\npoll_seconds = 1\ndigest = ""\n'
    (tmp_path / "publisher.toml").write_text(text)
    smtp = Server(smtp_port).start()
    service = Running(tmp_path / "publisher.toml")
    try:
        smtp.wait_for(1, timeout=30)
        assert [r for r, _ in smtp.recorder.messages] == ["queued@example.com"]
    finally:
        assert service.stop(timeout=15) == 0, service.log()
        smtp.stop()
    assert "confirmation sent to q•••@example.com" in service.log()


def test_the_mail_says_how_long_the_link_still_works() -> None:
    from publisher.mail.outgoing import hours_left

    queued = 1_000_000.0
    expires = queued + 48 * 3600
    assert hours_left(expires, queued + 0.5) == 48  # sent at once: the page's 48 hours
    assert hours_left(expires, queued + 10 * 60) == 47  # after a 10-minute outage
    assert hours_left(expires, expires - 30) == 1  # never less than an hour
