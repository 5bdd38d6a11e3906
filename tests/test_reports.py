"""Reports anyone can write (issue 20): the bounce address is public, so a
report changes a subscriber only when it proves this list sent the message;
two lists that share PUBLISHER_SECRET and a mailbox stay apart; the order
reports are read in changes nothing; no message jams the reading, however
odd or large. Real messages sent through aiosmtpd, real reports written for
them, read from a real Maildir by `publisher bounces`."""

from __future__ import annotations

import hashlib
import hmac
import re
import sqlite3
import tempfile
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from publisher.app import pipeline
from publisher.config.settings import Config
from publisher.mail import bounces
from publisher.store.store import Store

from .delivery_support import (
    NOW,
    SECRET,
    Server,
    add_subscribers,
    make_site,
    run_cli,
    smtp_table,
    write_post,
)
from .report_support import (
    BOUNCES,
    JUNK,
    arf,
    dsn,
    exim,
    headers_of,
    legacy_store,
    lookalike,
    maildir_with,
    mailed,
    qmail,
)

PEOPLE = ["alice@example.com", "bob@example.com", "carol@example.com", "dave@example.com",
          "erin@example.com", "frank@example.com"]
SUMMARY = re.compile(
    r"(?P<read>\d+) messages read \((?P<seen>\d+) already seen\): (?P<hard>\d+) hard bounces, "
    r"(?P<soft>\d+) soft bounces, (?P<complaints>\d+) complaints, (?P<delays>\d+) delay notices, "
    r"(?P<other>\d+) not bounces, (?P<unreadable>\d+) unreadable; (?P<bounced>\d+) subscriber\(s\) "
    r"marked bounced, (?P<unsubscribed>\d+) unsubscribed after a complaint, (?P<counted>\d+) soft "
    r"bounces counted, (?P<nobody>\d+) for nobody on the list; not acted on: "
    r"(?P<unverified>\d+) unverified, (?P<forged>\d+) forged, (?P<other_list>\d+) for another "
    r"list\.$"
)


@pytest.fixture
def server() -> Iterator[Server]:
    srv = Server().start()
    yield srv
    srv.stop()


