"""Delivery against a real SMTP server (aiosmtpd on 127.0.0.1) and the outbox."""

from __future__ import annotations

import asyncio
import fcntl
import os
import pty
import signal
import subprocess
import threading
from collections.abc import Callable, Iterator
from contextlib import suppress
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest

from publisher.app import pipeline
from publisher.app.site import load
from publisher.config import settings as config_mod
from publisher.config.settings import Config
from publisher.errors import (
    AuthenticationError,
    ConfigError,
    DeliveryError,
    LockBusy,
    SecretMissing,
)
from publisher.lock import send_lock
from publisher.mail.delivery import deliver_pending, send
from publisher.store.store import Store

from .delivery_support import (
    CLI,
    NOW,
    SECRET,
    Authenticator,
    Recorder,
    Server,
    add_subscribers,
    env,
    ledger_rows,
    make_site,
    parse,
    run_cli,
    smtp_table,
    write_config,
    write_post,
)


@pytest.fixture
def server() -> Iterator[Server]:
    srv = Server().start()
    yield srv
    srv.stop()


@pytest.fixture(autouse=True)
def secret(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PUBLISHER_SECRET", SECRET)
    monkeypatch.delenv("PUBLISHER_SMTP_PASSWORD", raising=False)


def issue(config: Config) -> int:
    """Issue the next digest without delivering it; returns its id."""
    site = load(config, NOW)
    state = Store.open(config.state_file)
    try:
        result = pipeline.run_digest(config, site, state, NOW)
    finally:
        state.close()
    assert result.record is not None
    return result.record.id


def addresses(n: int, domain: str = "example.com") -> list[str]:
    return [f"reader{i}@{domain}" for i in range(n)]


def smtp_site(tmp_path: Path, server: Server, **smtp: object) -> Config:
    return make_site(tmp_path, {"transport": "smtp"}, smtp_table(server.port, **smtp))


def test_publish_delivers_once_and_rerun_sends_nothing(tmp_path: Path, server: Server) -> None:
    config = smtp_site(tmp_path, server)
    people = addresses(5)
    add_subscribers(config, people)
    result = pipeline.publish(config, NOW)
    assert result.delivery is not None
    assert (result.delivery.sent, result.delivery.failed, result.delivery.skipped) == (5, 0, 0)
    assert sorted(server.recorder.per_recipient().items()) == sorted((p, 1) for p in people)
    for rcpt, data in server.recorder.messages:
        assert parse(data)["To"].addresses[0].addr_spec == rcpt
    again = pipeline.publish(config, NOW + timedelta(hours=1))
    assert again.delivery is not None and again.delivery.digests == ()
    assert send(config, NOW + timedelta(hours=2)).sent == 0
    assert server.recorder.count() == 5
    assert {v[0] for v in ledger_rows(config).values()} == {"sent"}


def test_late_subscriber_gets_only_later_digests(tmp_path: Path, server: Server) -> None:
    config = smtp_site(tmp_path, server)
    add_subscribers(config, ["early@example.com"])
    first = issue(config)
    add_subscribers(config, ["late@example.com"])
    send(config, NOW)
    assert server.recorder.per_recipient() == {"early@example.com": 1}
    write_post(tmp_path, "later", "A later post", "2026-03-03T09:00:00")
    later = NOW + timedelta(days=2)
    result = pipeline.publish(config, later)
    assert result.digest is not None and result.digest.record is not None
    assert result.digest.record.id != first
    assert server.recorder.per_recipient() == {"early@example.com": 2, "late@example.com": 1}


def test_451_is_retried_then_delivered(tmp_path: Path, server: Server) -> None:
    config = smtp_site(tmp_path, server, retries=3)
    people = addresses(4)
    server.recorder.behaviour.temporary = {people[1]: 2, people[3]: 1}
    add_subscribers(config, people)
    issue(config)
    summary = send(config, NOW)
    assert (summary.sent, summary.failed, summary.deferred) == (4, 0, 0)
    assert server.recorder.per_recipient() == {p: 1 for p in people}
    assert server.recorder.rcpt_calls[people[1]] == 3
    rows = ledger_rows(config)
    assert rows[(1, people[1])][:2] == ("sent", 1)


def test_451_past_retries_stays_pending_for_next_run(tmp_path: Path, server: Server) -> None:
    config = smtp_site(tmp_path, server, retries=1)
    people = addresses(3)
    server.recorder.behaviour.temporary = {people[0]: 5}
    add_subscribers(config, people)
    issue(config)
    summary = send(config, NOW)
    assert (summary.sent, summary.deferred) == (2, 1)
    status, attempts, error = ledger_rows(config)[(1, people[0])]
    assert (status, attempts) == ("pending", 1) and "451" in error
    server.recorder.behaviour.temporary = {}
    assert send(config, NOW).sent == 1
    assert server.recorder.per_recipient() == {p: 1 for p in people}


def test_550_marks_failed_others_delivered_then_bounced(tmp_path: Path, server: Server) -> None:
    config = make_site(
        tmp_path, {"transport": "smtp", "max_failures": 2}, smtp_table(server.port)
    )
    people = addresses(4)
    server.recorder.behaviour.permanent = {people[2]}
    # A refusal that counts one failure (5.1.x, no such user, bounces at once).
    server.recorder.behaviour.refusal = "550 5.2.0 Mailbox unavailable"
    add_subscribers(config, people)
    issue(config)
    summary = send(config, NOW)
    assert (summary.sent, summary.failed, summary.bounced) == (3, 1, 0)
    assert server.recorder.rcpt_calls[people[2]] == 1  # a 5xx is not retried
    assert server.recorder.per_recipient() == {p: 1 for p in people if p != people[2]}
    status, _, error = ledger_rows(config)[(1, people[2])]
    assert status == "failed" and "550" in error
    # Second refusal in a row: the address is now bounced and gets no third digest.
    write_post(tmp_path, "second", "Second", "2026-03-03T09:00:00")
    second = pipeline.publish(config, NOW + timedelta(days=2)).delivery
    assert second is not None and (second.failed, second.bounced) == (1, 1)
    state = Store.open(config.state_file)
    try:
        status_now = state._conn.execute(
            "SELECT status FROM subscribers WHERE email = ?", (people[2],)
        ).fetchone()[0]
    finally:
        state.close()
    assert status_now == "bounced"
    write_post(tmp_path, "third", "Third", "2026-03-05T09:00:00")
    pipeline.publish(config, NOW + timedelta(days=4))
    assert (3, people[2]) not in ledger_rows(config)
    assert server.recorder.rcpt_calls[people[2]] == 2


def test_server_down_at_start_then_next_run_delivers(tmp_path: Path) -> None:
    server = Server()  # not started: nothing listens on its port
    config = make_site(tmp_path, {"transport": "smtp"}, smtp_table(server.port, retries=2))
    people = addresses(3)
    add_subscribers(config, people)
    # The feeds and the digest are done; the delivery error comes back with them.
    result = pipeline.publish(config, NOW)
    assert isinstance(result.delivery_error, DeliveryError)
    assert "cannot connect" in str(result.delivery_error)
    assert result.exit_code == 1
    assert result.digest is not None and result.digest.record is not None
    assert {v[0] for v in ledger_rows(config).values()} == {"pending"}
    server.start()
    try:
        summary = send(config, NOW)
        assert summary.sent == 3
        assert server.recorder.per_recipient() == {p: 1 for p in people}
    finally:
        server.stop()


def test_dropped_connection_reconnects_and_resumes(tmp_path: Path, server: Server) -> None:
    config = smtp_site(tmp_path, server, messages_per_connection=100)
    people = addresses(8)
    server.recorder.behaviour.drop_at_data = {3, 6}
    add_subscribers(config, people)
    issue(config)
    summary = send(config, NOW)
    assert summary.sent == 8
    assert server.recorder.per_recipient() == {p: 1 for p in people}
    assert server.recorder.sessions == 3  # first connection plus one per drop


def test_connection_recycled_after_count(tmp_path: Path, server: Server) -> None:
    config = smtp_site(tmp_path, server, messages_per_connection=3)
    add_subscribers(config, addresses(7))
    issue(config)
    assert send(config, NOW).sent == 7
    assert server.recorder.sessions == 3


def test_parallel_connections_send_each_once(tmp_path: Path, server: Server) -> None:
    config = smtp_site(tmp_path, server, connections=3, messages_per_connection=5)
    people = addresses(30)
    add_subscribers(config, people)
    issue(config)
    assert send(config, NOW).sent == 30
    assert server.recorder.per_recipient() == {p: 1 for p in people}


def test_rate_limit_spaces_messages(tmp_path: Path, server: Server) -> None:
    clock = [0.0]
    slept: list[float] = []

    def fake_sleep(seconds: float) -> None:
        slept.append(seconds)
        clock[0] += seconds

    config = smtp_site(tmp_path, server, rate=5.0)
    add_subscribers(config, addresses(4))
    issue(config)
    state = Store.open(config.state_file)
    try:
        deliver_pending(config, state, NOW, sleep=fake_sleep, clock=lambda: clock[0])
    finally:
        state.close()
    assert slept == pytest.approx([0.2, 0.2, 0.2])
    assert server.recorder.count() == 4


NO_TLS_WARNING = pytest.mark.filterwarnings("ignore:Requiring AUTH while not requiring TLS")


@NO_TLS_WARNING
def test_auth_failure_stops_and_records_nothing(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    server = Server(auth=Authenticator("sender", "right-password")).start()
    try:
        config = make_site(
            tmp_path, {"transport": "smtp"}, smtp_table(server.port, username="sender")
        )
        people = addresses(3)
        add_subscribers(config, people)
        issue(config)
        with pytest.raises(SecretMissing, match="PUBLISHER_SMTP_PASSWORD"):
            send(config, NOW)
        monkeypatch.setenv("PUBLISHER_SMTP_PASSWORD", "wrong-password")
        with pytest.raises(AuthenticationError, match="refused the login"):
            send(config, NOW)
        assert server.recorder.count() == 0
        assert {v[:2] for v in ledger_rows(config).values()} == {("pending", 0)}
        monkeypatch.setenv("PUBLISHER_SMTP_PASSWORD", "right-password")
        assert send(config, NOW).sent == 3
        assert server.recorder.per_recipient() == {p: 1 for p in people}
    finally:
        server.stop()


@NO_TLS_WARNING
def test_auth_failure_cli_exit_and_message(tmp_path: Path) -> None:
    server = Server(auth=Authenticator("sender", "right-password")).start()
    try:
        make_site(tmp_path, {"transport": "smtp"}, smtp_table(server.port, username="sender"))
        run_cli(tmp_path, "subscribers", "add", "a@example.com", check=True)
        proc = run_cli(tmp_path, "publish", "--now", NOW.isoformat(),
                       environ=env(PUBLISHER_SMTP_PASSWORD="nope-nope"))
        assert proc.returncode == 1
        assert "error:" in proc.stderr and "refused the login for 'sender'" in proc.stderr
        assert "nope-nope" not in proc.stderr + proc.stdout
        assert server.recorder.count() == 0
    finally:
        server.stop()


def test_unsubscribed_after_issue_is_skipped(tmp_path: Path, server: Server) -> None:
    config = smtp_site(tmp_path, server)
    people = addresses(3)
    add_subscribers(config, people)
    issue(config)
    run_cli(tmp_path, "unsubscribe", people[0], check=True)
    summary = send(config, NOW)
    assert (summary.sent, summary.skipped) == (2, 1)
    assert people[0] not in server.recorder.per_recipient()
    assert ledger_rows(config)[(1, people[0])][0] == "skipped"


def test_second_sender_is_refused_while_one_runs(tmp_path: Path, server: Server) -> None:
    config = smtp_site(tmp_path, server)
    add_subscribers(config, addresses(2))
    issue(config)
    fd = os.open(config.state_dir / "send.lock", os.O_RDWR | os.O_CREAT)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        with pytest.raises(LockBusy):
            send(config, NOW)
        publish_result = pipeline.publish(config, NOW)  # publish leaves it to the other
        assert publish_result.delivery is not None and publish_result.delivery.busy
    finally:
        os.close(fd)
    assert server.recorder.count() == 0
    assert send(config, NOW).sent == 2


def test_outbox_default_writes_private_eml_files_once(tmp_path: Path) -> None:
    config = make_site(tmp_path)
    people = addresses(3)
    add_subscribers(config, people)
    result = pipeline.publish(config, NOW)
    assert result.delivery is not None and result.delivery.sent == 3
    outbox = config.resolve(".publisher/outbox")
    files = sorted(outbox.glob("*.eml"))
    assert len(files) == 3
    assert {parse(f.read_bytes())["To"].addresses[0].addr_spec for f in files} == set(people)
    assert all(f.stat().st_mode & 0o077 == 0 for f in files)
    assert not any(config.out_dir.rglob("*.eml"))
    pipeline.publish(config, NOW + timedelta(hours=1))
    assert len(list(outbox.glob("*.eml"))) == 3


def test_publish_without_subscribers_needs_no_secret(tmp_path: Path) -> None:
    make_site(tmp_path)
    proc = run_cli(tmp_path, "publish", "--now", NOW.isoformat(), environ=env(PUBLISHER_SECRET=""))
    assert proc.returncode == 0, proc.stderr
    assert "Delivery: nothing pending." in proc.stdout


def test_missing_secret_with_subscribers_sends_nothing(tmp_path: Path) -> None:
    config = make_site(tmp_path)
    add_subscribers(config, addresses(2))
    proc = run_cli(tmp_path, "publish", "--now", NOW.isoformat(), environ=env(PUBLISHER_SECRET=""))
    assert proc.returncode == 1
    assert "error: PUBLISHER_SECRET is not set" in proc.stderr
    assert not config.resolve(".publisher/outbox").exists()
    assert {v[0] for v in ledger_rows(config).values()} == {"pending"}
    proc = run_cli(tmp_path, "send")
    assert proc.returncode == 0, proc.stderr
    assert "2 written to the outbox, 0 failed, 0 skipped" in proc.stdout


def test_test_to_sends_one_copy_and_records_nothing(tmp_path: Path, server: Server) -> None:
    config = smtp_site(tmp_path, server)
    add_subscribers(config, addresses(2))
    proc = run_cli(tmp_path, "digest", "--test-to", "editor@example.org", "--now", NOW.isoformat())
    assert proc.returncode == 0, proc.stderr
    assert server.recorder.per_recipient() == {"editor@example.org": 1}
    msg = parse(server.recorder.messages[0][1])
    assert msg["Subject"].startswith("[test] ")
    assert ledger_rows(config) == {}
    state = Store.open(config.state_file)
    try:
        assert state.digests.last() is None
    finally:
        state.close()


def test_crash_mid_send_then_resend_gives_exactly_one_copy(tmp_path: Path) -> None:
    server = Server().start()
    try:
        # A rate keeps the first run busy for ~2.5 s, so the kill lands mid-send.
        config = make_site(tmp_path, {"transport": "smtp"}, smtp_table(server.port, rate=200.0))
        people = addresses(500)
        add_subscribers(config, people)
        first = subprocess.Popen(
            [*CLI, "--config", str(config.file), "publish", "--now", NOW.isoformat()],
            env=env(), cwd=tmp_path, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
        )
        server.wait_for(100, sender=first)
        first.send_signal(signal.SIGKILL)
        first.wait(timeout=30)
        at_kill = server.recorder.count()
        assert first.returncode == -signal.SIGKILL
        assert 100 <= at_kill < 500, at_kill
        sent_rows = sum(1 for v in ledger_rows(config).values() if v[0] == "sent")
        assert at_kill - 1 <= sent_rows <= at_kill  # at most one accepted but unrecorded
        write_config(tmp_path, {"transport": "smtp"}, smtp_table(server.port))
        proc = run_cli(tmp_path, "send")
        assert proc.returncode == 0, proc.stderr
        counts = server.recorder.per_recipient()
        assert set(counts) == set(people)
        twice = [p for p, n in counts.items() if n > 1]
        assert len(twice) <= 1 and all(counts[p] == 2 for p in twice)
        assert {v[0] for v in ledger_rows(config_mod.load(config.file)).values()} == {"sent"}
    finally:
        server.stop()


def test_interrupted_run_still_records_what_was_accepted(tmp_path: Path, server: Server) -> None:
    config = smtp_site(tmp_path, server, connections=3)
    add_subscribers(config, addresses(12))
    issue(config)

    def interrupt(done: int, total: int) -> None:
        if done >= 4:
            raise KeyboardInterrupt

    state = Store.open(config.state_file)
    try:
        with pytest.raises(KeyboardInterrupt):
            deliver_pending(config, state, NOW, progress=interrupt)
    finally:
        state.close()
    accepted = server.recorder.count()
    assert 4 <= accepted < 12
    sent = {email for (_, email), v in ledger_rows(config).items() if v[0] == "sent"}
    assert sent == set(server.recorder.per_recipient())
    assert send(config, NOW).sent == 12 - accepted
    assert server.recorder.per_recipient() == {p: 1 for p in addresses(12)}


def test_password_is_never_sent_in_clear_to_a_remote_host(tmp_path: Path) -> None:
    config = make_site(
        tmp_path, {"transport": "smtp"},
        smtp_table(2525, host="mail.example.net", username="sender"),
    )
    add_subscribers(config, addresses(1))
    issue(config)
    with pytest.raises(ConfigError, match="unencrypted"):
        send(config, NOW)
    assert {v[0] for v in ledger_rows(config).values()} == {"pending"}


def test_progress_is_shown_on_a_terminal_only(tmp_path: Path, server: Server) -> None:
    config = smtp_site(tmp_path, server)
    add_subscribers(config, addresses(5))
    issue(config)
    leader, follower = pty.openpty()
    try:
        proc = subprocess.run(
            [*CLI, "--config", str(config.file), "send"], env=env(), cwd=tmp_path,
            stdout=subprocess.PIPE, stderr=follower, timeout=60,
        )
        os.close(follower)
        seen = b""
        with suppress(OSError):
            while chunk := os.read(leader, 4096):
                seen += chunk
    finally:
        os.close(leader)
    assert proc.returncode == 0
    assert b"Sending [" in seen and b"5/5" in seen
    assert proc.stdout.decode().strip() == (
        "Delivery (smtp, digest 2026-03-02): 5 sent, 0 failed, 0 skipped."
    )
    piped = run_cli(tmp_path, "send")
    assert piped.stderr == "" and piped.stdout == "Delivery: nothing pending.\n"


def test_bad_numbers_are_reported_together_before_sending(tmp_path: Path) -> None:
    config = make_site(
        tmp_path, {"max_failures": 0},
        smtp_table(2525, connections=0, retries=-1, messages_per_connection=0),
    )
    add_subscribers(config, addresses(1))
    issue(config)
    with pytest.raises(ConfigError) as info:
        send(config, NOW)
    lines = info.value.message.splitlines()
    assert [line.split(":")[1].strip() for line in lines] == [
        "[smtp] messages_per_connection", "[smtp] connections", "[smtp] retries",
        "[delivery] max_failures",
    ]
    assert {v[0] for v in ledger_rows(config).values()} == {"pending"}


def test_server_gone_mid_run_stops_and_says_how_far(tmp_path: Path) -> None:
    server = Server().start()
    config = make_site(tmp_path, {"transport": "smtp"}, smtp_table(server.port, retries=1))
    people = addresses(6)
    add_subscribers(config, people)
    issue(config)
    state = Store.open(config.state_file)

    def stop_server(done: int, total: int) -> None:
        if done == 2:
            server.stop()

    try:
        with pytest.raises(DeliveryError, match=r"2 sent before it stopped, 4 still pending"):
            deliver_pending(config, state, NOW, progress=stop_server)
    finally:
        state.close()
    restarted = Server(port=server.port).start()
    try:
        assert send(config, NOW).sent == 4
        assert restarted.recorder.per_recipient() == {p: 1 for p in people[2:]}
    finally:
        restarted.stop()


class QuitCounter(Recorder):
    """Also counts the polite goodbyes: one QUIT per connection a closed transport ends."""

    def __init__(self) -> None:
        super().__init__()
        self.quits = 0

    async def handle_QUIT(self, server: Any, session: Any, envelope: Any) -> str:
        with self.lock:
            self.quits += 1
        return "221 Bye"


def counting_server() -> Server:
    srv = Server()
    srv.recorder = srv.controller.handler = QuitCounter()
    return srv.start()


@pytest.mark.parametrize("interrupt_at", [None, 4])
def test_every_connection_a_run_opens_is_closed(tmp_path: Path, interrupt_at: int | None) -> None:
    server = counting_server()
    recorder = server.recorder
    assert isinstance(recorder, QuitCounter)
    try:
        config = smtp_site(tmp_path, server, connections=3, messages_per_connection=2)
        add_subscribers(config, addresses(12))
        issue(config)

        def progress(done: int, total: int) -> None:
            if interrupt_at is not None and done >= interrupt_at:
                raise KeyboardInterrupt

        state = Store.open(config.state_file)
        try:
            if interrupt_at is None:
                assert deliver_pending(config, state, NOW, progress=progress).sent == 12
            else:
                with pytest.raises(KeyboardInterrupt):
                    deliver_pending(config, state, NOW, progress=progress)
        finally:
            state.close()
        # Recycled connections and the ones still open at the end alike said goodbye.
        assert recorder.sessions >= 2
        assert recorder.quits == recorder.sessions
    finally:
        server.stop()


def test_delivery_holds_the_send_lock_only_while_it_runs(tmp_path: Path) -> None:
    config = make_site(tmp_path)
    add_subscribers(config, addresses(3))
    issue(config)
    seen: list[bool] = []

    def progress(done: int, total: int) -> None:
        # Mid-run, another process (here: another open file) cannot take it.
        other = send_lock(config)
        seen.append(other is None)
        if other is not None:
            other.release()

    state = Store.open(config.state_file)
    try:
        assert deliver_pending(config, state, NOW, progress=progress).sent == 3
    finally:
        state.close()
    assert seen == [True, True, True]
    lock = send_lock(config)
    assert lock is not None and lock.path == config.state_dir / "send.lock"
    lock.release()


def test_switching_from_the_outbox_to_smtp_skips_nobody_silently(
    tmp_path: Path, server: Server
) -> None:
    config = make_site(tmp_path)  # the outbox, the default
    people = addresses(3)
    add_subscribers(config, people)
    first = pipeline.publish(config, NOW)
    assert first.delivery is not None
    assert first.delivery.line() == (
        "Delivery (outbox, digest 2026-03-02): 3 written to the outbox, 0 failed, 0 skipped."
    )
    write_config(tmp_path, {"transport": "smtp"}, smtp_table(server.port))
    proc = run_cli(tmp_path, "send", check=True)
    assert server.recorder.count() == 0
    assert (
        "Note: 3 recipient(s) of digest 2026-03-02 got it only in the outbox (no mail was sent "
        "to them); `publisher send --resend-outbox 2026-03-02` mails them." in proc.stdout
    )
    proc = run_cli(tmp_path, "send", "--resend-outbox", "2026-03-02", check=True)
    assert "Delivery (smtp, digest 2026-03-02): 3 sent" in proc.stdout
    assert server.recorder.per_recipient() == {p: 1 for p in people}
    # Once mailed, nothing more to resend, and no note.
    proc = run_cli(tmp_path, "send", "--resend-outbox", "2026-03-02", check=True)
    assert proc.stdout == "Delivery: nothing pending.\n"
    assert server.recorder.count() == 3
    write_config(tmp_path, {"transport": "outbox"})
    proc = run_cli(tmp_path, "send", "--resend-outbox", "2026-03-02")
    assert proc.returncode == 1 and 'transport is still "outbox"' in proc.stderr


class Gate(Recorder):
    """Holds the first message's reply until `open` is set, and says when it got there."""

    def __init__(self) -> None:
        super().__init__()
        self.arrived = threading.Event()
        self.open = threading.Event()

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        self.arrived.set()
        while not self.open.is_set():
            await asyncio.sleep(0.01)
        reply: str = await super().handle_DATA(server, session, envelope)
        return reply


def test_a_digest_issued_during_a_send_goes_out_with_that_send(tmp_path: Path) -> None:
    """`publish` while a `send` process delivers leaves its new digest to that
    send, which must then deliver it: nothing else would until the next run."""
    server = Server()
    server.recorder = gate = Gate()
    server.controller.handler = gate
    server.start()
    try:
        config = make_site(tmp_path, {"transport": "smtp"}, smtp_table(server.port, timeout=60))
        people = addresses(3)
        add_subscribers(config, people)
        issue(config)
        sender = subprocess.Popen(
            [*CLI, "--config", str(config.file), "send", "--now", NOW.isoformat()],
            env=env(), cwd=tmp_path, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
        )
        try:
            assert gate.arrived.wait(60), sender.communicate()
            # The send is mid-message: a new post, and a publish that issues its digest.
            write_post(tmp_path, "second", "Second", "2026-03-03T09:00:00")
            result = pipeline.publish(config, NOW + timedelta(days=2))
            assert result.digest is not None and result.digest.record is not None
            assert result.delivery is not None and result.delivery.busy
            gate.open.set()
            out, err = sender.communicate(timeout=120)
        finally:
            gate.open.set()
            if sender.poll() is None:
                sender.kill()
                sender.wait()
        assert sender.returncode == 0, err
        assert "digest 2026-03-02, 2026-03-04" in out
        assert "6 sent, 0 failed" in out
        assert server.recorder.per_recipient() == {p: 2 for p in people}
        assert {v[0] for v in ledger_rows(config).values()} == {"sent"}
    finally:
        server.stop()


class IssueAtQuit(Recorder):
    """Runs `then` (in a thread) when the client says QUIT, once: as late in
    a send as anything can happen, with the send lock still held."""

    def __init__(self) -> None:
        super().__init__()
        self.then: Callable[[], object] | None = None
        self.result: object = None

    async def handle_QUIT(self, server: Any, session: Any, envelope: Any) -> str:
        then, self.then = self.then, None
        if then is not None:
            self.result = await asyncio.to_thread(then)
        return "221 Bye"


def test_a_digest_issued_as_a_send_ends_goes_out_with_that_send(tmp_path: Path) -> None:
    """The publish comes after the send's last look for new digests but
    before it lets go of the lock, so it leaves its digest to the send: the
    send looks once more after letting go."""
    server = Server()
    server.recorder = recorder = IssueAtQuit()
    server.controller.handler = recorder
    server.start()
    try:
        config = make_site(tmp_path, {"transport": "smtp"}, smtp_table(server.port))
        people = addresses(3)
        add_subscribers(config, people)
        issue(config)

        def publish_second() -> pipeline.PublishResult:
            write_post(tmp_path, "second", "Second", "2026-03-03T09:00:00")
            return pipeline.publish(config, NOW + timedelta(days=2))

        recorder.then = publish_second
        state = Store.open(config.state_file)
        try:
            summary = deliver_pending(config, state, NOW)
        finally:
            state.close()
        published = recorder.result
        assert isinstance(published, pipeline.PublishResult)
        assert published.digest is not None and published.digest.record is not None
        assert published.delivery is not None and published.delivery.busy
        assert summary.digests == ("2026-03-02", "2026-03-04")
        assert (summary.sent, summary.failed) == (6, 0)
        assert server.recorder.per_recipient() == {p: 2 for p in people}
        assert {v[0] for v in ledger_rows(config).values()} == {"sent"}
    finally:
        server.stop()
