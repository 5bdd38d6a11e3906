"""Settings that would crash a run, publish a secret or write outside out/:
each is an error naming the key, found when the file is loaded."""

from __future__ import annotations

import dataclasses
import math
from contextlib import suppress
from pathlib import Path

import pytest

from publisher.app.pipeline import build
from publisher.config import settings as config_mod
from publisher.config.rules import mail_problems, schedule_problems
from publisher.errors import ConfigError, PublisherError, SecretMissing
from publisher.mail import tokens

from .conftest import BASE_CONFIG, NOW, SiteDir


def error_for(site: SiteDir, extra: str) -> str:
    site.write_config(extra)
    with pytest.raises(ConfigError) as info:
        config_mod.load(site.root / "publisher.toml")
    return info.value.message


@pytest.mark.parametrize(
    "subject",
    ["{first_title:>99999999999}", "{count:099999999999d}", "{site!r}", "{date:%Y}"],
)
def test_subject_placeholders_take_no_format(site: SiteDir, subject: str) -> None:
    message = error_for(site, f"[digest]\nsubject = {subject!r}\n".replace("'", '"'))
    assert message.startswith(
        "publisher.toml: [digest] subject: placeholders take no format or conversion, got {"
    )


def numeric_settings() -> list[tuple[str, str, type]]:
    found = []
    for table, cls in config_mod.TABLES.items():
        for item in dataclasses.fields(cls):
            if item.type in ("int", "float"):
                key = next(
                    (k for (t, k), a in config_mod.RENAMED.items() if (t, a) == (table, item.name)),
                    item.name,
                )
                found.append((table, key, int if item.type == "int" else float))
    return found


HOSTILE_NUMBERS = ["nan", "inf", "-inf", "1e300", "-1e300", "9223372036854775807",
                   "-9223372036854775808", "0", "-1"]


@pytest.mark.parametrize("table, key, kind", numeric_settings())
def test_no_number_in_any_setting_crashes_a_run(
    site: SiteDir, table: str, key: str, kind: type
) -> None:
    """Every number TOML can write, in every numeric key: an error naming the
    key, or a run that works. Never anything but a PublisherError."""
    site.post("2026-01-02-a.md", "title: A")
    for value in HOSTILE_NUMBERS:
        if kind is int and not value.lstrip("-").isdigit():
            continue
        site.write_config(f"[{table}]\n{key} = {value}\n")
        try:
            config = config_mod.load(site.root / "publisher.toml")
        except ConfigError as exc:
            assert f"[{table}] {key}:" in exc.message, (value, exc.message)
            continue
        number = getattr(getattr(config, table), "sender" if key == "from" else key)
        assert math.isfinite(number) and abs(number) <= config_mod.MAX_NUMBER, value
        mail_problems(config)
        schedule_problems(config)
        with suppress(PublisherError):
            build(config, NOW)


def test_nan_and_huge_poll_seconds_name_the_key(site: SiteDir) -> None:
    assert error_for(site, "[schedule]\npoll_seconds = nan\n") == (
        "publisher.toml: [schedule] poll_seconds: must be a finite number, got nan"
    )
    assert error_for(site, "[schedule]\npoll_seconds = 1e300\n") == (
        "publisher.toml: [schedule] poll_seconds: 1e+300 is out of range (at most 1,000,000,000)"
    )


@pytest.mark.parametrize(
    "extra, expected",
    [
        ('[state]\npath = "out/state.db"\n',
         "[state] path: 'out/state.db' is inside the output folder 'out'"),
        ('[output]\npath = "."\n',
         "[state] path: '.publisher/state.db' is inside the output folder '.'"),
        ('[delivery]\noutbox = "out/mail"\n',
         "[delivery] outbox: 'out/mail' is inside the output folder 'out'"),
        ('[output]\npath = "/"\n', "[output] path: '/' is the root of the file system"),
        ('[feeds]\natom = "../x.xml"\n',
         "[feeds] atom: must be a path inside the output folder, got '../x.xml'"),
        ('[feeds]\nrss = "a/../../x.xml"\n', "[feeds] rss: must be a path inside the output"),
        ('[feeds]\njson = "a\\u0000b.json"\n', "[feeds] json: must be a file name in the output"),
        ('[feeds]\npage = "pages/"\n', "[feeds] page: must be a file name in the output"),
        ('[content]\nmax_post_bytes = -1\n', "[content] max_post_bytes: must be 0 or more"),
        ('[feeds]\nhub = "https://me:secret@hub.example.org/"\n',
         "[feeds] hub: must not hold a user name or password"),
        ('[web]\nbase_url = "https://me@example.org/list"\n',
         "[web] base_url: must not hold a user name or password"),
        ('[digest]\nfirst_window_days = 9999999\n', "[digest] first_window_days: at most 36,500"),
        ('[web]\nconfirm_hours = 99999999\n', "[web] confirm_hours: at most 87,600"),
    ],
)
def test_unsafe_settings_are_errors_naming_the_key(
    site: SiteDir, extra: str, expected: str
) -> None:
    assert f"publisher.toml: {expected}" in error_for(site, extra)


def test_password_in_the_site_url_is_an_error(site: SiteDir) -> None:
    text = BASE_CONFIG.replace("https://example.org/blog", "https://ann:hunter2@example.org/blog")
    site.write_config(text=text)
    with pytest.raises(ConfigError) as info:
        config_mod.load(site.root / "publisher.toml")
    assert "[site] url: must not hold a user name or password (user:pass@)" in info.value.message
    assert "hunter2" not in info.value.message


@pytest.mark.parametrize("key", ["icon", "logo"])
def test_site_icons_are_web_addresses(site: SiteDir, key: str) -> None:
    text = BASE_CONFIG.replace('timezone = "Europe/Paris"',
                               f'timezone = "Europe/Paris"\n{key} = "javascript:alert(1)"')
    site.write_config(text=text)
    with pytest.raises(ConfigError, match=rf"\[site\] {key}: must be a site path or an http"):
        config_mod.load(site.root / "publisher.toml")


def test_the_defaults_are_safe(site: SiteDir, tmp_path: Path) -> None:
    config = site.config()
    assert config.out_dir not in config.state_file.parents
    assert not config.content.follow_symlinks


def test_password_in_the_unsubscribe_url_blocks_mail(site: SiteDir) -> None:
    site.write_config(
        '[delivery]\nfrom = "News <news@example.org>"\n'
        'unsubscribe_url = "https://list:hunter2@example.org/unsubscribe"\n'
    )
    problems = [p.message for p in mail_problems(site.config())]
    assert problems == [
        "publisher.toml: [delivery] unsubscribe_url: 'https://list:hunter2@example.org/"
        "unsubscribe' holds a user name or password (user:pass@); it would go out in every "
        "message"
    ]


@pytest.mark.parametrize("secret", [" " * 16, "a" * 40, "abab" * 8, " x " * 10])
def test_a_blank_or_repetitive_secret_is_refused(secret: str) -> None:
    with pytest.raises(SecretMissing, match="blank or nearly so"):
        tokens.secret_from_env({"PUBLISHER_SECRET": secret})


def test_a_real_secret_is_accepted() -> None:
    assert tokens.secret_from_env({"PUBLISHER_SECRET": "Zq3-x9_Lk2vT8mWb"}) == b"Zq3-x9_Lk2vT8mWb"
