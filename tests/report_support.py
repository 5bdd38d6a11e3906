"""Reports as the bounce mailbox receives them: DSNs (RFC 3464) as Postfix
writes them, qmail's and Exim's plain-text bounces, abuse reports (ARF, RFC
5965); genuine ones around a message publisher really sent, and the forged
ones anyone can mail to the public bounce address. Shared by the tests and
the torture run's "reports" family."""

from __future__ import annotations

import mailbox
import sqlite3
from pathlib import Path
from typing import Any

from publisher.app import pipeline
from publisher.config.settings import Config
from publisher.store.state import MIGRATIONS, _apply
from publisher.store.subscribers import Subscribers

from .delivery_support import NOW, Server, add_subscribers, make_site, smtp_table

BOUNCES = "bounces@news.example.org"


def crlf(text: str) -> bytes:
    return text.replace("\r\n", "\n").replace("\n", "\r\n").encode("utf-8")


def headers_of(message: bytes) -> bytes:
    """A message's header block, ending in a blank line's worth of CRLF."""
    return message.split(b"\r\n\r\n", 1)[0] + b"\r\n"


def lookalike(rcpt: str, extra: str = "", msg_id: str = "<lookalike-1@evil.test>") -> bytes:
    """Headers made up to look like one of the list's messages, with nothing in
    them the list made (no VERP address, Message-ID or token of its own)."""
    return crlf(
        f"Return-Path: <{BOUNCES}>\n"
        "From: Example News <news@news.example.org>\n"
        f"To: {rcpt}\n"
        "Subject: Example News digest\n"
        f"Message-ID: {msg_id}\n"
        "List-Id: Example News <digest.news.example.org>\n"
        f"{extra}"
    )


def dsn(to: str, rcpt: str, returned: bytes, status: str = "5.1.1",
        msg_id: str = "dsn-1@mx.example.com", action: str = "failed") -> bytes:
    """A delivery status notification as Postfix writes one, mailed to `to`,
    returning the headers `returned`."""
    code = "550" if status.startswith("5") else "452"
    return crlf(f"""Return-Path: <>
Delivered-To: {to}
Date: Mon,  2 Mar 2026 08:01:02 +0000 (UTC)
From: MAILER-DAEMON@mx.example.com (Mail Delivery System)
Subject: Undelivered Mail Returned to Sender
To: {to}
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

<{rcpt}>: host mx.example.com[192.0.2.25] said: {code} {status}
    <{rcpt}>: Recipient address rejected (in reply to RCPT TO command)

--4F1A2.1772438462/mx.example.com
Content-Description: Delivery report
Content-Type: message/delivery-status

Reporting-MTA: dns; mx.example.com
X-Postfix-Queue-ID: 4F1A2
X-Postfix-Sender: rfc822; {to}
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

""") + headers_of(returned) + b"\r\n--4F1A2.1772438462/mx.example.com--\r\n"


def qmail(to: str, rcpt: str, returned: bytes, msg_id: str = "qmail-1@mx.example.net") -> bytes:
    """qmail-send's plain-text bounce: the whole message copied below a line."""
    return crlf(f"""Return-Path: <>
Delivered-To: {to}
Date: 2 Mar 2026 08:03:11 -0000
From: MAILER-DAEMON@mx.example.net
To: {to}
Subject: failure notice
Message-ID: <{msg_id}>

Hi. This is the qmail-send program at mx.example.net.
I'm afraid I wasn't able to deliver your message to the following addresses.
This is a permanent error; I've given up. Sorry it didn't work out.

<{rcpt}>:
Sorry, no mailbox here by that name. (#5.1.1)

--- Below this line is a copy of the message.

""") + returned


