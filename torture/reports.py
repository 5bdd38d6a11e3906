"""Hostile reports: what anyone can mail to the public bounce address.

Two lists share PUBLISHER_SECRET and one bounce mailbox (one environment
file, one Maildir). Each sends a digest through aiosmtpd with VERP. Then the
mailbox receives, about every reader and about addresses not on the list:
DSNs, abuse reports, qmail and Exim plain-text bounces sent to the bare
address; DSNs to VERP addresses with a wrong MAC, in the old form and the
new; returned headers carrying a forged Message-ID or an altered unsubscribe
token; the other list's genuine reports; messages no parser reads (no From,
empty, binary, a broken MIME boundary, undecodable headers), one over the
size cap and one with a 300 KB run of address characters. `publisher
bounces` must exit 0 without a traceback and change nobody for them (the
`changed` column); the other list acts on its own reports; genuine reports
that follow, in every format, still change exactly whom they are about; and
a second read changes nothing.
"""

from __future__ import annotations

import re
import shutil
import sqlite3
from pathlib import Path

from tests.delivery_support import Server
from tests.report_support import (
    BOUNCES,
    JUNK,
    arf,
    dsn,
    exim,
    headers_of,
    lookalike,
    maildir_with,
    qmail,
)

from . import harness as h
from .harness import Tally
from .kills import NOW, stamp

Mail = dict[str, tuple[str, bytes]]  # reader -> (envelope sender, message)
OUTSIDERS = ["nobody@example.org", "stranger@example.net", "postmaster@example.com"]
SUMMARY = re.compile(r"Bounces \(.*")
# What list A's genuine reports (`_genuine`, one format each) do to its first readers.
GENUINE = ("bounced", "bounced", "bounced", "unsubscribed", "bounced")


def hostile_reports(work: Path, readers: int) -> Tally:
    t = Tally()
    people = [f"reader{i}@example.org" for i in range(readers)]
    sites = {name: work / f"reports-{name}" for name in ("a", "b")}
    mail = {name: _send(t, site, people) for name, site in sites.items()}
    box = work / "reports-Maildir"
    shutil.rmtree(box, ignore_errors=True)

    hostile = _hostile(people, mail["a"], mail["b"])
    maildir_with(box, [raw for _label, raw in hostile])
    t.faults += len(hostile)
    print(f"  {len(hostile)} hostile reports, read by both lists", flush=True)
    # List B's own reports in there are genuine for B: B bounces its even
    # readers and unsubscribes its odd ones; A changes nobody.
    b_expected = {p: ("bounced" if i % 2 == 0 else "unsubscribed") for i, p in enumerate(people)}
    for name, expected in (("a", {}), ("b", b_expected)):
        _read(t, sites[name], box, f"list {name.upper()}, hostile reports", expected)

    genuine = _genuine(people, mail["a"])
    maildir_with(box, [raw for _label, raw in genuine])
    expected_a = dict(zip(people, GENUINE, strict=False))
    _read(t, sites["a"], box, "list A, then its genuine reports", expected_a)
    # Read again: every message is known, nothing changes.
    _read(t, sites["a"], box, "list A, the same mailbox again", {}, again=True)
    for site in sites.values():
        h.check_integrity(t, site / ".publisher" / "state.db", "reports")
        h.check_private(t, site / "out", people, "reports")
    return t


def _send(t: Tally, site: Path, people: list[str]) -> Mail:
    """A list that sends its first digest to `people`, with VERP."""
    shutil.rmtree(site, ignore_errors=True)
    server = Server().start()
    try:
        h.write_config(site, "smtp", (
            f'return_path = "{BOUNCES}"\n'
            f'[smtp]\nhost = "127.0.0.1"\nport = {server.port}\nsecurity = "none"\n'
            "timeout = 5\nretries = 3\nretry_delay = 0.01\n"
        ))
        h.subscribe(t, site, people)
        h.post(site, "p.md", "Report day", stamp(NOW))
        h.run(t, site, "publish", "--now", stamp(NOW))
        sent = dict(server.recorder.messages)
        envelopes = dict(server.recorder.senders)
    finally:
        server.stop()
    missing = [p for p in people if p not in sent]
    if missing:
        t.fail("lost", f"reports: {site.name} did not mail {missing[:3]}")
    return {p: (envelopes[p], sent[p]) for p in people if p in sent}


def _statuses(site: Path) -> dict[str, tuple[str, int]]:
    with sqlite3.connect(site / ".publisher" / "state.db") as conn:
        return {r[0]: (r[1], r[2]) for r in
                conn.execute("SELECT email, status, failures FROM subscribers")}


def _read(t: Tally, site: Path, box: Path, what: str, expected: dict[str, str],
          again: bool = False) -> None:
    """`publisher bounces` on `box`: exactly the readers in `expected` change,
    to the status given; everyone else stays as they were."""
    t.scenarios += 1
    before = _statuses(site)
    proc = h.run(t, site, "bounces", "--maildir", str(box), "--now", stamp(NOW))
    after = _statuses(site)
    for person, was in before.items():
        now = after.get(person)
        want = expected.get(person)
        if want is None and now != was:
            t.fail("changed", f"{what}: {person} went from {was} to {now}")
        elif want is not None and (now is None or now[0] != want):
            t.fail("unexpected", f"{what}: {person} is {now}, not {want}")
    line = SUMMARY.search(proc.stdout)
    if again and line and not re.search(r"(\d+) messages read \(\1 already seen\)", line[0]):
        t.fail("unexpected", f"{what}: a second read was not all seen: {line[0]}")
    print(f"  {what}: {line[0] if line else h.tail(proc.stdout + proc.stderr)}", flush=True)


