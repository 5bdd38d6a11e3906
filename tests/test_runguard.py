"""The unchanged-run shortcut (`cache.RunGuard`) must never hide a change.

Each input a full run's output depends on has a test that changes it and sees
the next publish do the full work: every configuration setting (found by
walking the Config dataclasses, so a new setting is covered or fails here),
the folder listing, the mode, the clock, digests in the state store, the files
written, and the record itself. Each test first sees the shortcut taken, so
none passes merely because the shortcut never fires.
"""

from __future__ import annotations

import dataclasses
import json
import os
import shutil
import time
import tomllib
import typing
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import feedparser
import pytest
from click.testing import CliRunner

from publisher.app import pipeline
from publisher.app.pipeline import build, publish
from publisher.app.site import load
from publisher.cli import cli
from publisher.config import settings as config_mod
from publisher.config.settings import Config, JekyllSite
from publisher.content import site as content
from publisher.incremental import cache
from publisher.model import Person
from publisher.store.store import Store

from .conftest import NOW, SiteDir
from .test_cache import settle, titles


def feed_titles(config: Config) -> list[str]:
    return [e.title for e in feedparser.parse(str(config.out_dir / config.feeds.atom)).entries]


def record_file(config: Config) -> Path:
    return config.state_dir / cache.RUN_FILE


@pytest.fixture
def one_post(site: SiteDir) -> SiteDir:
    site.post("2026-01-09-a.md", "title: A")
    settle(site)
    return site


# -- every configuration setting -------------------------------------------------

# A changed value for each setting whose type says nothing of what is valid.
# Numbers are changed generically (below); a new text setting fails
# test_changing_a_setting_defeats_the_shortcut until it has a line here.
CHANGED: dict[str, Any] = {
    "site.url": "https://example.net/elsewhere",
    "site.title": "Another title",
    "site.description": "Another description",
    "site.author": Person("Someone Else"),
    "site.language": "fr",
    "site.timezone": "Asia/Tokyo",
    "site.icon": "https://example.org/icon.png",
    "site.logo": "https://example.org/logo.png",
    "content.posts": "posts-copy",
    "content.permalink": "/:year/:title/",
    "content.excerpt_separator": "<!--more-->",
    "output.path": "out-elsewhere",
    "feeds.atom": "atom.xml",
    "feeds.rss": "feed.rss",
    "feeds.json": "items.json",
    "feeds.categories": "all",
    "feeds.tags": ("python",),
    "feeds.hub": "https://hub.example.org/",
    "feeds.page": "all-feeds.html",
    "digest.subject": "{site}: {count} new",
    "digest.templates": "my-templates",
    "digest.postal_address": "1 Main Street, Springfield",
    "state.path": "elsewhere/state.db",
    "delivery.transport": "smtp",
    "delivery.outbox": "outbox-elsewhere",
    "delivery.sender": "News <news@example.org>",
    "delivery.reply_to": "editor@example.org",
    "delivery.unsubscribe_url": "https://example.org/unsubscribe",
    "delivery.unsubscribe_mailto": "unsubscribe@example.org",
    "delivery.list_id": "news.example.org",
    "delivery.return_path": "bounces@example.org",
    "delivery.dkim_key": "dkim.pem",
    "delivery.dkim_selector": "s2026",
    "delivery.dkim_domain": "example.org",
    "bounces.maildir": "Maildir",
    "bounces.imap_host": "imap.example.org",
    "bounces.imap_user": "bounces",
    "bounces.imap_mailbox": "Bounces",
    "smtp.host": "mail.example.org",
    "smtp.security": "ssl",
    "smtp.username": "mailer",
    "schedule.digest": "0 9 * * tue",
    "web.listen": "127.0.0.1:8181",
    "web.base_url": "https://example.org/list",
    "web.trusted_proxies": ("10.0.0.1",),
    "web.templates": "my-web-templates",
    "jekyll.site": "../a-jekyll-site",
    "jekyll.config": ("_config.yml", "_config.production.yml"),
}


def config_settings() -> list[str]:
    """"file", then "table.key" for every field of every table of Config."""
    hints = typing.get_type_hints(Config)
    settings = []
    for table in dataclasses.fields(Config):
        if not table.compare:
            continue  # derived from the settings (Config.notes), not one of them
        kind = hints[table.name]
        if dataclasses.is_dataclass(kind):
            settings += [f"{table.name}.{f.name}" for f in dataclasses.fields(kind)]
        else:
            settings.append(table.name)
    return settings


