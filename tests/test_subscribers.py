"""The subscriber list: validation, de-duplication, import/export, and its CLI."""

from __future__ import annotations

import csv
import io
import sqlite3
from collections.abc import Iterator
from pathlib import Path

import pytest

from publisher.errors import SubscriberError
from publisher.store import subscribers as subs
from publisher.store.store import Store

from .delivery_support import NOW, make_site, run_cli


@pytest.fixture
def store(tmp_path: Path) -> Iterator[Store]:
    with Store.open(tmp_path / "state.db") as opened:
        yield opened


@pytest.mark.parametrize(
    ("given", "stored"),
    [
        ("Ann@Example.COM", "Ann@example.com"),
        ("  o'brien+news@mail.example.org ", "o'brien+news@mail.example.org"),
        ("x@bücher.example", "x@xn--bcher-kva.example"),
        ("first.last@sub-domain.example.co.uk", "first.last@sub-domain.example.co.uk"),
    ],
)
def test_valid_addresses_are_normalised(given: str, stored: str) -> None:
    assert subs.normalise(given) == stored


@pytest.mark.parametrize(
    "bad",
    [
        "", "plain", "a@b", "two@@example.com", "a@example..com", ".a@example.com",
        "a..b@example.com", "a b@example.com", "a@-example.com", "a@example.com\nBcc: x@y.z",
        "Ann <ann@example.com>", "a@example.123", "ü@example.com", "a,b@example.com",
    ],
)
def test_invalid_addresses_are_refused(bad: str) -> None:
    with pytest.raises(SubscriberError):
        subs.normalise(bad)


def test_dedupe_is_case_insensitive_keeping_the_address_as_written(
    store: Store,
) -> None:
    first, added = store.subscribers.add("Ann@Example.com", "Ann", NOW)
    assert added
    same, added_again = store.subscribers.add("Ann@EXAMPLE.COM", "Other", NOW)
    assert not added_again and same.id == first.id and same.name == "Ann"
    other, added_other = store.subscribers.add("ann@example.com", "", NOW)
    assert not added_other and other.id == first.id
    # Sent to as first written; found by any spelling.
    assert [s.email for s in store.subscribers.listing()] == ["Ann@example.com"]
    assert store.subscribers.by_key("ANN@example.COM") == first


def test_unsubscribed_is_not_quietly_readded(store: Store) -> None:
    ann, _ = store.subscribers.add("ann@example.com", "Ann", NOW)
    store.subscribers.unsubscribe_key(ann.key, NOW)
    again, changed = store.subscribers.add("ann@example.com", "", NOW)
    assert not changed and again.status == "unsubscribed"
    back, changed = store.subscribers.add("ann@example.com", "", NOW, resubscribe=True)
    assert changed and back.status == "active" and back.name == "Ann"


def test_names_are_one_line(store: Store) -> None:
    sub, _ = store.subscribers.add("eve@example.com", "Eve\r\nBcc: x@example.net\t ", NOW)
    assert sub.name == "Eve Bcc: x@example.net"
    with pytest.raises(SubscriberError, match="name longer"):
        store.subscribers.add("long@example.com", "x" * 201, NOW)


def test_import_names_bad_lines_and_imports_the_rest(
    store: Store, tmp_path: Path
) -> None:
    path = tmp_path / "list.csv"
    path.write_text(
        "\ufeffemail,name,status\n"
        "ann@example.com,Ann,active\n"
        "not-an-address,Bad,active\n"
        "\n"
        "bob@Example.org,\"Bob, Jr.\",\n"
        "carol@example.net,Carol,unsubscribed\n"
        "dave@example.net,Dave,sleeping\n"
        "ann@EXAMPLE.COM,Dup,active\n",
        encoding="utf-8",
    )
    result = store.subscribers.import_csv(path, NOW)
    assert (result.added, result.unchanged) == (3, 1)
    assert len(result.problems) == 2
    assert result.problems[0].startswith("list.csv:3: 'not-an-address'")
    assert result.problems[1].startswith("list.csv:7: unknown status 'sleeping'")
    listed = {s.email: (s.name, s.status) for s in store.subscribers.listing()}
    assert listed == {
        "ann@example.com": ("Ann", "active"),
        "bob@example.org": ("Bob, Jr.", "active"),
        "carol@example.net": ("Carol", "unsubscribed"),
    }
    before = store.subscribers.export_csv()
    twice = store.subscribers.import_csv(path, NOW)
    assert (twice.added, twice.unchanged) == (0, 4)
    assert store.subscribers.export_csv() == before


