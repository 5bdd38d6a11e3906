"""Every way an SMTP server says no, against real aiosmtpd servers.

421, 451, 452, 550 and 552 at RCPT and at DATA, a connection dropped in the
middle of the data, a server that hangs after the final dot, a server without
STARTTLS, and one with a certificate nobody signed. For each: who gets how
many copies, what the ledger says, what the user reads; never a traceback,
never a downgrade to plain text.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from aiosmtpd.controller import Controller

from publisher.config import Config
from publisher.errors import DeliveryError
from publisher.mail.delivery import send
from publisher.mail.transports import MessageRejected
from publisher.store.state import open_state

from .delivery_support import (
    NOW,
    SECRET,
    add_subscribers,
    free_port,
    ledger_rows,
    make_site,
    run_cli,
    smtp_table,
)
from .smtp_support import Dropping, Faulty, tls_context

READERS = ["ann@example.org", "bob@example.org", "cy@example.org"]


@pytest.fixture(autouse=True)
def secret(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PUBLISHER_SECRET", SECRET)
    monkeypatch.delenv("PUBLISHER_SMTP_PASSWORD", raising=False)


@pytest.fixture
def faulty() -> Iterator[tuple[Faulty, int]]:
    handler = Faulty()
    port = free_port()
    controller = Controller(handler, hostname="127.0.0.1", port=port, ready_timeout=10)
    controller.start()
    yield handler, port
    controller.stop()


def site(tmp_path: Path, port: int, **smtp: Any) -> Config:
    table = smtp_table(port, **smtp)
    config = make_site(tmp_path, {"transport": "smtp", "max_failures": 1}, table)
    add_subscribers(config, READERS)
    return config


def statuses(config: Config) -> dict[str, str]:
    return {email: row[0] for (_d, email), row in ledger_rows(config).items()}


def failures(config: Config) -> dict[str, tuple[str, int]]:
    state = open_state(config.state_file)
    try:
        rows = state.conn.execute("SELECT email, status, failures FROM subscribers").fetchall()
    finally:
        state.close()
    return {r[0]: (r[1], r[2]) for r in rows}


def publish(tmp_path: Path) -> Any:
    return run_cli(tmp_path, "publish", "--now", NOW.isoformat())


@pytest.mark.parametrize("code", ["421 4.3.2 Shutting down", "451 4.7.1 Greylisted",
                                  "452 4.2.2 Over quota for now"])
@pytest.mark.parametrize("where", ["rcpt", "data"])
def test_temporary_refusals_are_retried_and_delivered_once(
    tmp_path: Path, faulty: tuple[Faulty, int], code: str, where: str
) -> None:
    handler, port = faulty
    config = site(tmp_path, port)
    getattr(handler, where)["bob@example.org"] = [code, code]
    proc = publish(tmp_path)
    assert proc.returncode == 0, proc.stderr
    assert handler.received == Counter({r: 1 for r in READERS})
    assert set(statuses(config).values()) == {"sent"}


def test_temporary_refusals_past_the_retries_stay_pending(
    tmp_path: Path, faulty: tuple[Faulty, int]
) -> None:
    handler, port = faulty
    config = site(tmp_path, port, retries=1)
    handler.rcpt["bob@example.org"] = ["452 4.2.2 Over quota"] * 2
    proc = publish(tmp_path)
    assert proc.returncode == 0, proc.stderr
    assert "1 deferred" in proc.stdout
    assert statuses(config)["bob@example.org"] == "pending"
    assert failures(config)["bob@example.org"] == ("active", 0)  # a deferral is no failure
    assert send(config, NOW, environ={"PUBLISHER_SECRET": SECRET}).sent == 1
    assert handler.received == Counter({r: 1 for r in READERS})


@pytest.mark.parametrize("code", ["550 5.1.1 No such user", "552 5.2.2 Mailbox full"])
@pytest.mark.parametrize("where", ["rcpt", "data"])
def test_permanent_refusal_of_a_recipient_fails_that_recipient_only(
    tmp_path: Path, faulty: tuple[Faulty, int], code: str, where: str
) -> None:
    handler, port = faulty
    config = site(tmp_path, port)
    getattr(handler, where)["bob@example.org"] = [code]
    proc = publish(tmp_path)
    assert proc.returncode == 0, proc.stderr
    assert "2 sent, 1 failed" in proc.stdout
    assert handler.received == Counter({"ann@example.org": 1, "cy@example.org": 1})
    assert statuses(config)["bob@example.org"] == "failed"
    assert failures(config)["bob@example.org"] == ("bounced", 1)  # max_failures = 1


@pytest.mark.parametrize(
    "code",
    ["550 5.7.1 Message rejected as spam", "552 5.3.4 Message too big for system",
     "554 Transaction failed", "550 Content rejected"],
)
def test_refusal_of_the_message_at_data_stops_and_counts_against_nobody(
    tmp_path: Path, faulty: tuple[Faulty, int], code: str
) -> None:
    handler, port = faulty
    config = site(tmp_path, port)
    for reader in READERS:
        handler.data[reader] = [code]
    proc = publish(tmp_path)
    assert proc.returncode == 1
    assert "Traceback" not in proc.stderr
    assert f"the server refused the message itself, after its data: {code}" in proc.stderr
    assert "nobody is counted as bounced" in proc.stderr
    assert handler.received == Counter()
    assert set(statuses(config).values()) == {"pending"}
    assert {f for f in failures(config).values()} == {("active", 0)}
    # Fixed on the server side: the next send delivers each reader once.
    for reader in READERS:
        handler.data[reader] = []
    assert send(config, NOW, environ={"PUBLISHER_SECRET": SECRET}).sent == 3
    assert handler.received == Counter({r: 1 for r in READERS})


def test_message_rejected_is_a_delivery_error() -> None:
    assert issubclass(MessageRejected, DeliveryError)


def test_connection_dropped_mid_data_is_retried(tmp_path: Path) -> None:
    handler = Faulty()
    port = free_port()
    dropping = Dropping(handler, hostname="127.0.0.1", port=port, ready_timeout=10)
    dropping.start()
    try:
        config = site(tmp_path, port, retries=1)
        proc = publish(tmp_path)
    finally:
        dropping.stop()
    # Every attempt dropped in the data: never delivered, so nothing is
    # recorded, and the next run sends everyone their one copy.
    assert proc.returncode == 1
    assert "Traceback" not in proc.stderr
    assert "connection lost" in proc.stderr and "gave up after 2 tries" in proc.stderr
    assert set(statuses(config).values()) == {"pending"}
    assert handler.received == Counter()
    controller = Controller(handler, hostname="127.0.0.1", port=port, ready_timeout=10)
    controller.start()
    try:
        assert send(config, NOW, environ={"PUBLISHER_SECRET": SECRET}).sent == 3
    finally:
        controller.stop()
    assert handler.received == Counter({r: 1 for r in READERS})


def test_hang_after_the_dot_is_retried_once_and_reported(
    tmp_path: Path, faulty: tuple[Faulty, int]
) -> None:
    handler, port = faulty
    config = site(tmp_path, port, timeout=0.5, retries=5)
    handler.hang_once = {"bob@example.org"}
    proc = publish(tmp_path)
    assert proc.returncode == 0, proc.stderr
    # The first copy arrived while the server said nothing; the retry got 250.
    assert handler.received == Counter({"ann@example.org": 1, "bob@example.org": 2,
                                        "cy@example.org": 1})
    assert "3 sent, 0 failed, 0 skipped" in proc.stdout
    assert "1 got no reply from the server after the message was sent" in proc.stdout
    assert "a duplicate is possible" in proc.stdout
    assert set(statuses(config).values()) == {"sent"}


def test_no_reply_twice_is_counted_as_sent_and_never_sent_a_third_time(
    tmp_path: Path, faulty: tuple[Faulty, int]
) -> None:
    handler, port = faulty
    config = site(tmp_path, port, timeout=0.5, retries=5)
    handler.hang = {"bob@example.org"}
    proc = publish(tmp_path)
    assert proc.returncode == 0, proc.stderr
    # Sent, then once more at most: two copies, not retries + 1 = 6.
    assert handler.received == Counter({"ann@example.org": 1, "bob@example.org": 2,
                                        "cy@example.org": 1})
    assert "1 of them got no reply the second time either: counted as sent" in proc.stdout
    rows = {email: row for (_d, email), row in ledger_rows(config).items()}
    assert rows["bob@example.org"][0] == "sent"
    assert rows["bob@example.org"][2].startswith("unconfirmed: ")
    assert send(config, NOW, environ={"PUBLISHER_SECRET": SECRET}).digests == ()
    assert handler.received["bob@example.org"] == 2


def test_a_server_that_never_answers_after_the_dot_stops_the_run(
    tmp_path: Path, faulty: tuple[Faulty, int]
) -> None:
    handler, port = faulty
    config = site(tmp_path, port, timeout=0.5, retries=5)
    handler.hang = set(READERS)
    proc = publish(tmp_path)
    assert proc.returncode == 1 and "Traceback" not in proc.stderr
    assert "two messages in a row got no reply after their data" in proc.stderr
    assert handler.received == Counter({"ann@example.org": 2, "bob@example.org": 2})
    assert statuses(config) == {"ann@example.org": "sent", "bob@example.org": "sent",
                                "cy@example.org": "pending"}


def starttls_server(handler: Faulty, port: int, offer: bool) -> Controller:
    kwargs: dict[str, Any] = {"tls_context": tls_context()} if offer else {}
    return Controller(handler, hostname="127.0.0.1", port=port, ready_timeout=10, **kwargs)


@pytest.mark.parametrize("offer", [False, True], ids=["no-starttls", "bad-certificate"])
def test_starttls_is_never_downgraded(tmp_path: Path, offer: bool) -> None:
    handler = Faulty()
    port = free_port()
    server = starttls_server(handler, port, offer)
    server.start()
    try:
        config = site(tmp_path, port, security="starttls")
        proc = publish(tmp_path)
    finally:
        server.stop()
    assert proc.returncode == 1 and "Traceback" not in proc.stderr
    assert handler.mail_from == 0  # not one command after the refusal
    expected = "certificate verify failed" if offer else "STARTTLS extension not supported"
    assert expected in proc.stderr
    assert set(statuses(config).values()) == {"pending"}


def test_implicit_tls_with_a_bad_certificate(tmp_path: Path) -> None:
    handler = Faulty()
    port = free_port()
    server = Controller(handler, hostname="127.0.0.1", port=port, ready_timeout=10,
                        ssl_context=tls_context())
    server.start()
    try:
        config = site(tmp_path, port, security="ssl")
        proc = publish(tmp_path)
    finally:
        server.stop()
    assert proc.returncode == 1 and "Traceback" not in proc.stderr
    assert "certificate verify failed" in proc.stderr
    assert handler.mail_from == 0
    assert set(statuses(config).values()) == {"pending"}