def _altered(text: str) -> str:
    """`text` with its last character changed (a MAC that no longer verifies)."""
    return text[:-1] + ("0" if text[-1] != "0" else "1")


def _mac_altered(token: str) -> str:
    """`token` with the first character of its MAC changed: still well formed."""
    head, dot, mac = token.rpartition(".")
    return f"{head}{dot}{'B' if mac[:1] == 'A' else 'A'}{mac[1:]}"


def _hostile(people: list[str], a: Mail, b: Mail) -> list[tuple[str, bytes]]:
    found: list[tuple[str, bytes]] = []
    for i, person in enumerate(people):
        envelope, message = a[person]
        local, _, domain = envelope.partition("@")
        msg_id = _header(message, "Message-ID").strip("<>")
        token = re.search(r"token=([A-Za-z0-9_.-]+)", _header(message, "List-Unsubscribe"))
        fake = lookalike(person, msg_id=f"<fake-{i}@evil.test>")
        n = f"{i}@evil.test"
        found += [
            ("plain DSN", dsn(BOUNCES, person, fake, msg_id=f"plain-{n}")),
            ("plain soft DSN", dsn(BOUNCES, person, fake, status="4.2.2", msg_id=f"soft-{n}")),
            ("complaint naming them", arf(BOUNCES, person, fake, msg_id=f"arf-{n}")),
            ("qmail text", qmail(BOUNCES, person, fake, msg_id=f"qmail-{n}")),
            ("Exim text", exim(BOUNCES, person, fake, msg_id=f"exim-{n}")),
            ("old VERP, wrong MAC", dsn(f"bounces+{i + 1}-1-0000000000000000@news.example.org",
                                        person, fake, msg_id=f"oldverp-{n}")),
            ("VERP, wrong MAC", dsn(_altered(local) + "@" + domain, person, fake,
                                    msg_id=f"verp-{n}")),
            ("Message-ID, wrong MAC", dsn(BOUNCES, person, lookalike(
                person, msg_id="<" + _altered(msg_id.partition("@")[0]) + "@news.example.org>"),
                msg_id=f"msgid-{n}")),
            ("token altered", arf(BOUNCES, "", lookalike(
                person, f"List-Unsubscribe: <https://news.example.org/unsubscribe?token="
                        f"{_mac_altered(token[1] if token else 'x')}>\n"), msg_id=f"token-{n}")),
        ]
        theirs_envelope, theirs = b[person]
        if i % 2 == 0:
            found.append(("another list's DSN", dsn(theirs_envelope, person, theirs,
                                                    msg_id=f"b-dsn-{n}")))
        else:
            found.append(("another list's complaint", arf(BOUNCES, "", theirs,
                                                          msg_id=f"b-arf-{n}")))
    for j, outsider in enumerate(OUTSIDERS):
        fake = lookalike(outsider, msg_id=f"<outsider-{j}@evil.test>")
        found += [
            ("not on the list: DSN", dsn(BOUNCES, outsider, fake, msg_id=f"out-dsn-{j}@x")),
            ("not on the list: complaint", arf(BOUNCES, outsider, fake, msg_id=f"out-arf-{j}@x")),
            ("not on the list: VERP", dsn(f"bounces+{10**9 + j}-1-0000000000000000@x",
                                          outsider, fake, msg_id=f"out-verp-{j}@x")),
        ]
    found += [(f"unreadable: {name}", raw) for name, raw in JUNK.items()]
    run = "x" * 300_000
    found.append(("300 KB of address characters", dsn(
        BOUNCES, people[0], lookalike(people[0], f"X-Junk: {run}+1-1-{run}\n"),
        msg_id="pathological@evil.test")))
    found.append(("over the size cap", dsn(BOUNCES, people[0], lookalike(
        people[0], "X-Pad: " + "y" * (5 << 20) + "\n"), msg_id="huge@evil.test")))
    return found


def _genuine(people: list[str], a: Mail) -> list[tuple[str, bytes]]:
    """Reports about list A's own messages, one format each, for its first readers."""
    formats = [
        lambda env, p, m: dsn(env, p, m, msg_id="g-dsn@mx.example.com"),
        lambda env, p, m: qmail(env, p, m, msg_id="g-qmail@mx.example.net"),
        lambda env, p, m: exim(env, p, headers_of(m), msg_id="g-exim@mx.example.net"),
        lambda env, p, m: arf(BOUNCES, "", m, msg_id="g-arf@fbl.example.net"),
        lambda env, p, m: dsn(BOUNCES, p, m, msg_id="g-plain@mx.example.com"),
    ]
    return [(f"genuine {i}", make(a[person][0], person, a[person][1]))
            for i, (make, person) in enumerate(zip(formats, people, strict=False))]


def _header(message: bytes, name: str) -> str:
    for line in headers_of(message).decode("ascii", "replace").split("\r\n"):
        if line.lower().startswith(name.lower() + ":"):
            return line.partition(":")[2].strip()
    return ""