@pytest.fixture(autouse=True)
def secret(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PUBLISHER_SECRET", SECRET)


def statuses(config: Config) -> dict[str, tuple[str, int]]:
    with sqlite3.connect(config.state_file) as conn:
        rows = conn.execute("SELECT email, status, failures FROM subscribers")
        return {r[0]: (r[1], r[2]) for r in rows}


def outcomes(config: Config) -> dict[str, tuple[str, str]]:
    """Every report message recorded: its key -> (kind, outcome)."""
    with sqlite3.connect(config.state_file) as conn:
        rows = conn.execute("SELECT key, kind, outcome FROM bounce_messages")
        return {r[0]: (r[1], r[2]) for r in rows}


def read_mailbox(site: Path, folder: Path) -> dict[str, int]:
    proc = run_cli(site, "bounces", "--maildir", str(folder), "--now", NOW.isoformat())
    assert proc.returncode == 0, proc.stderr
    found = SUMMARY.search(proc.stdout.strip())
    assert found is not None, proc.stdout
    return {k: int(v) for k, v in found.groupdict().items()}


def header(message: bytes, name: str) -> str:
    for line in headers_of(message).decode("ascii").split("\r\n"):
        if line.lower().startswith(name.lower() + ":"):
            return line.partition(":")[2].strip()
    raise AssertionError(f"no {name} header")


# -- 1: forged reports --------------------------------------------------------------


def test_forged_reports_change_nobody(tmp_path: Path, server: Server) -> None:
    config = mailed(tmp_path, server, PEOPLE)
    sent = dict(server.recorder.messages)
    carol_verp = server.recorder.senders["carol@example.com"]
    token = re.search(r"token=([A-Za-z0-9_.-]+)", header(sent["alice@example.com"],
                                                          "List-Unsubscribe"))
    assert token is not None
    tampered = token[1][:-3] + ("AAA" if not token[1].endswith("AAA") else "BBB")
    before = statuses(config)
    folder = maildir_with(tmp_path / "Maildir", [
        # To the plain bounce address, naming alice with 5.1.1.
        dsn(BOUNCES, "alice@example.com", lookalike("alice@example.com"), msg_id="f1@evil.test"),
        # To a VERP address with a wrong MAC (the old form, then the new one).
        dsn("bounces+2-1-0000000000000000@news.example.org", "bob@example.com",
            lookalike("bob@example.com"), msg_id="f2@evil.test"),
        dsn(carol_verp[:-len("@news.example.org") - 16] + "0123456789abcdef@news.example.org",
            "carol@example.com", lookalike("carol@example.com"), msg_id="f3@evil.test"),
        # qmail's and Exim's plain-text bounces naming erin and frank.
        qmail(BOUNCES, "erin@example.com", lookalike("erin@example.com")),
        exim(BOUNCES, "frank@example.com", lookalike("frank@example.com")),
        # A complaint naming dave only in Original-Rcpt-To.
        arf(BOUNCES, "dave@example.com", lookalike("dave@example.com")),
        # Alice's own unsubscribe token, altered.
        dsn(BOUNCES, "alice@example.com", lookalike(
            "alice@example.com",
            f"List-Unsubscribe: <https://news.example.org/unsubscribe?token={tampered}>\n"),
            msg_id="f4@evil.test"),
        # Someone who is not on the list at all.
        dsn(BOUNCES, "zed@example.com", lookalike("zed@example.com"), msg_id="f5@evil.test"),
    ])
    counts = read_mailbox(tmp_path, folder)
    assert statuses(config) == before
    assert (counts["hard"], counts["complaints"]) == (7, 1)
    assert (counts["bounced"], counts["unsubscribed"], counts["counted"]) == (0, 0, 0)
    assert (counts["unverified"], counts["forged"], counts["other_list"]) == (5, 3, 0)
    assert outcomes(config) == {
        "<f1@evil.test>": ("hard", "unverified"),
        "<f2@evil.test>": ("hard", "forged"),
        "<f3@evil.test>": ("hard", "forged"),
        "<qmail-1@mx.example.net>": ("hard", "unverified"),
        "<E1exim-0001@mx.example.net>": ("hard", "unverified"),
        "<arf-1@fbl.example.net>": ("complaint", "unverified"),
        "<f4@evil.test>": ("hard", "forged"),
        "<f5@evil.test>": ("hard", "unverified"),
    }


def test_genuine_reports_in_every_format_still_work(tmp_path: Path, server: Server) -> None:
    config = mailed(tmp_path, server, PEOPLE)
    sent = dict(server.recorder.messages)
    verp = server.recorder.senders
    run_cli(tmp_path, "subscribers", "remove", "frank@example.com", check=True)
    folder = maildir_with(tmp_path / "Maildir", [
        # Through the VERP address: DSN, qmail (the whole message), Exim.
        dsn(verp["alice@example.com"], "alice@example.com", sent["alice@example.com"]),
        qmail(verp["bob@example.com"], "bob@example.com", sent["bob@example.com"]),
        exim(verp["carol@example.com"], "carol@example.com",
             headers_of(sent["carol@example.com"])),
        # To the plain address, but returning the message: its Message-ID and token prove it.
        arf(BOUNCES, "", sent["dave@example.com"]),
        dsn(BOUNCES, "erin@example.com", sent["erin@example.com"], msg_id="e@mx.example.com"),
        # Genuine, for someone removed since.
        dsn(verp["frank@example.com"], "frank@example.com", sent["frank@example.com"],
            msg_id="f@mx.example.com"),
    ])
    counts = read_mailbox(tmp_path, folder)
    after = statuses(config)
    assert after == {
        "alice@example.com": ("bounced", 0), "bob@example.com": ("bounced", 0),
        "carol@example.com": ("bounced", 0), "dave@example.com": ("unsubscribed", 0),
        "erin@example.com": ("bounced", 0),
    }
    assert (counts["bounced"], counts["unsubscribed"], counts["nobody"]) == (4, 1, 1)
    assert (counts["unverified"], counts["forged"], counts["other_list"]) == (0, 0, 0)
    assert {o for _k, o in outcomes(config).values()} == {"verified"}


def test_without_return_path_the_returned_message_id_decides(
    tmp_path: Path, server: Server
) -> None:
    config = mailed(tmp_path, server, ["alice@example.com", "bob@example.com"], return_path="")
    sent = dict(server.recorder.messages)
    assert server.recorder.senders["alice@example.com"] == "news@news.example.org"
    folder = maildir_with(tmp_path / "Maildir", [
        dsn("news@news.example.org", "alice@example.com", sent["alice@example.com"]),
        dsn("news@news.example.org", "bob@example.com", lookalike("bob@example.com"),
            msg_id="forged@evil.test"),
    ])
    counts = read_mailbox(tmp_path, folder)
    assert statuses(config) == {
        "alice@example.com": ("bounced", 0), "bob@example.com": ("active", 0),
    }
    assert (counts["bounced"], counts["unverified"]) == (1, 1)


# -- 2: two lists, one secret, one mailbox -----------------------------------------------


def test_two_lists_sharing_a_secret_and_a_mailbox_stay_apart(tmp_path: Path) -> None:
    sites, servers, configs = {}, {}, {}
    for name in ("a", "b"):
        sites[name] = tmp_path / name
        sites[name].mkdir()
        servers[name] = Server().start()
    try:
        for name in ("a", "b"):
            configs[name] = mailed(sites[name], servers[name], ["alice@example.com"])
    finally:
        for srv in servers.values():
            srv.stop()
    sent = {n: dict(s.recorder.messages)["alice@example.com"] for n, s in servers.items()}
    verp = {n: s.recorder.senders["alice@example.com"] for n, s in servers.items()}
    # The same subscriber id and digest id on both lists, and yet nothing alike.
    assert verp["a"] != verp["b"]
    for name in ("Message-ID", "List-Id", "List-Unsubscribe"):
        assert header(sent["a"], name) != header(sent["b"], name), name
    # B's genuine reports reach the mailbox both lists read.
    folder = maildir_with(tmp_path / "Maildir", [
        dsn(verp["b"], "alice@example.com", sent["b"], msg_id="b-hard@mx.example.com"),
        arf(BOUNCES, "alice@example.com", sent["b"], msg_id="b-arf@fbl.example.net"),
    ])
    on_a = read_mailbox(sites["a"], folder)
    assert statuses(configs["a"]) == {"alice@example.com": ("active", 0)}
    assert (on_a["bounced"], on_a["unsubscribed"], on_a["other_list"]) == (0, 0, 2)
    on_b = read_mailbox(sites["b"], folder)
    assert statuses(configs["b"]) == {"alice@example.com": ("unsubscribed", 0)}
    assert (on_b["bounced"], on_b["unsubscribed"], on_b["other_list"]) == (1, 1, 0)
    # B's unsubscribe link does nothing on A, says why, and works on B.
    link = re.search(r"<(https://[^>]+)>", header(sent["b"], "List-Unsubscribe"))
    assert link is not None
    refused = run_cli(sites["a"], "unsubscribe", link[1])
    assert refused.returncode == 1 and "another list" in refused.stderr
    assert statuses(configs["a"]) == {"alice@example.com": ("active", 0)}


# -- mail sent before lists had keys ------------------------------------------------------


def old_verp(subscriber_id: int, digest_id: int) -> str:
    """The VERP address before list keys: HMAC with the bare secret."""
    message = b"publisher-verp-v1\x00" + f"{subscriber_id}\x00{digest_id}".encode()
    mac = hmac.new(SECRET.encode(), message, hashlib.sha256).hexdigest()[:16]
    return f"bounces+{subscriber_id}-{digest_id}-{mac}@news.example.org"


def old_message_id(config: Config, subscriber: str) -> str:
    """The Message-ID before list keys, of digest 1 for `subscriber`."""
    with sqlite3.connect(config.state_file) as conn:
        salt = conn.execute("SELECT value FROM meta WHERE key = 'install.salt'").fetchone()[0]
        slug = conn.execute("SELECT slug FROM digests WHERE id = 1").fetchone()[0]
    seed = f"{salt}\x00Example News <digest.news.example.org>\x001\x00{slug}\x00{subscriber}"
    return f"<{slug}.{hashlib.sha256(seed.encode()).hexdigest()[:32]}@news.example.org>"


def old_token(address: str) -> str:
    mac = hmac.new(SECRET.encode(), b"publisher-unsubscribe-v1\x00" + address.encode(),
                   hashlib.sha256).digest()[:16]
    import base64

    def b64(data: bytes) -> str:
        return base64.urlsafe_b64encode(data).rstrip(b"=").decode()

    return f"{b64(address.encode())}.{b64(mac)}"


def test_mail_sent_before_lists_had_keys_still_works_there_only(
    tmp_path: Path, server: Server
) -> None:
    people = ["alice@example.com", "bob@example.com", "carol@example.com"]
    config = make_site(tmp_path, {"transport": "smtp", "return_path": BOUNCES},
                       smtp_table(server.port))
    legacy_store(config, people)
    pipeline.publish(config, NOW)
    assert len(server.recorder.messages) == 3
    # Reports for mail sent before the upgrade: the old VERP address is not
    # enough (another list sharing the secret made the same), the old
    # Message-ID (hashed with this store's salt) is.
    proven = lookalike("alice@example.com", msg_id=old_message_id(config, "alice@example.com"))
    folder = maildir_with(tmp_path / "Maildir", [
        dsn(old_verp(1, 1), "alice@example.com", proven, msg_id="old-1@mx.example.com"),
        dsn(old_verp(2, 1), "bob@example.com", lookalike("bob@example.com"),
            msg_id="old-2@mx.example.com"),
    ])
    counts = read_mailbox(tmp_path, folder)
    assert statuses(config) == {
        "alice@example.com": ("bounced", 0), "bob@example.com": ("active", 0),
        "carol@example.com": ("active", 0),
    }
    assert (counts["bounced"], counts["unverified"]) == (1, 1)
    # An old unsubscribe link still works here...
    run_cli(tmp_path, "unsubscribe", old_token("carol@example.com"), check=True)
    assert statuses(config)["carol@example.com"] == ("unsubscribed", 0)
    # ...but not on a list made since, which never made one.
    fresh = tmp_path / "fresh"
    fresh.mkdir()
    fresh_config = make_site(fresh)
    add_subscribers(fresh_config, people)
    refused = run_cli(fresh, "unsubscribe", old_token("carol@example.com"))
    assert refused.returncode == 1 and "not made by this list" in refused.stderr
    on_fresh = read_mailbox(fresh, folder)
    # Old-form VERP addresses that verify with the shared secret, on a list
    # that never made one: another list's.
    assert (on_fresh["bounced"], on_fresh["other_list"], on_fresh["unverified"]) == (0, 2, 0)
    assert {s for s, _f in statuses(fresh_config).values()} == {"active"}


# -- 4: the order reports are read in -----------------------------------------------------


READERS = ["r0@example.com", "r1@example.com", "r2@example.com"]


@pytest.fixture(scope="module")
def four_digests(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Config, list[bytes]]]:
    """Four digests sent to three readers, and reports about them: soft
    bounces with gaps, a run long enough, a duplicate, a hard bounce, a
    complaint, a delay, a forgery."""
    site = tmp_path_factory.mktemp("order")
    srv = Server().start()
    mp = pytest.MonkeyPatch()
    mp.setenv("PUBLISHER_SECRET", SECRET)
    try:
        config = make_site(site, {"transport": "smtp", "return_path": BOUNCES,
                                  "max_failures": 3}, smtp_table(srv.port))
        add_subscribers(config, READERS)
        mail: dict[tuple[int, str], tuple[str, bytes]] = {}
        for n in range(1, 5):
            if n > 1:
                write_post(site, f"later-{n}", f"Later {n}", f"2026-03-0{n}T09:00:00")
            srv.recorder.messages.clear()
            pipeline.publish(config, NOW + timedelta(days=n - 1, hours=3))
            for rcpt, data in srv.recorder.messages:
                mail[(n, rcpt)] = (srv.recorder.senders[rcpt], data)
    finally:
        srv.stop()
        mp.undo()

    def report(n: int, who: int, kind: str, copy: str = "") -> bytes:
        envelope, data = mail[(n, READERS[who])]
        msg_id = f"{kind}-{n}-{who}{copy}@mx.example.com"
        if kind == "complaint":
            return arf(BOUNCES, READERS[who], data, msg_id=msg_id)
        status = {"soft": "4.2.2", "hard": "5.1.1", "delay": "4.4.1"}[kind]
        action = "delayed" if kind == "delay" else "failed"
        return dsn(envelope, READERS[who], data, status=status, msg_id=msg_id, action=action)

    reports = [
        report(1, 0, "soft"), report(2, 0, "soft"), report(4, 0, "soft"),  # runs of 2 and 1
        report(2, 1, "soft"), report(3, 1, "soft"), report(4, 1, "soft"),  # a run of 3
        report(3, 1, "soft", copy="-again"),  # the same bounce delivered twice
        report(1, 2, "soft"), report(3, 2, "hard"), report(4, 2, "complaint"),
        report(2, 2, "delay"),
        dsn(BOUNCES, READERS[0], lookalike(READERS[0]), msg_id="forged@evil.test"),
    ]
    yield config, reports