def changed_value(setting: str, old: Any) -> Any:
    if setting in CHANGED:
        return CHANGED[setting]
    if isinstance(old, bool):
        return not old
    if isinstance(old, int):
        return old + 1  # every count and limit accepts one more
    if isinstance(old, float):
        return old + 1.5
    pytest.fail(f"{setting}: no changed value to test it with; add one to CHANGED")


def toml_value(value: Any) -> Any:
    if isinstance(value, tuple):  # Config keeps TOML arrays as tuples
        return list(value)
    if isinstance(value, Person):
        return {k: v for k, v in dataclasses.asdict(value).items() if v}
    return value


def test_every_changed_value_is_a_setting() -> None:
    assert set(CHANGED) <= set(config_settings())


@pytest.mark.parametrize("setting", config_settings())
def test_changing_a_setting_defeats_the_shortcut(one_post: SiteDir, setting: str) -> None:
    if setting == "jekyll_site":
        # In _posts/, so that the posts folder read as a Jekyll site still has it.
        (one_post.posts / "_posts").mkdir()
        (one_post.posts / "2026-01-09-a.md").rename(one_post.posts / "_posts" / "2026-01-09-a.md")
        settle(one_post)
    config = one_post.config()
    assert not build(config, NOW).unchanged
    assert build(config, NOW).unchanged
    if setting == "jekyll_site":
        # What jekyll.siteconfig reads from a Jekyll site (its _config.yml, _data).
        site = JekyllSite(root=str(config.posts_dir), settings="{}", config_files=())
        changed = dataclasses.replace(config, jekyll_site=site)
    elif setting == "file":
        # The same settings read from another file next to it.
        renamed = config.file.with_name("renamed.toml")
        shutil.copy(config.file, renamed)
        changed = config_mod.load(renamed)
    else:
        table, key = setting.split(".")
        old = getattr(getattr(config, table), key)
        new = changed_value(setting, old)
        assert new != old, f"{setting}: the changed value is the current one"
        raw = tomllib.loads(config.file.read_text(encoding="utf-8"))
        toml_key = {a: k for (t, k), a in config_mod.RENAMED.items() if t == table}.get(key, key)
        raw.setdefault(table, {})[toml_key] = toml_value(new)
        changed = config_mod.from_dict(raw, config.file)  # validated like a real file
        assert getattr(getattr(changed, table), key) == new
    if setting == "content.posts":
        # The same files (names, sizes, mtimes) elsewhere: only the setting differs.
        shutil.copytree(config.posts_dir, changed.posts_dir)
        scans = [content.listing(c.posts_dir) for c in (config, changed)]
        assert scans[0].fingerprint == scans[1].fingerprint
    if setting == "state.path":
        # The last run's record moves along, so the setting itself must count.
        shutil.copytree(config.state_dir, changed.state_dir)
        assert record_file(changed).exists()
    result = build(changed, NOW)
    assert not result.unchanged, f"changing {setting} did not defeat the shortcut"
    assert feed_titles(changed) == ["A"]
    assert build(changed, NOW).unchanged  # and the new setting is remembered


# -- the folder listing -------------------------------------------------------


def _restore_mtime(path: Path, mtime_ns: int) -> None:
    os.utime(path, ns=(mtime_ns, mtime_ns))


def add(site: SiteDir) -> None:
    site.post("2026-01-08-b.md", "title: B")
    settle(site)


def remove(site: SiteDir) -> None:
    (site.posts / "2026-01-08-b.md").unlink()


def rename(site: SiteDir) -> None:
    (site.posts / "2026-01-08-b.md").rename(site.posts / "2026-01-08-renamed.md")


def resize(site: SiteDir) -> None:
    path = site.posts / "2026-01-08-b.md"
    mtime = path.stat().st_mtime_ns
    site.post("2026-01-08-b.md", "title: B, longer")
    _restore_mtime(path, mtime)  # only the size tells


def touch(site: SiteDir) -> None:
    path = site.posts / "2026-01-08-b.md"
    mtime = path.stat().st_mtime_ns
    _restore_mtime(path, mtime - 1_000_000_000)  # same bytes, only the mtime tells