def exim(to: str, rcpt: str, returned: bytes, msg_id: str = "E1exim-0001@mx.example.net") -> bytes:
    """Exim's plain-text bounce, with X-Failed-Recipients and the message copied."""
    return crlf(f"""Return-path: <>
Envelope-to: {to}
Delivery-date: Mon, 02 Mar 2026 08:04:00 +0000
From: Mail Delivery System <Mailer-Daemon@mx.example.net>
To: {to}
Subject: Mail delivery failed: returning message to sender
Message-Id: <{msg_id}>
X-Failed-Recipients: {rcpt}
Auto-Submitted: auto-replied

This message was created automatically by mail delivery software.

A message that you sent could not be delivered to one or more of its
recipients. This is a permanent error. The following address(es) failed:

  {rcpt}
    host mx.example.com [192.0.2.25]
    SMTP error from remote mail server after RCPT TO:<{rcpt}>:
    550 5.1.1 <{rcpt}>: Recipient address rejected: User unknown

------ This is a copy of the message, including all the headers. ------

""") + returned


def arf(to: str, rcpt: str, returned: bytes, feedback: str = "abuse",
        msg_id: str = "arf-1@fbl.example.net") -> bytes:
    """An abuse report (RFC 5965 appendix B) returning the message `returned`
    (whole, or its headers only); `rcpt` "" leaves Original-Rcpt-To out."""
    rcpt_line = f"Original-Rcpt-To: <{rcpt}>\n" if rcpt else ""
    return crlf(f"""From: <feedbackloop@fbl.example.net>
Date: Tue, 3 Mar 2026 10:40:36 +0000
Subject: FW: complaint about a message from news.example.org
To: <{to}>
Message-ID: <{msg_id}>
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
{rcpt_line}Arrival-Date: Mon, 2 Mar 2026 08:00:01 +0000
Reported-Domain: news.example.org
Source-IP: 192.0.2.1

--part1_13d.2e68ed54_boundary
Content-Type: message/rfc822
Content-Disposition: inline

""") + returned + b"\r\n--part1_13d.2e68ed54_boundary--\r\n"


# Messages that no parser makes sense of: each once jammed every later run.
JUNK = {
    "no From": crlf("To: bounces@news.example.org\nSubject: hello\nMessage-ID: <nofrom@x>\n\n"
                    "Nothing to see.\n"),
    "empty file": b"",
    "binary junk": bytes(range(256)) * 64,
    "bad MIME boundary": crlf(
        'To: bounces@news.example.org\nContent-Type: multipart/report; boundary="\n'
        "Message-ID: <badboundary@x>\n\n--\nnot a part\n--b--\n"
    ),
    "non-UTF-8 From": b"From: MAILER-DAEMON@sina.com \xff\xfe\xfd\r\nTo: bounces@news.example.org"
                      b"\r\nMessage-ID: <sina@x>\r\nContent-Type: multipart/mixed; boundary=b\r\n"
                      b"\r\n--b\r\n\r\n<someone@example.com>\r\n--b--\r\n",
}


def maildir_with(folder: Path, messages: list[bytes]) -> Path:
    box = mailbox.Maildir(folder, create=True)
    for message in messages:
        box.add(message)
    return folder


def legacy_store(config: Config, people: list[str]) -> None:
    """A state store as the version before list keys left it, with subscribers."""
    config.state_file.parent.mkdir(parents=True, exist_ok=True)
    conn = sqlite3.connect(config.state_file, isolation_level=None)
    try:
        conn.execute("CREATE TABLE migrations (name TEXT PRIMARY KEY, applied_at TEXT NOT NULL)")
        for name, sql in MIGRATIONS:
            if name.startswith("0009"):
                break
            _apply(conn, name, sql)
        conn.execute("BEGIN")
        for i, address in enumerate(people):
            Subscribers(conn).add(address, f"Reader {i}", NOW)
        conn.execute("COMMIT")
    finally:
        conn.close()


def mailed(site: Path, server: Server, people: list[str], **delivery: Any) -> Config:
    """A site that has sent its first digest to `people` through `server`."""
    settings_ = {"transport": "smtp", "return_path": BOUNCES, **delivery}
    config = make_site(site, settings_, smtp_table(server.port))
    add_subscribers(config, people)
    result = pipeline.publish(config, NOW)
    assert result.delivery is not None and result.delivery.sent == len(people)
    return config
