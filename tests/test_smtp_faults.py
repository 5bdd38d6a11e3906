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
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from aiosmtpd.controller import Controller

from publisher.config.settings import Config
from publisher.errors import DeliveryError
from publisher.mail.delivery import send
from publisher.mail.transports import MessageRejected
from publisher.store.store import Store

from .delivery_support import (
    NOW,
    SECRET,
    add_subscribers,
    free_port,
    ledger_rows,
    make_site,
    run_cli,
    smtp_table,
    write_post,
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


def site(tmp_path: Path, port: int, max_failures: int = 1, **smtp: Any) -> Config:
    table = smtp_table(port, **smtp)
    config = make_site(tmp_path, {"transport": "smtp", "max_failures": max_failures}, table)
    add_subscribers(config, READERS)
    return config


def statuses(config: Config) -> dict[str, str]:
    return {email: row[0] for (_d, email), row in ledger_rows(config).items()}


def failures(config: Config) -> dict[str, tuple[str, int]]:
    state = Store.open(config.state_file)
    try:
        rows = state._conn.execute("SELECT email, status, failures FROM subscribers").fetchall()
    finally:
        state.close()
    return {r[0]: (r[1], r[2]) for r in rows}


def publish(tmp_path: Path, now: datetime = NOW) -> Any:
    return run_cli(tmp_path, "publish", "--now", now.isoformat())


def bounce_events(config: Config) -> list[tuple[str, int, str]]:
    """(email, digest id, kind) of every recorded bounce event."""
    state = Store.open(config.state_file)
    try:
        rows = state._conn.execute(
            "SELECT u.email, e.digest_id, e.kind FROM bounce_events e "
            "JOIN subscribers u ON u.id = e.subscriber_id ORDER BY u.email"
        ).fetchall()
    finally:
        state.close()
    return [(r[0], r[1], r[2]) for r in rows]


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


# "No such mailbox" and "bad address" (RFC 3463 X.1.x, X.2.1 disabled): the
# same code that bounces at once in a DSN bounces at once when the server says
# it in the session. Gmail refuses unknown users at RCPT.
NO_SUCH_MAILBOX = [
    "550 5.1.1 <bob@example.org>: Recipient address rejected: User unknown",
    "550 5.1.10 RESOLVER.ADR.RecipientNotFound; Recipient not found by SMTP address lookup",
    "550 5.2.1 The email account that you tried to reach is disabled",
]


@pytest.mark.parametrize("code", NO_SUCH_MAILBOX)
@pytest.mark.parametrize("where", ["rcpt", "data"])
def test_no_such_mailbox_bounces_at_once_wherever_it_is_said(
    tmp_path: Path, faulty: tuple[Faulty, int], code: str, where: str
) -> None:
    handler, port = faulty
    config = site(tmp_path, port, max_failures=3)
    getattr(handler, where)["bob@example.org"] = [code]
    proc = publish(tmp_path)
    assert proc.returncode == 0, proc.stderr
    assert "2 sent, 1 failed, 0 skipped; 1 subscriber(s) now marked bounced" in proc.stdout
    assert statuses(config)["bob@example.org"] == "failed"
    assert failures(config)["bob@example.org"][0] == "bounced"
    assert failures(config)["ann@example.org"] == ("active", 0)
    # Recorded once, as the hard bounce a DSN would give: a DSN about the same
    # message that arrives later changes nothing more.
    assert bounce_events(config) == [("bob@example.org", 1, "hard")]
    state = Store.open(config.state_file)
    try:
        with state.transaction():
            bob = state._conn.execute(
                "SELECT id FROM subscribers WHERE email = 'bob@example.org'"
            ).fetchone()[0]
            again = state.bounces.apply(bob, 1, "hard", "5.1.1 (DSN)", 3, NOW)
    finally:
        state.close()
    assert again == "repeated"
    # The next digest does not go to bob at all.
    write_post(tmp_path, "later", "Later", "2026-03-03T09:00:00")
    proc = publish(tmp_path, NOW + timedelta(days=2))
    assert proc.returncode == 0, proc.stderr
    assert "2 sent, 0 failed" in proc.stdout
    assert handler.received == Counter({"ann@example.org": 2, "cy@example.org": 2})


@pytest.mark.parametrize(
    ("code", "where"),
    [("552 5.2.2 Mailbox full", "rcpt"), ("552 5.2.2 Mailbox full", "data"),
     ("550 No such user", "rcpt"), ("550 5.0.0 Refused", "rcpt")],
)
def test_mailbox_full_and_vague_refusals_count_one_failure(
    tmp_path: Path, faulty: tuple[Faulty, int], code: str, where: str
) -> None:
    handler, port = faulty
    config = site(tmp_path, port, max_failures=3)
    getattr(handler, where)["bob@example.org"] = [code]
    proc = publish(tmp_path)
    assert proc.returncode == 0, proc.stderr
    assert "2 sent, 1 failed" in proc.stdout and "marked bounced" not in proc.stdout
    assert failures(config)["bob@example.org"] == ("active", 1)
    assert bounce_events(config) == []


# Refusals aimed at the whole server, not at a recipient (RFC 3463 X.3.x mail
# system, X.4.x network, X.5.x protocol, X.7.x policy; 530 "authentication
# required", RFC 4954), given at RCPT to everyone: a relay set up without its
# login, or one that does not relay for this host.
SERVER_WIDE = [
    ("554 5.7.1 <{to}>: Relay access denied", "the relay does not accept mail from this host"),
    ("530 5.7.0 Authentication required", "the relay needs a login: set [smtp] username"),
    ("530 Authentication required", "the relay needs a login: set [smtp] username"),
    ("550 5.7.1 Client host [127.0.0.1] blocked using zen.spamhaus.org", "policy"),
    ("554 5.3.2 System not accepting network messages", "mail system"),
    ("550 5.4.4 Unable to route", "route"),
    ("503 5.5.1 Error: need MAIL command", "protocol"),
]


class EveryRecipient(Faulty):
    """Answers `reply` to every RCPT while `reply` is set."""

    reply = ""

    async def handle_RCPT(self, server: Any, session: Any, envelope: Any, address: str,
                          options: list[str]) -> str:
        if self.reply:
            return self.reply.format(to=address)
        return await super().handle_RCPT(server, session, envelope, address, options)


@pytest.fixture
def everyone() -> Iterator[tuple[EveryRecipient, int]]:
    handler = EveryRecipient()
    port = free_port()
    controller = Controller(handler, hostname="127.0.0.1", port=port, ready_timeout=10)
    controller.start()
    yield handler, port
    controller.stop()


@pytest.mark.parametrize(("code", "fix"), SERVER_WIDE)
def test_server_wide_refusal_at_rcpt_stops_the_send_and_blames_nobody(
    tmp_path: Path, everyone: tuple[EveryRecipient, int], code: str, fix: str
) -> None:
    handler, port = everyone
    config = site(tmp_path, port, max_failures=1)
    handler.reply = code
    # Two digests issued while the relay refuses, then a `send`.
    first = publish(tmp_path)
    write_post(tmp_path, "later", "Later", "2026-03-03T09:00:00")
    second = publish(tmp_path, NOW + timedelta(days=2))
    proc = run_cli(tmp_path, "send", "--now", (NOW + timedelta(days=2)).isoformat())
    for run in (first, second, proc):
        assert run.returncode == 1, run.stdout
        assert "Traceback" not in run.stderr
        error, hint = run.stderr.splitlines()
        assert error.startswith("error: ")
        assert any(code.format(to=reader) in error for reader in READERS)
        assert "not about the recipient" in error
        assert hint.startswith("hint: ") and fix in hint
        assert "nobody is counted as bounced" in hint
    assert handler.received == Counter()
    rows = ledger_rows(config)
    assert len(rows) == 6 and {row[0] for row in rows.values()} == {"pending"}
    assert set(failures(config).values()) == {("active", 0)}
    assert bounce_events(config) == []
    # The relay fixed: the next send mails each reader each digest, once.
    handler.reply = ""
    assert send(config, NOW, environ={"PUBLISHER_SECRET": SECRET}).sent == 6
    assert handler.received == Counter({r: 2 for r in READERS})


def test_server_wide_refusal_of_the_only_recipient_still_stops(
    tmp_path: Path, everyone: tuple[EveryRecipient, int]
) -> None:
    handler, port = everyone
    config = make_site(tmp_path, {"transport": "smtp", "max_failures": 1}, smtp_table(port))
    add_subscribers(config, ["ann@example.org"])
    handler.reply = "530 5.7.0 Authentication required"
    proc = publish(tmp_path)
    assert proc.returncode == 1 and "Traceback" not in proc.stderr
    assert "530 5.7.0 Authentication required" in proc.stderr
    assert statuses(config) == {"ann@example.org": "pending"}
    assert failures(config) == {"ann@example.org": ("active", 0)}


def test_relay_refusing_part_way_keeps_what_was_sent(
    tmp_path: Path, everyone: tuple[EveryRecipient, int]
) -> None:
    handler, port = everyone
    config = site(tmp_path, port)
    proc = publish(tmp_path)  # everyone gets the first digest
    assert proc.returncode == 0, proc.stderr
    write_post(tmp_path, "later", "Later", "2026-03-03T09:00:00")
    handler.rcpt["bob@example.org"] = ["554 5.7.1 Relay access denied"] * 9
    handler.rcpt["cy@example.org"] = ["554 5.7.1 Relay access denied"] * 9
    proc = publish(tmp_path, NOW + timedelta(days=2))
    assert proc.returncode == 1 and "Traceback" not in proc.stderr
    assert "(1 sent before it stopped, 2 still pending)" in proc.stderr
    assert set(failures(config).values()) == {("active", 0)}
    handler.rcpt.clear()
    assert send(config, NOW, environ={"PUBLISHER_SECRET": SECRET}).sent == 2
    assert handler.received == Counter({r: 2 for r in READERS})


def test_policy_refusal_of_one_recipient_holds_that_one_only(
    tmp_path: Path, faulty: tuple[Faulty, int]
) -> None:
    """A 5.7.1 at RCPT for one address, when the next is taken, was about that
    address after all (a recipient's own policy): the send goes on, and that
    row waits, blamed on nobody. Stopping there would stall every send at it."""
    handler, port = faulty
    config = site(tmp_path, port, max_failures=1)
    refusal = "550 5.7.1 Recipient address rejected: Access denied"
    handler.rcpt["bob@example.org"] = [refusal] * 2
    proc = publish(tmp_path)
    assert proc.returncode == 0, proc.stderr
    assert "2 sent, 0 failed, 0 skipped, 1 held back" in proc.stdout
    assert refusal in proc.stdout
    assert statuses(config)["bob@example.org"] == "pending"
    assert set(failures(config).values()) == {("active", 0)}
    # Alone, the same refusal cannot be told from the relay's: the send fails
    # with it, and still blames nobody.
    proc = run_cli(tmp_path, "send", "--now", NOW.isoformat())
    assert proc.returncode == 1 and refusal in proc.stderr
    assert set(failures(config).values()) == {("active", 0)}
    assert send(config, NOW, environ={"PUBLISHER_SECRET": SECRET}).sent == 1
    assert handler.received == Counter({r: 1 for r in READERS})


@pytest.mark.parametrize(
    "code",
    ["550 5.7.1 Message rejected as spam", "552 5.3.4 Message too big for system",
     "554 Transaction failed", "550 Content rejected", "554 5.4.6 Routing loop detected",
     "554 5.5.0 Bad protocol", "530 5.7.0 Authentication required"],
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
    if "Authentication required" in code:
        assert "the relay needs a login: set [smtp] username" in proc.stderr
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
