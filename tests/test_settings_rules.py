from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from publisher.config import settings as config_mod
from publisher.config.rules import (
    SettingProblem,
    login_problems,
    mail_problems,
    raise_problems,
    schedule_problems,
    sender_problems,
)
from publisher.config.settings import Config
from publisher.errors import ConfigError

from .delivery_support import NOW, add_subscribers, ledger_rows, make_site, run_cli

MAIL = {"from": "News <news@example.org>", "unsubscribe_url": "https://example.org/unsubscribe"}


def configured(tmp_path: Path, **tables: dict[str, Any]) -> Config:
    raw: dict[str, Any] = {"site": {"url": "https://example.org"}, **tables}
    return config_mod.from_dict(raw, tmp_path / "publisher.toml")


def messages(problems: list[SettingProblem]) -> list[str]:
    return [p.message for p in problems]


def test_good_settings_have_no_problems(tmp_path: Path) -> None:
    config = configured(tmp_path, delivery=MAIL, smtp={"username": "u", "security": "ssl"})
    assert mail_problems(config) == []
    assert schedule_problems(config) == []


@pytest.mark.parametrize(
    ("table", "values", "line"),
    [
        ("smtp", {"port": 0}, "[smtp] port: must be between 1 and 65535, got 0"),
        ("smtp", {"port": 65536}, "[smtp] port: must be between 1 and 65535, got 65536"),
        ("smtp", {"timeout": 0}, "[smtp] timeout: must be positive, got 0.0"),
        ("smtp", {"rate": -1}, "[smtp] rate: must be 0 (unlimited) or more, got -1.0"),
        ("smtp", {"messages_per_connection": 0},
         "[smtp] messages_per_connection: must be at least 1, got 0"),
        ("smtp", {"connections": 21}, "[smtp] connections: must be 1 to 20, got 21"),
        ("smtp", {"retries": -1}, "[smtp] retries: must be 0 to 20, got -1"),
        ("smtp", {"retry_delay": -0.5}, "[smtp] retry_delay: must be 0 or more, got -0.5"),
        ("smtp", {"retry_delay": 2, "retry_max_delay": 1},
         "[smtp] retry_max_delay: must be at least retry_delay, got 1.0"),
        ("delivery", {**MAIL, "max_failures": 0},
         "[delivery] max_failures: must be at least 1, got 0"),
    ],
)
def test_each_number_rule_names_its_key(
    tmp_path: Path, table: str, values: dict[str, Any], line: str
) -> None:
    tables = {"delivery": MAIL, table: values}
    problems = mail_problems(configured(tmp_path, **tables))
    assert messages(problems) == [f"publisher.toml: {line}"]
    assert problems[0].hint == "fix publisher.toml; nothing was sent"


@pytest.mark.parametrize(
    ("values", "line"),
    [
        ({"from": ""}, "[delivery] from: required to mail subscribers"),
        ({"from": "not an address"},
         "[delivery] from: expected one address like \"Site <news@example.org>\", "
         "got 'not an address'"),
        ({"from": "a@b@example.org"},
         "[delivery] from: expected one address like \"Site <news@example.org>\", "
         "got 'a@b@example.org'"),
        ({"reply_to": "two <a@x.org>, <b@x.org>"},
         "[delivery] reply_to: expected one address like \"Site <news@example.org>\", "
         "got 'two <a@x.org>, <b@x.org>'"),
        ({"unsubscribe_url": ""},
         "[delivery] unsubscribe_url: required, the https URL of your unsubscribe page "
         "(got '')"),
        ({"unsubscribe_url": "http://example.org/u"},
         "[delivery] unsubscribe_url: required, the https URL of your unsubscribe page "
         "(got 'http://example.org/u')"),
        ({"unsubscribe_url": "https://example.org/#/u"},
         "[delivery] unsubscribe_url: has a #fragment ('https://example.org/#/u'); the token "
         "goes in the query, which a one-click POST sends, and a fragment never reaches the "
         "server"),
        ({"unsubscribe_url": "https://example.org/a,b"},
         "[delivery] unsubscribe_url: 'https://example.org/a,b' must be plain ASCII without "
         "spaces, '<', '>' or ',' (it goes into the List-Unsubscribe header)"),
        ({"unsubscribe_mailto": "mailto:not an address"},
         "[delivery] unsubscribe_mailto: expected one address like "
         "\"Site <news@example.org>\", got 'not an address'"),
        ({"unsubscribe_mailto": "désinscription@example.org"},
         "[delivery] unsubscribe_mailto: 'désinscription@example.org' must be a plain ASCII "
         "address (it goes into the List-Unsubscribe header)"),
    ],
)
def test_each_sender_rule_names_its_key(
    tmp_path: Path, values: dict[str, str], line: str
) -> None:
    config = configured(tmp_path, delivery={**MAIL, **values})
    assert messages(sender_problems(config)) == [f"publisher.toml: {line}"]
    assert messages(mail_problems(config)) == [f"publisher.toml: {line}"]


