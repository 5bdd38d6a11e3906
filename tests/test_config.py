from __future__ import annotations

from pathlib import Path

import pytest

from publisher.config import settings as config_mod
from publisher.errors import ConfigError

from .conftest import SiteDir


def error_for(site: SiteDir, text: str) -> ConfigError:
    site.write_config(text=text)
    with pytest.raises(ConfigError) as info:
        config_mod.load(site.root / "publisher.toml")
    return info.value


def test_defaults_and_relative_paths(site: SiteDir, tmp_path: Path, monkeypatch) -> None:
    config = site.config()
    assert config.feeds.limit == 20
    assert config.feeds.atom == "feed.xml" and config.feeds.rss == "rss.xml"
    assert config.digest.first_window_days == 7
    assert config.site.timezone == "Europe/Paris"
    # Relative paths are relative to the file, wherever the command runs.
    monkeypatch.chdir(tmp_path.parent)
    assert config.posts_dir == site.root / "content"
    assert config.out_dir == site.root / "out"
    assert config.state_file == site.root / ".publisher" / "state.db"


def test_missing_url(site: SiteDir) -> None:
    err = error_for(site, '[site]\ntitle = "x"\n')
    assert "publisher.toml: [site] url: required" in err.message


def test_relative_url(site: SiteDir) -> None:
    err = error_for(site, '[site]\nurl = "/blog"\n')
    assert "[site] url: must be an absolute http(s) URL, got '/blog'" in err.message


def test_unknown_timezone(site: SiteDir) -> None:
    err = error_for(site, '[site]\nurl = "https://x.org"\ntimezone = "Mars/Olympus"\n')
    assert "[site] timezone: unknown timezone 'Mars/Olympus'" in err.message


def test_unknown_key_table_and_wrong_type_are_all_reported(site: SiteDir) -> None:
    err = error_for(
        site,
        '[site]\nurl = "https://x.org"\ntitel = "x"\n'
        "[feeds]\nlimit = \"ten\"\n"
        "[feed]\nlimit = 3\n",
    )
    lines = err.message.splitlines()
    assert "publisher.toml: [site] titel: unknown key (did you mean 'title'?)" in lines
    assert "publisher.toml: [feeds] limit: expected an integer, got a string 'ten'" in lines
    assert "publisher.toml: [feed]: unknown table (did you mean 'feeds'?)" in lines
    assert "publisher check" in err.hint


def test_author_forms(site: SiteDir) -> None:
    site.write_config(text='[site]\nurl = "https://x.org"\nauthor = "Solo"\n')
    assert site.config().site.author.name == "Solo"
    err = error_for(site, '[site]\nurl = "https://x.org"\nauthor = 3\n')
    assert "[site] author: expected a name or a table" in err.message


def test_delivery_from_key_and_choices(site: SiteDir) -> None:
    site.write_config(text='[site]\nurl = "https://x.org"\n[delivery]\nfrom = "A <a@x.org>"\n')
    assert site.config().delivery.sender == "A <a@x.org>"
    err = error_for(site, '[site]\nurl = "https://x.org"\n[smtp]\nsecurity = "tls"\n')
    assert '[smtp] security: must be "starttls", "ssl" or "none"' in err.message


def test_missing_file_and_bad_toml(tmp_path: Path) -> None:
    with pytest.raises(ConfigError) as info:
        config_mod.load(tmp_path / "publisher.toml")
    assert "no such configuration file" in info.value.message
    bad = tmp_path / "bad.toml"
    bad.write_text("[site\n")
    with pytest.raises(ConfigError) as info:
        config_mod.load(bad)
    assert "invalid TOML" in info.value.message and "line 1" in info.value.message


def test_schedule_values_are_checked(site: SiteDir) -> None:
    err = error_for(
        site,
        '[site]\nurl = "https://x.org"\n'
        '[schedule]\ndigest = "every monday"\nlock_timeout = -1\n',
    )
    assert "[schedule] digest: expected a cron expression of five fields" in err.message
    assert "[schedule] lock_timeout: must be 0 or more" in err.message


def test_subject_placeholders_are_bare_names(site: SiteDir) -> None:
    for subject, needle in [
        ("x {site.title}", "unknown placeholder {site.title}"),
        ("x {posts}", "bad placeholder 'posts'"),
        ("x {site", "bad placeholder"),
    ]:
        err = error_for(site, f'[site]\nurl = "https://x.org"\n[digest]\nsubject = "{subject}"\n')
        assert f"[digest] subject: {needle}" in err.message, err.message
    good = '[site]\nurl = "https://x.org"\n[digest]\nsubject = "{count} new: {first_title}"\n'
    site.write_config(text=good)
    assert site.config().digest.subject == "{count} new: {first_title}"


def test_feeds_keys(site: SiteDir) -> None:
    config = site.config()
    feeds = config.feeds
    assert (feeds.json, feeds.page, feeds.hub) == ("feed.json", "feeds.html", "")
    assert (feeds.categories, feeds.tags, feeds.hub_timeout) == ("none", "none", 10.0)
    site.write_config(
        '[feeds]\ncategories = "all"\ntags = ["python", "Café"]\njson = ""\n'
        'hub = "https://hub.example.org/"\nhub_timeout = 3\n'
    )
    feeds = site.config().feeds
    assert feeds.categories == "all" and feeds.tags == ("python", "Café")
    assert feeds.json == "" and feeds.hub == "https://hub.example.org/"
    assert feeds.hub_timeout == 3.0
    hash(site.config())  # a list setting keeps the Config hashable


def test_feeds_values_are_checked(site: SiteDir) -> None:
    base = '[site]\nurl = "https://x.org"\n[feeds]\n'
    err = error_for(
        site,
        base + 'categories = "some"\ntags = [1, 2]\nhub = "ftp://hub"\nhub_timeout = 0\n'
        'atom = ""\nrss = "feed.json"\npage = "../feeds.html"\n',
    )
    assert err.message.splitlines() == [
        "publisher.toml: [feeds] tags: expected a string or an array of strings, "
        "got an array [1, 2]",
        "publisher.toml: [feeds] atom: required, a file name in the output folder",
        "publisher.toml: [feeds] page: must be a path inside the output folder, "
        "got '../feeds.html'",
        "publisher.toml: [feeds] rss, json: each needs its own file name, all are 'feed.json'",
        'publisher.toml: [feeds] categories: must be "all", "none" or a list of names, '
        "got 'some'",
        "publisher.toml: [feeds] hub: must be an absolute http(s) URL, got 'ftp://hub'",
        "publisher.toml: [feeds] hub_timeout: must be positive",
    ]
    err = error_for(site, base + 'json = "feed/all.json"\ncategories = ["ok", " "]\n')
    assert err.message.splitlines() == [
        "publisher.toml: [feeds] json: feed/ holds the category and tag feeds; "
        "choose another name than 'feed/all.json'",
        "publisher.toml: [feeds] categories: a name in the list is empty",
    ]
