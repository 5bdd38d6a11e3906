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
from publisher.store.state import open_state

from .delivery_support import NOW, make_site, run_cli


@pytest.fixture
def conn(tmp_path: Path) -> Iterator[sqlite3.Connection]:
    state = open_state(tmp_path / "state.db")
    yield state.conn
    state.close()


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
    conn: sqlite3.Connection,
) -> None:
    first, added = subs.add(conn, "Ann@Example.com", "Ann", NOW)
    assert added
    same, added_again = subs.add(conn, "Ann@EXAMPLE.COM", "Other", NOW)
    assert not added_again and same.id == first.id and same.name == "Ann"
    other, added_other = subs.add(conn, "ann@example.com", "", NOW)
    assert not added_other and other.id == first.id
    # Sent to as first written; found by any spelling.
    assert [s.email for s in subs.listing(conn)] == ["Ann@example.com"]
    assert subs.by_key(conn, "ANN@example.COM") == first


def test_unsubscribed_is_not_quietly_readded(conn: sqlite3.Connection) -> None:
    ann, _ = subs.add(conn, "ann@example.com", "Ann", NOW)
    subs.unsubscribe_key(conn, ann.key, NOW)
    again, changed = subs.add(conn, "ann@example.com", "", NOW)
    assert not changed and again.status == "unsubscribed"
    back, changed = subs.add(conn, "ann@example.com", "", NOW, resubscribe=True)
    assert changed and back.status == "active" and back.name == "Ann"


def test_names_are_one_line(conn: sqlite3.Connection) -> None:
    sub, _ = subs.add(conn, "eve@example.com", "Eve\r\nBcc: x@example.net\t ", NOW)
    assert sub.name == "Eve Bcc: x@example.net"
    with pytest.raises(SubscriberError, match="name longer"):
        subs.add(conn, "long@example.com", "x" * 201, NOW)


def test_import_names_bad_lines_and_imports_the_rest(
    conn: sqlite3.Connection, tmp_path: Path
) -> None:
    path = tmp_path / "list.csv"
    path.write_text(
        "\ufeffemail,name,status\n"
        "ann@example.com,Ann,active\n"
        "not-an-address,Bad,active\n"
        "\n"
        "bob@Example.org,\"Bob, Jr.\",\n"
        "carol@example.net,Carol,unsubscribed\n"
        "dave@example.net,Dave,paused\n"
        "ann@EXAMPLE.COM,Dup,active\n",
        encoding="utf-8",
    )
    result = subs.import_csv(conn, path, NOW)
    assert (result.added, result.unchanged) == (3, 1)
    assert len(result.problems) == 2
    assert result.problems[0].startswith("list.csv:3: 'not-an-address'")
    assert result.problems[1].startswith("list.csv:7: unknown status 'paused'")
    listed = {s.email: (s.name, s.status) for s in subs.listing(conn)}
    assert listed == {
        "ann@example.com": ("Ann", "active"),
        "bob@example.org": ("Bob, Jr.", "active"),
        "carol@example.net": ("Carol", "unsubscribed"),
    }
    before = subs.export_csv(conn)
    twice = subs.import_csv(conn, path, NOW)
    assert (twice.added, twice.unchanged) == (0, 4)
    assert subs.export_csv(conn) == before


def test_import_never_resubscribes(conn: sqlite3.Connection, tmp_path: Path) -> None:
    ann, _ = subs.add(conn, "ann@example.com", "Ann", NOW)
    subs.unsubscribe_key(conn, ann.key, NOW)
    path = tmp_path / "old.csv"
    path.write_text("ann@example.com,Ann\nbob@example.com,Bob\n", encoding="utf-8")
    result = subs.import_csv(conn, path, NOW)  # no header row: email,name
    assert (result.added, result.unchanged, result.problems) == (1, 1, ())
    assert subs.find(conn, "ann@example.com").status == "unsubscribed"  # type: ignore[union-attr]


def test_export_round_trips(conn: sqlite3.Connection, tmp_path: Path) -> None:
    subs.add(conn, "ann@example.com", "Ann, \"the\" reader", NOW)
    bob, _ = subs.add(conn, "bob@example.com", "", NOW)
    subs.set_status(conn, bob.id, "bounced", NOW)
    text = subs.export_csv(conn)
    rows = list(csv.reader(io.StringIO(text)))
    assert rows == [
        ["email", "name", "status"],
        ["ann@example.com", 'Ann, "the" reader', "active"],
        ["bob@example.com", "", "bounced"],
    ]
    other = open_state(tmp_path / "other.db")
    try:
        (tmp_path / "x.csv").write_text(text, encoding="utf-8")
        subs.import_csv(other.conn, tmp_path / "x.csv", NOW)
        assert subs.export_csv(other.conn) == text
    finally:
        other.close()


def test_remove_deletes_subscriber_and_history(conn: sqlite3.Connection) -> None:
    ann, _ = subs.add(conn, "ann@example.com", "Ann", NOW)
    conn.execute(
        "INSERT INTO digests (slug, issued_at, cutoff, subject, html, text) "
        "VALUES ('d', 'x', 'x', 's', 'h', 't')"
    )
    conn.execute("INSERT INTO sends (digest_id, subscriber_id) VALUES (1, ?)", (ann.id,))
    subs.remove(conn, "ann@EXAMPLE.com")
    assert subs.listing(conn) == []
    assert conn.execute("SELECT COUNT(*) FROM sends").fetchone()[0] == 0
    with pytest.raises(SubscriberError, match="not on the list"):
        subs.remove(conn, "ann@example.com")


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
