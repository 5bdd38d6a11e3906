"""Bounces and complaints after the SMTP session: real DSN (RFC 3464) and ARF
(RFC 5965) samples, written for the messages a real send produced (through
aiosmtpd, so the VERP envelope sender is the one on the wire), read back
through a real Maildir and a real IMAP server (Dovecot) by `publisher bounces`."""

from __future__ import annotations

import mailbox
import os
import shutil
import subprocess
import tempfile
import time
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path

import pytest

from publisher.app import pipeline
from publisher.config.settings import Config
from publisher.mail import tokens, verp
from publisher.mail.bounces import classify
from publisher.store.store import Store

from .delivery_support import (
    NOW,
    SECRET,
    Server,
    env,
    free_port,
    run_cli,
    write_post,
)
from .report_support import BOUNCES, mailed

RETURN_PATH = BOUNCES


@pytest.fixture
def server() -> Iterator[Server]:
    srv = Server().start()
    yield srv
    srv.stop()


@pytest.fixture(autouse=True)
def secret(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PUBLISHER_SECRET", SECRET)


def statuses(config: Config) -> dict[str, tuple[str, int]]:
    state = Store.open(config.state_file)
    try:
        rows = state._conn.execute("SELECT email, status, failures FROM subscribers")
        return {r[0]: (r[1], r[2]) for r in rows}
    finally:
        state.close()


def headers_of(message: bytes) -> bytes:
    return message.split(b"\r\n\r\n", 1)[0] + b"\r\n"


def dsn(envelope: str, rcpt: str, original: bytes, status: str = "5.1.1",
        action: str = "failed", msg_id: str = "20260302080102.4F1A2@mx.example.com") -> bytes:
    """A delivery status notification as Postfix writes one, sent to `envelope`."""
    code = "550" if status.startswith("5") else "452"
    text = f"""Return-Path: <>
Delivered-To: {envelope}
Date: Mon,  2 Mar 2026 08:01:02 +0000 (UTC)
From: MAILER-DAEMON@mx.example.com (Mail Delivery System)
Subject: Undelivered Mail Returned to Sender
To: {envelope}
Auto-Submitted: auto-replied
MIME-Version: 1.0
Content-Type: multipart/report; report-type=delivery-status;
\tboundary="4F1A2.1772438462/mx.example.com"
Message-Id: <{msg_id}>

This is a MIME-encapsulated message.

--4F1A2.1772438462/mx.example.com
Content-Description: Notification
Content-Type: text/plain; charset=us-ascii

This is the mail system at host mx.example.com.

I'm sorry to have to inform you that your message could not
be delivered to one or more recipients. It's attached below.

<{rcpt}>: host mx.example.com[192.0.2.25] said: {code} {status}
    <{rcpt}>: Recipient address rejected (in reply to RCPT TO command)

--4F1A2.1772438462/mx.example.com
Content-Description: Delivery report
Content-Type: message/delivery-status

Reporting-MTA: dns; mx.example.com
X-Postfix-Queue-ID: 4F1A2
X-Postfix-Sender: rfc822; {envelope}
Arrival-Date: Mon,  2 Mar 2026 08:01:01 +0000 (UTC)

Final-Recipient: rfc822; {rcpt}
Original-Recipient: rfc822;{rcpt}
Action: {action}
Status: {status}
Remote-MTA: dns; mx.example.com
Diagnostic-Code: smtp; {code} {status} <{rcpt}>: Recipient address rejected

--4F1A2.1772438462/mx.example.com
Content-Description: Undelivered Message Headers
Content-Type: text/rfc822-headers

Return-Path: <{envelope}>
"""
    return text.replace("\n", "\r\n").encode() + headers_of(original) + (
        b"\r\n--4F1A2.1772438462/mx.example.com--\r\n"
    )


def arf(original: bytes, rcpt: str = "redacted", feedback: str = "abuse") -> bytes:
    """An abuse report (RFC 5965 appendix B), the whole message returned."""
    text = f"""From: <feedbackloop@mail.example.net>
Date: Tue, 3 Mar 2026 10:40:36 +0000
Subject: FW: complaint about a message from news.example.org
To: <{RETURN_PATH}>
Message-ID: <arf-7781@mail.example.net>
MIME-Version: 1.0
Content-Type: multipart/report; report-type=feedback-report;
    boundary="part1_13d.2e68ed54_boundary"

--part1_13d.2e68ed54_boundary
Content-Type: text/plain; charset="US-ASCII"
Content-Transfer-Encoding: 7bit

This is an email abuse report for an email message received from IP
192.0.2.1 on Mon, 2 Mar 2026 08:00:01 +0000.

--part1_13d.2e68ed54_boundary
Content-Type: message/feedback-report

Feedback-Type: {feedback}
User-Agent: ExampleFBL/1.0
Version: 1
Original-Rcpt-To: <{rcpt}>
Arrival-Date: Mon, 2 Mar 2026 08:00:01 +0000
Reported-Domain: news.example.org
Source-IP: 192.0.2.1

--part1_13d.2e68ed54_boundary
Content-Type: message/rfc822
Content-Disposition: inline

"""
    return text.replace("\n", "\r\n").encode() + original + (
        b"\r\n--part1_13d.2e68ed54_boundary--\r\n"
    )


AUTO_REPLY = (
    b"From: reader1@example.com\r\nTo: bounces@news.example.org\r\n"
    b"Subject: Out of office\r\nMessage-ID: <ooo-1@example.com>\r\n"
    b"Auto-Submitted: auto-replied\r\n\r\nI am away until Monday.\r\n"
)


def maildir_with(folder: Path, messages: list[bytes]) -> Path:
    box = mailbox.Maildir(folder, create=True)
    for message in messages:
        box.add(message)
    return folder


def test_verp_envelopes_name_subscriber_and_digest(tmp_path: Path, server: Server) -> None:
    people = ["reader0@example.com", "reader1@example.com"]
    config = mailed(tmp_path, server, people)
    keys = tokens.for_store(config.state_file, env())
    for rcpt in people:
        sender = server.recorder.senders[rcpt]
        assert sender.startswith("bounces+") and sender.endswith("@news.example.org")
        assert verp.parse(sender, keys) == verp.Mark(people.index(rcpt) + 1, 1, "ok")
    # A forged token (wrong MAC) proves nothing.
    forged = server.recorder.senders[people[0]].replace("bounces+1-", "bounces+2-")
    assert verp.parse(forged, keys) == verp.Mark(2, 1, "forged")
    assert statuses(config)  # the store is there


def test_samples_are_classified(tmp_path: Path, server: Server) -> None:
    config = mailed(tmp_path, server, ["reader0@example.com"])
    (rcpt, message), = server.recorder.messages
    envelope = server.recorder.senders[rcpt]
    key = tokens.for_store(config.state_file, env())
    hard = classify(dsn(envelope, rcpt, message), key)
    assert (hard.kind, hard.addresses) == ("hard", (rcpt,))
    assert set(hard.marks) == {verp.Mark(1, 1, "ok")}  # the VERP address and the Message-ID
    assert "5.1.1" in hard.detail
    soft = classify(dsn(envelope, rcpt, message, status="4.2.2"), key)
    assert soft.kind == "soft"
    full = classify(dsn(envelope, rcpt, message, status="5.2.2"), key)
    assert full.kind == "soft"  # mailbox full: permanent code, temporary condition
    delay = classify(dsn(envelope, rcpt, message, status="4.4.1", action="delayed"), key)
    assert delay.kind == "delay"
    complaint = classify(arf(message), key)
    assert complaint.kind == "complaint" and complaint.tokens == ((rcpt, "ok"),)
    assert classify(arf(message, feedback="not-spam"), key).kind == "other"
    assert classify(AUTO_REPLY, key).kind == "other"
    assert config


def test_bounces_through_a_maildir(tmp_path: Path, server: Server) -> None:
    people = [f"reader{i}@example.com" for i in range(4)]
    config = mailed(tmp_path, server, people)
    sent = dict(server.recorder.messages)
    envelope = server.recorder.senders
    folder = maildir_with(tmp_path / "Maildir", [
        dsn(envelope[people[0]], people[0], sent[people[0]]),  # hard
        dsn(envelope[people[1]], people[1], sent[people[1]], status="4.2.2",
            msg_id="soft-1@mx.example.com"),  # soft: counted
        arf(sent[people[2]]),  # a complaint, the recipient redacted
        AUTO_REPLY,
    ])
    proc = run_cli(tmp_path, "bounces", "--maildir", str(folder), "--now", NOW.isoformat())
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout == (
        f"Bounces ({folder}): 4 messages read (0 already seen): 1 hard bounces, "
        "1 soft bounces, 1 complaints, 0 delay notices, 1 not bounces, 0 unreadable; "
        "1 subscriber(s) marked bounced, 1 unsubscribed after a complaint, 1 soft bounces "
        "counted, 0 for nobody on the list; not acted on: 0 unverified, 0 forged, 0 for "
        "another list.\n"
    )
    after = statuses(config)
    assert after == {
        people[0]: ("bounced", 0),
        people[1]: ("active", 1),
        people[2]: ("unsubscribed", 0),
        people[3]: ("active", 0),
    }
    # Read again: every message is recognised, nothing changes.
    again = run_cli(tmp_path, "bounces", "--maildir", str(folder))
    assert again.returncode == 0 and "4 messages read (4 already seen)" in again.stdout
    assert statuses(config) == after
    # The same bounce delivered twice (another copy, another Message-ID) counts once.
    maildir_with(folder, [dsn(envelope[people[1]], people[1], sent[people[1]],
                              status="4.2.2", msg_id="soft-1-copy@mx.example.com")])
    run_cli(tmp_path, "bounces", "--maildir", str(folder), check=True)
    assert statuses(config)[people[1]] == ("active", 1)


def test_soft_bounces_in_a_row_make_a_subscriber_bounced(tmp_path: Path, server: Server) -> None:
    people = ["reader0@example.com", "reader1@example.com"]
    config = mailed(tmp_path, server, people, max_failures=2)
    folder = tmp_path / "Maildir"
    for n in range(2):
        if n:  # the next digest goes out, and bounces softly too
            server.recorder.messages.clear()
            write_post(tmp_path, f"later-{n}", f"Later {n}", f"2026-03-0{2 + n}T09:00:00")
            pipeline.publish(config, NOW + timedelta(days=n, hours=3))
        sent = dict(server.recorder.messages)
        envelope = server.recorder.senders[people[0]]
        maildir_with(folder, [dsn(envelope, people[0], sent[people[0]], status="4.2.2",
                                  msg_id=f"soft-{n}@mx.example.com")])
        run_cli(tmp_path, "bounces", "--maildir", str(folder), check=True)
        assert statuses(config)[people[0]] == (("active", 1), ("bounced", 2))[n]
    assert statuses(config)[people[1]] == ("active", 0)
    # A bounced subscriber is not mailed the next digest.
    server.recorder.messages.clear()
    write_post(tmp_path, "last", "Last", "2026-03-05T09:00:00")
    pipeline.publish(config, NOW + timedelta(days=4))
    assert [r for r, _ in server.recorder.messages] == [people[1]]


def test_a_bounce_without_verp_is_matched_by_its_message_id(
    tmp_path: Path, server: Server
) -> None:
    people = ["Reader.Zero@example.com", "reader1@example.com"]
    config = mailed(tmp_path, server, people, return_path="")
    assert server.recorder.senders[people[0]] == "news@news.example.org"
    sent = dict(server.recorder.messages)
    # The remote server names the address in its own case; the returned
    # headers' Message-ID says whom the message was for.
    folder = maildir_with(tmp_path / "Maildir", [
        dsn("news@news.example.org", "reader.zero@example.com", sent[people[0]])
    ])
    run_cli(tmp_path, "bounces", "--maildir", str(folder), check=True)
    assert statuses(config)[people[0]] == ("bounced", 0)


def test_a_missing_maildir_is_an_error_naming_it(tmp_path: Path, server: Server) -> None:
    mailed(tmp_path, server, ["reader0@example.com"])
    proc = run_cli(tmp_path, "bounces", "--maildir", str(tmp_path / "nowhere"))
    assert proc.returncode == 1
    assert f"error: {tmp_path / 'nowhere'}: not a Maildir" in proc.stderr
    proc = run_cli(tmp_path, "bounces")
    assert proc.returncode == 1 and "[bounces]: no mailbox to read" in proc.stderr


# --- IMAP: Dovecot on 127.0.0.1, over TLS --------------------------------------

DOVECOT = shutil.which("dovecot") or ("/usr/sbin/dovecot" if Path("/usr/sbin/dovecot").exists()
                                      else None)
IMAP_PASSWORD = "imap-secret-0123"


def _need_dovecot() -> None:
    if DOVECOT is None or shutil.which("openssl") is None:
        reason = "dovecot (Debian's dovecot-imapd) and openssl are needed for the IMAP test"
        if os.environ.get("CI") == "true":
            pytest.fail(reason + "; CI installs them (.ci/run)")
        pytest.skip(reason)


@pytest.fixture
def dovecot() -> Iterator[tuple[int, Path]]:
    """A real IMAP server with one user, `bounces`, TLS only; yields (port, CA file).

    Its folder is outside pytest's (which is private to us): Dovecot's own
    processes run as its users and must reach the password file."""
    _need_dovecot()
    base = Path(tempfile.mkdtemp(prefix="publisher-dovecot-"))
    base.chmod(0o755)
    (base / "run").mkdir()
    mail = base / "mail"
    mail.mkdir()
    cert, key = base / "cert.pem", base / "key.pem"
    subprocess.run(
        ["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", str(key),
         "-out", str(cert), "-days", "2", "-subj", "/CN=localhost",
         "-addext", "subjectAltName=DNS:localhost"],
        check=True, capture_output=True,
    )
    (base / "users").write_text(f"bounces:{{PLAIN}}{IMAP_PASSWORD}::::\n")
    if os.getuid() == 0:  # Dovecot will not open mailboxes as root
        user, group = "nobody", "nogroup"
        shutil.chown(mail, user, group)
    else:
        import grp
        import pwd

        user, group = pwd.getpwuid(os.getuid())[0], grp.getgrgid(os.getgid())[0]
    port = free_port()
    (base / "dovecot.conf").write_text(f"""
protocols = imap
listen = 127.0.0.1
base_dir = {base}/run
state_dir = {base}/run/state
log_path = {base}/dovecot.log
ssl = required
ssl_cert = <{cert}
ssl_key = <{key}
auth_mechanisms = plain
first_valid_uid = 1
default_internal_user = {user if os.getuid() else "dovecot"}
default_login_user = {user if os.getuid() else "dovenull"}
mail_location = maildir:{mail}/%u
passdb {{
  driver = passwd-file
  args = scheme=PLAIN {base}/users
}}
userdb {{
  driver = static
  args = uid={user} gid={group} home={mail}/%u
}}
service imap-login {{
  inet_listener imap {{
    port = 0
  }}
  inet_listener imaps {{
    port = {port}
    ssl = yes
  }}
}}
""")
    proc = subprocess.Popen([DOVECOT, "-F", "-c", str(base / "dovecot.conf")],
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    try:
        deadline = time.monotonic() + 15
        while not _listening(port):
            if proc.poll() is not None or time.monotonic() > deadline:
                log = base / "dovecot.log"
                text = log.read_text() if log.exists() else ""
                raise AssertionError(f"dovecot did not start: {proc.stderr!r} {text}")
            time.sleep(0.1)
        yield port, cert
    finally:
        proc.terminate()
        proc.wait(timeout=15)
        shutil.rmtree(base, ignore_errors=True)


def _listening(port: int) -> bool:
    import socket

    try:
        socket.create_connection(("127.0.0.1", port), timeout=1).close()
    except OSError:
        return False
    return True


def imap_append(port: int, cert: Path, messages: list[bytes]) -> None:
    import imaplib
    import ssl

    context = ssl.create_default_context(cafile=str(cert))
    client = imaplib.IMAP4_SSL("localhost", port, ssl_context=context, timeout=10)
    client.login("bounces", IMAP_PASSWORD)
    for message in messages:
        typ, _ = client.append("INBOX", None, None, message)
        assert typ == "OK"
    client.logout()


def test_bounces_over_imap(tmp_path: Path, server: Server, dovecot: tuple[int, Path]) -> None:
    port, cert = dovecot
    people = [f"reader{i}@example.com" for i in range(3)]
    config = mailed(tmp_path, server, people)
    with (tmp_path / "publisher.toml").open("a") as toml:
        toml.write(f'[bounces]\nimap_host = "localhost"\nimap_port = {port}\n'
                   'imap_user = "bounces"\n')
    sent = dict(server.recorder.messages)
    envelope = server.recorder.senders
    imap_append(port, cert, [
        dsn(envelope[people[0]], people[0], sent[people[0]]),
        arf(sent[people[1]]),
    ])
    environ = env(PUBLISHER_IMAP_PASSWORD=IMAP_PASSWORD, SSL_CERT_FILE=str(cert))
    proc = run_cli(tmp_path, "bounces", "--imap", environ=environ)
    assert proc.returncode == 0, proc.stderr
    assert "Bounces (imap://bounces@localhost:" in proc.stdout
    assert "2 messages read (0 already seen): 1 hard bounces" in proc.stdout
    assert statuses(config) == {
        people[0]: ("bounced", 0), people[1]: ("unsubscribed", 0), people[2]: ("active", 0),
    }
    # The next read fetches only what arrived since.
    imap_append(port, cert, [AUTO_REPLY])
    proc = run_cli(tmp_path, "bounces", "--imap", environ=environ)
    assert "1 messages read (0 already seen)" in proc.stdout and "1 not bounces" in proc.stdout
    # Without the password, a clear error before connecting.
    environ.pop("PUBLISHER_IMAP_PASSWORD")
    proc = run_cli(tmp_path, "bounces", "--imap", environ=environ)
    assert proc.returncode == 1 and "PUBLISHER_IMAP_PASSWORD is not set" in proc.stderr
    # An untrusted certificate is refused.
    environ.update(PUBLISHER_IMAP_PASSWORD=IMAP_PASSWORD)
    environ.pop("SSL_CERT_FILE")
    proc = run_cli(tmp_path, "bounces", "--imap", environ=environ)
    assert proc.returncode == 1 and "cannot connect" in proc.stderr


def test_publisher_run_reads_bounces_on_its_schedule(tmp_path: Path, server: Server) -> None:
    from publisher.config import settings as config_mod
    from publisher.service.schedule import BOUNCES_JOB, Service

    people = ["reader0@example.com", "reader1@example.com"]
    mailed(tmp_path, server, people)
    sent = dict(server.recorder.messages)
    maildir_with(tmp_path / "Maildir", [
        dsn(server.recorder.senders[people[0]], people[0], sent[people[0]]),
    ])
    with (tmp_path / "publisher.toml").open("a") as toml:
        toml.write('[bounces]\nmaildir = "Maildir"\npoll_minutes = 15\n')
    config = config_mod.load(tmp_path / "publisher.toml")
    service = Service(config, clock=lambda: NOW)
    service._add_jobs()
    job = service.scheduler.get_job(BOUNCES_JOB)
    assert job is not None and job.trigger.interval == timedelta(minutes=15)
    service.bounces_job()
    assert statuses(config)[people[0]] == ("bounced", 0)
    assert statuses(config)[people[1]] == ("active", 0)