Snapshot = tuple[list[Any], list[Any], list[Any]]


def _state_after(config: Config, template: Path, batches: list[list[bytes]]) -> Snapshot:
    with tempfile.TemporaryDirectory() as folder:
        copy = Path(folder) / "state.db"
        with sqlite3.connect(template) as src, sqlite3.connect(copy) as dst:
            src.backup(dst)
        state = Store.open(copy)
        try:
            for batch in batches:  # each batch as one run of `publisher bounces`
                bounces.process(config, state, batch, NOW, "test")
            conn = state._conn
            return (
                sorted(conn.execute("SELECT email, status, failures FROM subscribers")),
                sorted(conn.execute("SELECT subscriber_id, digest_id, kind FROM bounce_events")),
                sorted(conn.execute("SELECT key, kind FROM bounce_messages")),
            )
        finally:
            state.close()


@settings(max_examples=40, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(data=st.data())
def test_the_order_reports_are_read_in_changes_nothing(
    four_digests: tuple[Config, list[bytes]], data: st.DataObject
) -> None:
    config, reports = four_digests
    template = config.state_file
    expected = _state_after(config, template, [reports])
    subscribers = {e: (s, f) for e, s, f in expected[0]}
    # The figures the reports mean, read in the order they were written.
    assert subscribers == {
        READERS[0]: ("active", 1),  # 1, 2 bounced, 3 did not, 4 did: a run of 1 now
        READERS[1]: ("bounced", 3),  # 2, 3, 4: max_failures in a row
        READERS[2]: ("unsubscribed", 0),  # the complaint wins over the hard bounce
    }
    order = data.draw(st.permutations(reports))
    cut = data.draw(st.integers(0, len(order)))
    assert _state_after(config, template, [order[:cut], order[cut:]]) == expected


# -- 11, 12: odd, huge and pathological messages ---------------------------------------------


def test_odd_messages_are_recorded_once_and_jam_nothing(tmp_path: Path, server: Server) -> None:
    config = mailed(tmp_path, server, ["alice@example.com", "bob@example.com"])
    sent = dict(server.recorder.messages)
    envelope = server.recorder.senders["alice@example.com"]
    genuine = dsn(envelope, "alice@example.com", sent["alice@example.com"])
    folder = maildir_with(tmp_path / "Maildir", [*JUNK.values(), genuine])
    first = read_mailbox(tmp_path, folder)
    assert statuses(config)["alice@example.com"] == ("bounced", 0)
    assert first["read"] == len(JUNK) + 1 and first["hard"] == 1
    assert first["other"] + first["unreadable"] == len(JUNK)
    again = read_mailbox(tmp_path, folder)
    assert (again["read"], again["seen"]) == (len(JUNK) + 1, len(JUNK) + 1)
    assert len(outcomes(config)) == len(JUNK) + 1


def test_huge_and_pathological_reports_are_read(tmp_path: Path, server: Server) -> None:
    """A 300 KB run of address characters once took minutes (a backtracking
    pattern); a message past the size cap is recorded unread. run_cli's
    timeout (120 s) is the guard: this takes well under a second."""
    config = mailed(tmp_path, server, ["alice@example.com"])
    sent = dict(server.recorder.messages)
    envelope = server.recorder.senders["alice@example.com"]
    run = "x" * 300_000
    pathological = dsn(envelope, "alice@example.com", lookalike(
        "alice@example.com", f"X-Junk: {run}+1-1-{run}\n"), msg_id="junk@mx.example.com")
    huge = dsn(BOUNCES, "alice@example.com", lookalike("alice@example.com",
               "X-Pad: " + "y" * (bounces.MAX_REPORT + 10) + "\n"), msg_id="huge@evil.test")
    folder = maildir_with(tmp_path / "Maildir", [pathological, huge])
    counts = read_mailbox(tmp_path, folder)
    # The pathological one went to alice's real VERP address: it proves itself.
    assert statuses(config) == {"alice@example.com": ("bounced", 0)}
    assert (counts["hard"], counts["unreadable"]) == (1, 1)
    assert sent


def test_a_message_read_before_is_not_parsed_again(
    tmp_path: Path, server: Server, monkeypatch: pytest.MonkeyPatch
) -> None:
    config = mailed(tmp_path, server, ["alice@example.com"])
    sent = dict(server.recorder.messages)
    envelope = server.recorder.senders["alice@example.com"]
    reports = [dsn(envelope, "alice@example.com", sent["alice@example.com"]), *JUNK.values()]
    parsed: list[bytes] = []
    real = bounces.classify

    def counting(raw: bytes, *args: Any, **kwargs: Any) -> bounces.Report:
        parsed.append(raw)
        return real(raw, *args, **kwargs)

    monkeypatch.setattr(bounces, "classify", counting)
    state = Store.open(config.state_file)
    try:
        first = bounces.process(config, state, reports, NOW, "test")
        assert len(parsed) == len(reports) and first.repeated == 0
        parsed.clear()
        second = bounces.process(config, state, reports, NOW, "test")
        assert parsed == [] and second.repeated == len(reports)
    finally:
        state.close()