@pytest.mark.parametrize(
    ("change", "expected"),
    [
        (add, ["A", "B", "C"]),
        (remove, ["A", "C"]),
        (rename, ["A", "B", "C"]),
        (resize, ["A", "B, longer", "C"]),
        (touch, ["A", "B", "C"]),
    ],
    ids=lambda v: v.__name__ if callable(v) else "",
)
def test_a_listing_change_defeats_the_shortcut(
    site: SiteDir, change: typing.Callable[[SiteDir], None], expected: list[str]
) -> None:
    site.post("2026-01-09-a.md", "title: A")
    site.post("2026-01-07-c.md", "title: C")
    if change is not add:
        site.post("2026-01-08-b.md", "title: B")
    settle(site)
    config = site.config()
    publish(config, NOW)
    assert publish(config, NOW).unchanged
    change(site)
    assert content.listing(config.posts_dir).settled  # not defeated for being fresh
    assert not publish(config, NOW).unchanged
    assert titles(site) == expected
    links = [e.link for e in feedparser.parse(str(site.out / "feed.xml")).entries]
    assert any("renamed" in link for link in links) == (change is rename)


def test_files_the_scan_skips_do_not_defeat_the_shortcut(one_post: SiteDir) -> None:
    config = one_post.config()
    publish(config, NOW)
    (one_post.posts / "_drafts").mkdir()
    one_post.post("_drafts/2026-01-09-draft.md", "title: Draft")
    one_post.post(".hidden.md", "title: Hidden")
    one_post.raw("picture.png", b"\x89PNG")
    assert publish(config, NOW).unchanged
    assert titles(one_post) == ["A"]


def test_an_unsettled_listing_is_not_remembered(one_post: SiteDir) -> None:
    config = one_post.config()
    publish(config, NOW)
    assert record_file(config).exists()
    one_post.post("2026-01-08-b.md", "title: B")  # just written: its mtime could still lie
    assert not content.listing(config.posts_dir).settled
    assert not publish(config, NOW).unchanged
    assert not record_file(config).exists()  # the last record is forgotten too
    assert not publish(config, NOW).unchanged
    assert titles(one_post) == ["A", "B"]


# -- the mode -------------------------------------------------------------------


def test_include_future_either_way_defeats_the_shortcut(one_post: SiteDir) -> None:
    one_post.post("2026-01-11-later.md", "title: Later\ndate: 2026-01-11 09:00")
    settle(one_post)
    config = one_post.config()
    publish(config, NOW)
    assert publish(config, NOW).unchanged
    assert not publish(config, NOW, include_future=True).unchanged
    assert titles(one_post) == ["Later", "A"]
    assert publish(config, NOW, include_future=True).unchanged
    assert not publish(config, NOW).unchanged
    assert titles(one_post) == ["A"]


def test_with_digest_either_way_defeats_the_shortcut(one_post: SiteDir) -> None:
    config = one_post.config()
    build(config, NOW)
    assert build(config, NOW).unchanged
    issued = publish(config, NOW)
    assert not issued.unchanged
    assert issued.digest is not None and issued.digest.record is not None
    assert "A" in (config.out_dir / "digest" / "latest.html").read_text(encoding="utf-8")
    assert publish(config, NOW).unchanged
    feeds_only = build(config, NOW)
    assert not feeds_only.unchanged and feeds_only.digest is None
    assert titles(one_post) == ["A"]


# -- the state store and the outputs ----------------------------------------------


def test_a_digest_issued_by_another_process_defeats_the_shortcut(site: SiteDir) -> None:
    site.post("2025-12-31-old.md", "title: Old")  # before the first digest's window
    settle(site)
    config = site.config()
    first = publish(config, NOW)
    assert first.digest is not None and first.digest.record is None
    window = "no new posts since 2026-01-03 13:00"
    assert first.digest.reason == window
    again = publish(config, NOW + timedelta(minutes=5))
    assert again.unchanged and again.digest is not None and again.digest.reason == window
    # Another process, on its own connection and with its own clock, issues a
    # digest and leaves the run record alone (it crashed, or only issued). The
    # first run set "Old" aside as an archive import; that process includes it.
    earlier = datetime(2026, 1, 2, 12, 0, tzinfo=UTC)
    state = Store.open(config.state_file)
    try:
        loaded = load(config, earlier)
        with state.transaction():
            assert state.seen.include(loaded.posts[0], earlier)
        other = pipeline.run_digest(config, loaded, state, earlier)
    finally:
        state.close()
    assert other.record is not None
    result = publish(config, NOW + timedelta(minutes=10))
    assert not result.unchanged
    assert result.digest is not None and result.digest.record is None
    assert result.digest.reason == "no new posts since 2026-01-02 13:00"
    page = config.out_dir / "digest" / f"{other.record.slug}.html"
    assert "Old" in page.read_text(encoding="utf-8")


def edit_feed(config: Config) -> None:
    with (config.out_dir / "feed.xml").open("ab") as handle:
        handle.write(b"<!-- edited -->")


