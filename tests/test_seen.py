"""Digest selection by first-seen time (store/seen.py), through the real pipeline and CLI."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

from click.testing import CliRunner

from publisher.app.digest import preview
from publisher.app.pipeline import build, publish
from publisher.cli import cli
from publisher.config.settings import Config
from publisher.store.store import Store

from .conftest import SiteDir
from .test_cache import settle

# A Monday 08:00 in Paris (07:00 UTC): the weekly digest's time.
MONDAY = datetime(2026, 3, 2, 7, 0, tzinfo=UTC)


def digested(config: Config) -> list[list[str]]:
    """The post titles of every digest issued, oldest first."""
    state = Store.open(config.state_file)
    try:
        rows = state._conn.execute(
            "SELECT digest_id, title FROM digest_posts ORDER BY digest_id, position"
        ).fetchall()
    finally:
        state.close()
    result: dict[int, list[str]] = {}
    for digest_id, title in rows:
        result.setdefault(digest_id, []).append(title)
    return list(result.values())


def cli_run(site: SiteDir, *args: str) -> tuple[int, str, str]:
    result = CliRunner().invoke(cli, ["--config", str(site.root / "publisher.toml"), *args])
    return result.exit_code, result.stdout, result.stderr


def start(site: SiteDir) -> Config:
    """A site whose first digest went out on MONDAY with one post."""
    site.post("first.md", "title: First\ndate: 2026-03-01 10:00:00")
    config = site.config()
    assert publish(config, MONDAY).digest.record is not None
    return config


def test_a_post_dated_before_the_digest_but_written_after_it_is_mailed(site: SiteDir) -> None:
    """The afternoon case: dated Monday (a date-only date is midnight), finished
    Monday afternoon, after the 08:00 digest. Selecting by date missed it."""
    config = start(site)
    site.post("afternoon.md", "title: Afternoon\ndate: 2026-03-02")
    afternoon = MONDAY + timedelta(hours=7)
    assert build(config, afternoon).archived == ()  # the feeds show it at once
    result = publish(config, MONDAY + timedelta(days=7))
    assert result.digest is not None and result.digest.posts == 1
    assert digested(config) == [["First"], ["Afternoon"]]


def test_a_post_first_seen_by_a_feeds_only_rebuild_keeps_that_time(site: SiteDir) -> None:
    """Saved on Tuesday, dated two days earlier (so 8 days old by the next
    weekly digest): the rebuild that put it in the feeds records it, and the
    digest mails it. Without that record it would look like an archive import."""
    config = start(site)
    site.post("tuesday.md", "title: Tuesday\ndate: 2026-02-28 18:00:00")
    assert build(config, MONDAY + timedelta(days=1)).archived == ()
    result = publish(config, MONDAY + timedelta(days=7))
    assert result.digest is not None and result.digest.record is not None
    assert digested(config)[-1] == ["Tuesday"]


def test_the_same_post_first_seen_by_the_digest_run_is_an_archive_import(
    site: SiteDir,
) -> None:
    """The counterpart of the test above: the rule that rebuild guards against."""
    config = start(site)
    site.post("tuesday.md", "title: Tuesday\ndate: 2026-02-28 18:00:00")
    result = publish(config, MONDAY + timedelta(days=7))
    assert result.digest is not None and result.digest.record is None
    assert [a.file for a in result.archived] == ["tuesday.md"]


def test_the_service_rebuild_records_first_seen(site: SiteDir) -> None:
    from publisher.service.schedule import Service

    config = start(site)
    site.post("tuesday.md", "title: Tuesday\ndate: 2026-02-28 18:00:00")
    Service(config, clock=lambda: MONDAY + timedelta(days=1)).rebuild("scan")
    publish(config, MONDAY + timedelta(days=7))
    assert digested(config)[-1] == ["Tuesday"]


def test_an_archive_of_500_old_posts_is_not_mailed_and_said_in_one_line(site: SiteDir) -> None:
    config = start(site)
    for i in range(500):
        day = datetime(2019, 1, 1) + timedelta(days=i)
        site.post(f"old/{day:%Y-%m-%d}-old-{i}.md", f"title: Old {i}\ndate: {day:%Y-%m-%d}")
    site.post("fresh.md", "title: Fresh\ndate: 2026-03-03 09:00:00")
    when = MONDAY + timedelta(days=2)
    code, out, err = cli_run(site, "publish", "--now", when.isoformat())
    assert code == 0, err
    notes = [line for line in err.splitlines() if line.startswith("note:")]
    assert notes == [
        "note: 500 posts not mailed, an archive import: dated 2019-01-01 to 2020-05-14, "
        "first seen today; set [digest] backdated_days or run "
        "`publisher digest --include FILE` for any of them"
    ]
    # The next digest: the fresh post alone; and the import is not named again.
    code, out, err = cli_run(site, "publish", "--now", (when + timedelta(days=5)).isoformat())
    assert code == 0, err
    assert "note:" not in err
    assert digested(config) == [["First"], ["Fresh"]]


def test_a_few_archive_imports_are_named_by_publish_check_and_preview(site: SiteDir) -> None:
    start(site)
    site.post("old.md", "title: Old\ndate: 2024-03-01")
    when = (MONDAY + timedelta(hours=3)).isoformat()
    line = (
        "content/old.md: not mailed: dated 2024-03-01, first seen today; set [digest] "
        "backdated_days or run `publisher digest --include content/old.md`"
    )
    # Before any run saw it, check warns (there is still time to fix its date)...
    code, out, err = cli_run(site, "check", "--strict", "--now", when)
    assert code == 1 and f"warning: {line}" in err.splitlines()
    code, out, err = cli_run(site, "digest", "--preview", "--now", when)
    assert f"note: {line}" in err.splitlines()
    # ...publish records it and says so...
    code, out, err = cli_run(site, "publish", "--now", when)
    assert code == 0 and f"note: {line}" in err.splitlines()
    # ...and until the next digest, check and preview name it as a note.
    code, out, err = cli_run(site, "check", "--strict", "--now", when)
    assert code == 0 and f"note: {line}" in err.splitlines()
    code, out, err = cli_run(site, "digest", "--preview", "--now", when)
    assert f"note: {line}" in err.splitlines()


def test_publish_does_not_read_the_archive_imports_twice(site: SiteDir) -> None:
    """`publish` names the imports from what it recorded; its selection skips
    reading them back (100,000 rows after a big import), check's does not."""
    from publisher.content import site as content
    from publisher.digest import selection as digest

    config = start(site)
    site.post("old.md", "title: Old\ndate: 2024-03-01")
    when = MONDAY + timedelta(hours=3)
    assert [a.file for a in publish(config, when).archived] == ["old.md"]
    loaded = content.load_site(config, when)
    state = Store.open(config.state_file)
    try:
        named = digest.select(loaded, state, config, when).archived
        assert [a.file for a in named] == ["old.md"]
        assert digest.select(loaded, state, config, when, archive=False).archived == ()
    finally:
        state.close()