def test_import_never_resubscribes(store: Store, tmp_path: Path) -> None:
    ann, _ = store.subscribers.add("ann@example.com", "Ann", NOW)
    store.subscribers.unsubscribe_key(ann.key, NOW)
    path = tmp_path / "old.csv"
    path.write_text("ann@example.com,Ann\nbob@example.com,Bob\n", encoding="utf-8")
    result = store.subscribers.import_csv(path, NOW)  # no header row: email,name
    assert (result.added, result.unchanged, result.problems) == (1, 1, ())
    assert store.subscribers.find("ann@example.com").status == "unsubscribed"  # type: ignore[union-attr]


def test_export_round_trips(store: Store, tmp_path: Path) -> None:
    store.subscribers.add("ann@example.com", "Ann, \"the\" reader", NOW)
    bob, _ = store.subscribers.add("bob@example.com", "", NOW)
    store.subscribers.set_status(bob.id, "bounced", NOW)
    text = store.subscribers.export_csv()
    rows = list(csv.reader(io.StringIO(text)))
    assert rows == [
        ["email", "name", "status"],
        ["ann@example.com", 'Ann, "the" reader', "active"],
        ["bob@example.com", "", "bounced"],
    ]
    other = Store.open(tmp_path / "other.db")
    try:
        (tmp_path / "x.csv").write_text(text, encoding="utf-8")
        other.subscribers.import_csv(tmp_path / "x.csv", NOW)
        assert other.subscribers.export_csv() == text
    finally:
        other.close()


def test_remove_deletes_subscriber_and_history(store: Store) -> None:
    ann, _ = store.subscribers.add("ann@example.com", "Ann", NOW)
    store._conn.execute(
        "INSERT INTO digests (slug, issued_at, cutoff, subject, html, text) "
        "VALUES ('d', 'x', 'x', 's', 'h', 't')"
    )
    store._conn.execute("INSERT INTO sends (digest_id, subscriber_id) VALUES (1, ?)", (ann.id,))
    store.subscribers.remove("ann@EXAMPLE.com")
    assert store.subscribers.listing() == []
    assert store._conn.execute("SELECT COUNT(*) FROM sends").fetchone()[0] == 0
    with pytest.raises(SubscriberError, match="not on the list"):
        store.subscribers.remove("ann@example.com")


def test_cli_add_list_import_export_remove(tmp_path: Path) -> None:
    config = make_site(tmp_path)
    added = run_cli(tmp_path, "subscribers", "add", "Ann@Example.com", "--name", "Ann")
    assert added.returncode == 0 and added.stdout == "Subscribed: Ann@example.com.\n"
    bad = run_cli(tmp_path, "subscribers", "add", "nope")
    assert bad.returncode == 1 and "error: 'nope'" in bad.stderr
    (tmp_path / "in.csv").write_text("email,name\nbob@example.org,Bob\nbroken@,X\n")
    imported = run_cli(tmp_path, "subscribers", "import", "in.csv")
    assert imported.returncode == 3
    assert "in.csv:3:" in imported.stderr and "1 added" in imported.stdout
    listed = run_cli(tmp_path, "subscribers", "list", check=True)
    assert [line.split()[:2] for line in listed.stdout.splitlines()] == [
        ["Ann@example.com", "active"], ["bob@example.org", "active"]
    ]
    exported = run_cli(tmp_path, "subscribers", "export", "-o", "out.csv", check=True)
    assert exported.stdout == ""
    assert (tmp_path / "out.csv").read_text().splitlines() == [
        "email,name,status", "Ann@example.com,Ann,active", "bob@example.org,Bob,active"
    ]
    assert (tmp_path / "out.csv").stat().st_mode & 0o077 == 0
    run_cli(tmp_path, "subscribers", "remove", "bob@EXAMPLE.org", check=True)
    listed = run_cli(tmp_path, "subscribers", "list", check=True)
    assert "bob@example.org" not in listed.stdout
    assert not any(config.out_dir.rglob("*.db"))


def test_every_delivery_command_has_help() -> None:
    from click.testing import CliRunner

    from publisher.cli import cli

    runner = CliRunner()
    for args in (["subscribers"], ["subscribers", "add"], ["subscribers", "remove"],
                 ["subscribers", "list"], ["subscribers", "import"], ["subscribers", "export"],
                 ["unsubscribe"], ["send"], ["digest"]):
        result = runner.invoke(cli, [*args, "--help"], catch_exceptions=False)
        assert result.exit_code == 0
        assert len(result.output.split("\n\n")[1].strip()) > 10, args
    assert "--test-to ADDRESS" in runner.invoke(cli, ["digest", "--help"]).output


# --- exports people bring, typos, merging duplicates ---------------------------