def touch_feed(config: Config) -> None:
    path = config.out_dir / "feed.xml"
    mtime = path.stat().st_mtime_ns - 1_000_000_000
    os.utime(path, ns=(mtime, mtime))


def delete_rss(config: Config) -> None:
    (config.out_dir / "rss.xml").unlink()


@pytest.mark.parametrize("change", [edit_feed, touch_feed, delete_rss], ids=lambda f: f.__name__)
def test_a_touched_output_defeats_the_shortcut(
    one_post: SiteDir, change: typing.Callable[[Config], None]
) -> None:
    config = one_post.config()
    publish(config, NOW)
    written = {name: (config.out_dir / name).read_bytes() for name in ("feed.xml", "rss.xml")}
    assert publish(config, NOW).unchanged
    change(config)
    result = publish(config, NOW)
    assert not result.unchanged
    for name, data in written.items():
        assert (config.out_dir / name).read_bytes() == data
    assert [e.title for e in feedparser.parse(str(config.out_dir / "rss.xml")).entries] == ["A"]
    assert publish(config, NOW).unchanged


# -- the record itself ------------------------------------------------------------


def _current(config: Config) -> dict[str, Any]:
    data: dict[str, Any] = json.loads(record_file(config).read_bytes())
    return data


def _old_format(config: Config) -> bytes:
    """A record as format 1 wrote it: one combined signature, no format number."""
    old = {
        "signature": "0" * 128,
        "next_due": None,
        "outputs": {str(config.out_dir / "feed.xml"): [1, 1]},
        "digest_id": None,
        "digest_reason": "",
        "summary": {"files_read": 1, "published": 1, "entries": 1},
    }
    return json.dumps(old).encode()


def _other_format(config: Config) -> bytes:
    return json.dumps({**_current(config), "format": cache.RUN_FORMAT + 1}).encode()


def _summary_missing_keys(config: Config) -> bytes:
    return json.dumps({**_current(config), "summary": {"files_read": 1}}).encode()


def _naive_next_due(config: Config) -> bytes:
    data = _current(config)
    data["summary"]["next_due"] = "2030-01-01T00:00:00"
    return json.dumps(data).encode()


def _bad_outputs(config: Config) -> bytes:
    return json.dumps({**_current(config), "outputs": {"feed.xml": 5}}).encode()


@pytest.mark.parametrize(
    "damage",
    [
        lambda config: b"",
        lambda config: b"\xff\xfe not JSON",
        lambda config: b"[1, 2, 3]",
        _old_format,
        _other_format,
        _summary_missing_keys,
        _naive_next_due,
        _bad_outputs,
    ],
    ids=["empty", "binary", "list", "format-1", "future-format", "summary", "naive", "outputs"],
)
def test_a_damaged_or_old_record_is_ignored(
    one_post: SiteDir, damage: typing.Callable[[Config], bytes]
) -> None:
    config = one_post.config()
    publish(config, NOW)
    assert publish(config, NOW).unchanged
    record_file(config).write_bytes(damage(config))
    result = publish(config, NOW)
    assert not result.unchanged
    assert result.summary.published == 1 and titles(one_post) == ["A"]
    assert _current(config)["format"] == cache.RUN_FORMAT  # written anew
    assert publish(config, NOW).unchanged


# -- what the shortcut reports ------------------------------------------------------


def test_the_replay_reports_what_a_full_run_reports(site: SiteDir) -> None:
    site.post("2026-01-09-a.md", "title: A")
    site.post("2026-01-08-untitled.md", "date: 2026-01-08")  # a warning
    site.post("2026-01-09-bad.md", "title: [broken")  # an error
    site.post("2026-01-09-draft.md", "title: Draft\npublished: false")
    site.post("2026-01-12-later.md", "title: Later\ndate: 2026-01-12 09:00")
    settle(site)
    file = str(site.root / "publisher.toml")
    later = (NOW + timedelta(hours=1)).isoformat()

    def publish_cli() -> tuple[int, list[str], str]:
        result = CliRunner().invoke(cli, ["--config", file, "publish", "--now", later])
        return result.exit_code, result.stdout.splitlines(), result.stderr

    config = site.config()
    publish(config, NOW)  # issues the digest
    replay_code, replayed, replay_err = publish_cli()
    assert "files checked, none changed" in replayed[0]
    record_file(config).unlink()
    full_code, full, full_err = publish_cli()
    assert "files read" in full[0]

    def shown(lines: list[str]) -> list[str]:
        # The timing differs, and a full run also reports on delivery when no
        # mail is pending; everything else must read the same.
        return [
            line.replace("files checked, none changed", "files read")
            for line in lines
            if not line.startswith(("Done in", "Delivery: nothing pending"))
        ]

    assert shown(replayed) == shown(full)
    assert replay_err == full_err
    assert replay_code == full_code == 3
    assert full[0] == (
        "Posts: 5 files read; 2 published, 1 scheduled (next 2026-01-12 09:00), "
        "1 drafts/unpublished, 1 skipped for errors."
    )
    assert "2026-01-09-bad.md:2: error:" in full_err
    assert "2026-01-08-untitled.md: warning: no title" in full_err
    assert "Digest: none issued (no new posts since 2026-01-10 13:00)." in full