def test_digest_include_mails_an_archive_import_once(site: SiteDir) -> None:
    config = start(site)
    site.post("old.md", "title: Old\ndate: 2024-03-01")
    settle(site)
    when = MONDAY + timedelta(hours=3)
    assert publish(config, when).archived
    assert publish(config, when + timedelta(minutes=1)).unchanged
    code, out, err = cli_run(site, "digest", "--include", "content/old.md",
                             "--now", when.isoformat())
    assert (code, out) == (0, "old.md will go into the next digest.\n"), err
    # The unchanged-run shortcut does not hide the choice.
    result = publish(config, when + timedelta(minutes=2))
    assert result.digest is not None and result.digest.posts == 1
    assert digested(config) == [["First"], ["Old"]]
    code, out, err = cli_run(site, "digest", "--include", str(site.posts / "old.md"))
    assert code == 1 and "error: old.md: already mailed in digest 2026-03-02-2" in err
    code, out, err = cli_run(site, "digest", "--include", "content/nope.md")
    assert code == 1 and "not a published post" in err


def test_a_clock_that_went_back_neither_hides_nor_repeats_a_post(site: SiteDir) -> None:
    config = start(site)
    # A digest issued while the clock was three days ahead...
    ahead = MONDAY + timedelta(days=3)
    site.post("ahead.md", "title: Ahead\ndate: 2026-03-02 09:00:00")
    assert publish(config, ahead).digest.posts == 1
    # ...does not hide the posts written once it is right again: selecting by
    # "dated after the last cutoff" would never have mailed it.
    site.post("tue.md", "title: Tuesday\ndate: 2026-03-03 09:00:00")
    assert publish(config, MONDAY + timedelta(days=1, hours=3)).digest.posts == 1
    assert digested(config) == [["First"], ["Ahead"], ["Tuesday"]]
    # A run with the clock behind again mails nothing twice.
    assert publish(config, MONDAY + timedelta(days=1, hours=4)).digest.record is None
    state = Store.open(config.state_file)
    try:
        seen_at = state._conn.execute(
            "SELECT seen_at FROM first_seen WHERE file = 'ahead.md'"
        ).fetchone()[0]
    finally:
        state.close()
    assert datetime.fromisoformat(seen_at) == ahead  # first seen stays first