def test_a_password_goes_in_clear_only_to_this_machine(tmp_path: Path) -> None:
    clear = {"host": "mail.example.net", "security": "none", "username": "news"}
    config = configured(tmp_path, delivery={**MAIL, "transport": "smtp"}, smtp=clear)
    line = (
        'publisher.toml: [smtp] security = "none" would send the password for \'news\' '
        "unencrypted to mail.example.net"
    )
    assert messages(login_problems(config)) == [line]
    assert messages(mail_problems(config)) == [line]
    assert login_problems(config)[0].hint == (
        'use security = "starttls" (port 587) or "ssl" (port 465)'
    )
    for safe in ({"host": "127.0.0.1"}, {"security": "starttls"}, {"username": ""}):
        config = configured(tmp_path, delivery={**MAIL, "transport": "smtp"},
                            smtp={**clear, **safe})
        assert mail_problems(config) == [], safe
    # The outbox never logs in, so a leftover [smtp] login is no problem.
    outbox = configured(tmp_path, delivery=MAIL, smtp=clear)
    assert mail_problems(outbox) == []


def test_the_digest_schedule_is_parsed(tmp_path: Path) -> None:
    config = configured(tmp_path, schedule={"digest": "0 25 * * mon"})
    [problem] = schedule_problems(config)
    assert problem.message.startswith(
        "publisher.toml: [schedule] digest: '0 25 * * mon' is not a cron expression: "
    )
    assert "0 8 * * mon" in problem.hint
    assert schedule_problems(configured(tmp_path, schedule={"digest": ""})) == []
    assert schedule_problems(configured(tmp_path, schedule={"digest": "30 1 * * *"})) == []


def test_every_mail_problem_is_reported_at_once(tmp_path: Path) -> None:
    config = configured(
        tmp_path,
        delivery={"transport": "smtp", "unsubscribe_url": "https://x.org/#u", "max_failures": 0},
        smtp={"port": 0, "retries": 99, "host": "mail.example.net", "security": "none",
              "username": "news"},
    )
    with pytest.raises(ConfigError) as info:
        raise_problems(mail_problems(config))
    keys = [line.split(": ")[1].split(":")[0] for line in info.value.message.splitlines()]
    assert keys == [
        "[delivery] from", "[delivery] unsubscribe_url", "[smtp] port", "[smtp] retries",
        "[delivery] max_failures", '[smtp] security = "none" would send the password for '
        "'news' unencrypted to mail.example.net",
    ]
    # Each distinct hint once, in the order of the problems.
    assert info.value.hint.split("; ")[0] == (
        'add to [delivery]: from = "Site name <news@your-domain>"'
    )
    assert info.value.hint.count("nothing was sent") == 1
    assert info.value.hint.endswith('use security = "starttls" (port 587) or "ssl" (port 465)')


def test_no_problems_raise_nothing_and_one_problem_keeps_its_hint() -> None:
    raise_problems([])
    with pytest.raises(ConfigError) as info:
        raise_problems([SettingProblem("f: [t] k: bad", "do this")])
    assert (info.value.message, info.value.hint) == ("f: [t] k: bad", "do this")


def test_bad_mail_settings_block_mail_only(tmp_path: Path) -> None:
    config = make_site(tmp_path, smtp={"port": 0})
    add_subscribers(config, ["reader@example.com"])
    now = NOW.isoformat()
    line = "error: publisher.toml: [smtp] port: must be between 1 and 65535, got 0"

    build = run_cli(tmp_path, "build", "--now", now)
    assert build.returncode == 0, build.stderr
    assert (config.out_dir / "feed.xml").is_file()
    no_digest = run_cli(tmp_path, "publish", "--no-digest", "--now", now)
    assert no_digest.returncode == 0, no_digest.stderr

    publish = run_cli(tmp_path, "publish", "--now", now)
    assert publish.returncode == 1
    assert "Digest: 2026-03-02 issued with 2 posts" in publish.stdout
    assert line in publish.stderr.splitlines()
    send = run_cli(tmp_path, "send", "--now", now)
    assert send.returncode == 1
    assert line in send.stderr.splitlines()
    assert "hint: fix publisher.toml; nothing was sent" in send.stderr.splitlines()
    assert {row[0] for row in ledger_rows(config).values()} == {"pending"}


def test_check_lists_every_mail_and_schedule_problem(tmp_path: Path) -> None:
    make_site(tmp_path, delivery={"unsubscribe_mailto": "x"}, smtp={"connections": 0})
    toml = tmp_path / "publisher.toml"
    toml.write_text(toml.read_text() + '[schedule]\ndigest = "0 25 * * mon"\n')
    result = run_cli(tmp_path, "check")
    assert result.returncode == 1
    errors = [line for line in result.stderr.splitlines() if line.startswith("error: ")]
    assert [line.split(": ")[2].split(":")[0] for line in errors] == [
        "[schedule] digest", "[delivery] unsubscribe_mailto", "[smtp] connections",
    ]
    # Without [delivery] from or unsubscribe_url, mail is not set up: nothing to check.
    make_site(tmp_path, delivery={"from": "", "unsubscribe_url": "", "unsubscribe_mailto": ""},
              smtp={"connections": 0})
    assert run_cli(tmp_path, "check").returncode == 0