def test_second_run_stops_early_and_reports_the_same(site: SiteDir) -> None:
    site.post("2026-01-09-a.md", "title: A")
    site.post("2026-01-09-bad.md", "title: [broken")
    settle(site)
    config = site.config()
    first = publish(config, NOW)
    assert not first.unchanged
    second = publish(config, NOW + timedelta(minutes=5))
    assert second.unchanged
    assert second.summary == first.summary
    assert second.exit_code == 3  # the broken post is still reported
    assert [str(p) for p in second.summary.errors] == [str(p) for p in first.summary.errors]
    assert second.digest is not None and second.digest.record is None


def test_an_edit_is_seen(site: SiteDir) -> None:
    site.post("2026-01-09-a.md", "title: Before")
    settle(site)
    config = site.config()
    publish(config, NOW)
    site.post("2026-01-09-a.md", "title: After the edit")
    settle(site)  # even with an old mtime, the size differs
    result = publish(config, NOW)
    assert not result.unchanged
    assert titles(site) == ["After the edit"]


def test_same_size_edit_with_new_mtime_is_seen(site: SiteDir) -> None:
    path = site.post("2026-01-09-a.md", "title: AAAA")
    settle(site)
    config = site.config()
    publish(config, NOW)
    site.post("2026-01-09-a.md", "title: BBBB")
    later = time.time() - 30
    os.utime(path, (later, later))
    assert not publish(config, NOW).unchanged
    assert titles(site) == ["BBBB"]


def test_future_post_coming_due_ends_the_shortcut(site: SiteDir) -> None:
    site.post("2026-01-09-a.md", "title: Now")
    site.post("2026-01-11-b.md", "title: Tomorrow\ndate: 2026-01-11 09:00:00")
    settle(site)
    config = site.config()
    publish(config, NOW)
    assert publish(config, NOW + timedelta(hours=1)).unchanged
    due = publish(config, NOW + timedelta(days=1))
    assert not due.unchanged
    assert titles(site) == ["Tomorrow", "Now"]


def test_deleted_output_or_changed_config_is_rebuilt(site: SiteDir) -> None:
    site.post("2026-01-09-a.md", "title: A")
    settle(site)
    publish(site.config(), NOW)
    (site.out / "feed.xml").unlink()
    assert not publish(site.config(), NOW).unchanged
    assert titles(site) == ["A"]
    site.write_config('[feeds]\natom = "atom.xml"\n')
    assert not publish(site.config(), NOW).unchanged
    assert (site.out / "atom.xml").exists()


def test_build_then_publish_still_issues_the_digest(site: SiteDir) -> None:
    site.post("2026-01-09-a.md", "title: A")
    settle(site)
    config = site.config()
    publish(config, NOW, with_digest=False)
    result = publish(config, NOW)
    assert result.digest is not None and result.digest.record is not None


def test_fresh_files_are_never_trusted(site: SiteDir) -> None:
    site.post("2026-01-09-a.md", "title: A")  # mtime is now: could still change unseen
    config = site.config()
    publish(config, NOW)
    assert not publish(config, NOW).unchanged


def test_with_future_a_post_coming_due_still_gets_its_digest(site: SiteDir) -> None:
    site.post("2026-01-09-a.md", "title: Now")
    site.post("2026-01-10-b.md", "title: Soon\ndate: 2026-01-10 15:00:00")
    settle(site)
    config = site.config()
    first = publish(config, NOW, include_future=True)
    assert first.digest is not None and first.digest.posts == 1  # "Soon" is not due yet
    assert titles(site) == ["Soon", "Now"]  # but --future puts it in the feeds
    later = publish(config, NOW + timedelta(hours=4), include_future=True)
    assert not later.unchanged
    assert later.digest is not None and later.digest.record is not None
    assert later.digest.posts == 1