def test_unpublished_then_republished(site: SiteDir) -> None:
    config = start(site)
    # Mailed, unpublished, published again: not mailed twice.
    site.post("first.md", "title: First\ndate: 2026-03-01 10:00:00\npublished: false")
    publish(config, MONDAY + timedelta(hours=1))
    site.post("first.md", "title: First\ndate: 2026-03-01 10:00:00")
    assert publish(config, MONDAY + timedelta(hours=2)).digest.record is None
    # Seen, unpublished before the digest, republished weeks later: mailed once then.
    site.post("later.md", "title: Later\ndate: 2026-03-03 10:00:00")
    publish(config, MONDAY + timedelta(days=1, hours=3), with_digest=False)
    site.post("later.md", "title: Later\ndate: 2026-03-03 10:00:00\npublished: false")
    assert publish(config, MONDAY + timedelta(days=7)).digest.record is None
    site.post("later.md", "title: Later\ndate: 2026-03-03 10:00:00")
    assert publish(config, MONDAY + timedelta(days=30)).digest.posts == 1
    assert publish(config, MONDAY + timedelta(days=37)).digest.record is None
    assert digested(config) == [["First"], ["Later"]]


def test_upgrading_keeps_the_old_rule_for_what_was_already_there(site: SiteDir) -> None:
    """A state store from before first-seen: the first recording run treats
    posts dated after the last digest as new and older ones as the archive."""
    config = start(site)
    state = Store.open(config.state_file)
    try:
        state._conn.execute("DELETE FROM first_seen")
        state._conn.execute("DELETE FROM meta WHERE key = 'first_seen.since'")
    finally:
        state.close()
    site.post("after.md", "title: After\ndate: 2026-03-02 12:00:00")
    site.post("before.md", "title: Before\ndate: 2026-02-20 12:00:00")
    result = publish(config, MONDAY + timedelta(days=1))
    assert result.digest is not None and result.digest.posts == 1
    assert [(a.file, a.first_run) for a in result.archived] == [("before.md", True)]
    assert digested(config) == [["First"], ["After"]]


def test_preview_and_check_record_nothing(site: SiteDir, tmp_path: Path) -> None:
    site.post("a.md", "title: A\ndate: 2026-03-01 10:00:00")
    config = site.config()
    _site, letter = preview(config, MONDAY)
    assert letter is not None and len(letter.posts) == 1
    assert not config.state_file.exists()
    code, out, err = cli_run(site, "check", "--now", MONDAY.isoformat())
    assert code == 0 and not config.state_file.exists()