MAILCHIMP = (
    '"Email Address","First Name","Last Name",Address,"Phone Number",MEMBER_RATING,'
    "OPTIN_TIME,OPTIN_IP,CONFIRM_TIME,CONFIRM_IP,LATITUDE,LONGITUDE,GMTOFF,DSTOFF,TIMEZONE,"
    "CC,REGION,LAST_CHANGED,LEID,EUID,NOTES,TAGS,UNSUB_TIME,UNSUB_CAMPAIGN_TITLE\n"
    'ann@example.com,Ann,Lee,,,2,"2024-01-02 10:00:00",,,,,,,,,,,,1,a1,,,,\n'
    'bob@example.com,Bob,,,,2,,,,,,,,,,,,,2,b2,,,"2025-05-01 08:00:00","May news"\n'
)
SUBSTACK = (
    "email,active_subscription,expiry,plan,email_disabled,created_at,first_payment_at\n"
    "cy@example.com,false,,,false,2024-03-03T00:00:00.000Z,\n"
    "dee@example.com,true,2026-01-01,yearly,true,2024-03-04T00:00:00.000Z,2024-03-04\n"
)
BUTTONDOWN = (
    "id,email,notes,metadata,tags,creation_date,subscriber_type,secondary_id\n"
    "1,eve@example.com,,{},[],2024-01-01,regular,1\n"
    "2,fay@example.com,,{},[],2024-01-01,unsubscribed,2\n"
    "3,gus@example.com,,{},[],2024-01-01,undeliverable,3\n"
    "4,hal@example.com,,{},[],2024-01-01,unactivated,4\n"
)
LISTMONK = (
    "uuid,email,name,attributes,status,created_at,updated_at\n"
    '5a1b,ida@example.com,Ida Bell,"{""city"": ""Oslo""}",enabled,2024-01-01,2024-01-01\n'
    "5a1c,jo@example.com,Jo,{},blocklisted,2024-01-01,2024-01-01\n"
)


@pytest.mark.parametrize(
    ("text", "expected", "ignored"),
    [
        (MAILCHIMP, {"ann@example.com": ("Ann Lee", "Ann", "active"),
                     "bob@example.com": ("Bob", "Bob", "unsubscribed")}, 20),
        (SUBSTACK, {"cy@example.com": ("", "", "active"),
                    "dee@example.com": ("", "", "unsubscribed")}, 5),
        (BUTTONDOWN, {"eve@example.com": ("", "", "active"),
                      "fay@example.com": ("", "", "unsubscribed"),
                      "gus@example.com": ("", "", "bounced"),
                      "hal@example.com": ("", "", "pending")}, 6),
        (LISTMONK, {"ida@example.com": ("Ida Bell", "", "active"),
                    "jo@example.com": ("Jo", "", "unsubscribed")}, 4),
    ],
    ids=["mailchimp", "substack", "buttondown", "listmonk"],
)
def test_exports_of_other_tools_import_by_header_name(
    store: Store, tmp_path: Path, text: str,
    expected: dict[str, tuple[str, str, str]], ignored: int,
) -> None:
    path = tmp_path / "export.csv"
    path.write_text(text, encoding="utf-8")
    result = store.subscribers.import_csv(path, NOW)
    assert result.problems == ()
    assert result.added == len(expected)
    (warning,) = result.warnings  # one line for every unused column
    assert warning.startswith(f"export.csv: {ignored} column(s) not imported: ")
    rows = store._conn.execute("SELECT email, name, first_name, status FROM subscribers")
    assert {r[0]: (r[1], r[2], r[3]) for r in rows} == expected


def test_a_typo_in_a_well_known_domain_is_a_warning_with_the_fix(
    store: Store, tmp_path: Path
) -> None:
    path = tmp_path / "list.csv"
    path.write_text("email,name\nann@gmail.con,Ann\nbob@hotmial.com,Bob\ncy@ymail.com,Cy\n",
                    encoding="utf-8")
    result = store.subscribers.import_csv(path, NOW)
    assert result.added == 3  # a warning, not a refusal
    assert result.warnings == (
        "list.csv:2: ann@gmail.con: the domain looks like a typo of gmail.com "
        "(did you mean ann@gmail.com?)",
        "list.csv:3: bob@hotmial.com: the domain looks like a typo of hotmail.com "
        "(did you mean bob@hotmail.com?)",
    )


def test_a_typo_check_is_the_same_with_the_length_filter_and_the_cache() -> None:
    """likely_fix skips domains whose length differs by more than one (no single
    edit can bridge that) and remembers its answers: the same answers as
    comparing with every well-known domain."""
    from publisher.store import domains

    def brute(domain: str) -> str | None:
        domain = domain.lower().rstrip(".")
        if domain in domains.WELL_KNOWN:
            return None
        found = sorted(d for d in domains.WELL_KNOWN if domains._one_edit(domain, d))
        return found[0] if len(found) == 1 else None

    tried = set()
    for known in domains.WELL_KNOWN:
        for i in range(len(known) + 1):
            tried.add(known[:i] + "x" + known[i:])  # one added
            tried.add(known[:i] + known[i + 1 :])  # one dropped
            tried.add(known[:i] + "q" + known[i + 1 :])  # one changed
            tried.add(known[:i] + known[i + 1 : i + 2] + known[i : i + 1] + known[i + 2 :])
    tried |= {"example.org", "GMAIL.CON.", "gmail.com", "", "a", "x" * 40}
    for domain in sorted(tried):
        assert domains.likely_fix(domain) == brute(domain), domain
        assert domains.likely_fix(domain) == brute(domain), domain  # from the cache


def test_no_whitespace_or_control_character_is_allowed_in_an_address() -> None:
    """normalise refuses what str.isspace() calls whitespace and C0/DEL controls,
    checked with one regular expression: the same set, every code point."""
    for code in range(0x110000):
        char = chr(code)
        refused = char.isspace() or code < 0x20 or code == 0x7F
        assert (subs._SPACE_OR_CONTROL.search(char) is not None) == refused, hex(code)
    with pytest.raises(SubscriberError, match="spaces or control characters"):
        subs.normalise("ann\u2003@example.com")  # an em space


def test_the_migration_merges_duplicates_by_case_safely(tmp_path: Path) -> None:
    """A store from before local parts were compared case-insensitively."""
    from publisher.store.state import MIGRATIONS, migrate

    path = tmp_path / "state.db"
    old = sqlite3.connect(path, isolation_level=None)
    old.execute("CREATE TABLE migrations (name TEXT PRIMARY KEY, applied_at TEXT NOT NULL)")
    for name, sql in MIGRATIONS:
        if name >= "0007":
            break
        for statement in sql.split(";"):
            if statement.strip():
                old.execute(statement)
        old.execute("INSERT INTO migrations VALUES (?, 'then')", (name,))
    old.executescript(
        """
        INSERT INTO subscribers (id, email, email_key, name, status, failures, created_at,
            updated_at) VALUES
            (1, 'Ann@example.com', 'Ann@example.com', '', 'active', 0, 't', 't'),
            (2, 'ann@example.com', 'ann@example.com', 'Ann', 'unsubscribed', 1, 't', 't'),
            (3, 'bob@example.com', 'bob@example.com', 'Bob', 'active', 0, 't', 't'),
            (4, 'BOB@example.com', 'BOB@example.com', '', 'active', 2, 't', 't');
        INSERT INTO digests (id, slug, issued_at, cutoff, subject, html, text)
            VALUES (1, 'd1', 't', 't', 's', 'h', 't'), (2, 'd2', 't', 't', 's', 'h', 't');
        INSERT INTO sends (digest_id, subscriber_id, status, sent_at) VALUES
            (1, 1, 'pending', NULL), (1, 2, 'sent', 'then'),
            (1, 3, 'sent', 'then'), (1, 4, 'sent', 'then'), (2, 4, 'pending', NULL);
        """
    )
    migrate(old)
    rows = old.execute(
        "SELECT id, email, email_key, name, status, failures FROM subscribers ORDER BY id"
    ).fetchall()
    # The oldest row stays, with its address as written; the safest status wins.
    assert rows == [
        (1, "Ann@example.com", "ann@example.com", "Ann", "unsubscribed", 1),
        (3, "bob@example.com", "bob@example.com", "Bob", "active", 2),
    ]
    sends = old.execute(
        "SELECT digest_id, subscriber_id, status FROM sends ORDER BY digest_id, subscriber_id"
    ).fetchall()
    # A digest one copy went out for stays sent: nobody gets it twice.
    assert sends == [(1, 1, "sent"), (1, 3, "sent"), (2, 3, "pending")]
    assert old.execute("PRAGMA foreign_key_check").fetchall() == []
    old.close()


def test_state_and_outbox_are_private(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import stat

    from publisher.app import pipeline

    from .delivery_support import SECRET, add_subscribers

    monkeypatch.setenv("PUBLISHER_SECRET", SECRET)
    config = make_site(tmp_path)
    add_subscribers(config, ["ann@example.com"])
    pipeline.publish(config, NOW)

    def mode(path: Path) -> int:
        return stat.S_IMODE(path.stat().st_mode)

    assert mode(config.state_file) == 0o600
    assert mode(config.state_dir) == 0o700
    outbox = config.resolve(".publisher/outbox")
    assert mode(outbox) == 0o700
    assert {mode(f) for f in outbox.iterdir()} == {0o600}
