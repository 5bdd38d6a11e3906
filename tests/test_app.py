"""The application layer called directly, as a library user (or the service)
would: each command function on a tiny site in tmp_path, its result read
field by field. The command line's own tests (test_cli.py) check the words."""

from __future__ import annotations

from datetime import timedelta

import pytest

from publisher.app.check import check
from publisher.app.digest import include, preview
from publisher.app.feeds import discovery_tags, feed_plan
from publisher.app.loading import load_config
from publisher.app.pipeline import build, publish
from publisher.app.send import send_queue
from publisher.app.subscribers import (
    subscribers_add,
    subscribers_export,
    subscribers_list,
    subscribers_remove,
    unsubscribe,
)
from publisher.errors import ContentError, SubscriberError

from .conftest import NOW, SiteDir
from .test_cache import settle


@pytest.fixture
def blog(site: SiteDir) -> SiteDir:
    site.post("2026-01-08-first.md", "title: First")
    site.post("2026-01-09-second.md", "title: Second")
    settle(site)  # mtimes the run guard can trust
    return site


def test_load_config_reads_publisher_toml(blog: SiteDir) -> None:
    assert load_config(blog.root / "publisher.toml") == blog.config()


def test_publish_then_nothing_changed_is_replayed(blog: SiteDir) -> None:
    config = blog.config()
    first = publish(config, NOW)
    assert first.summary.published == 2
    assert not first.unchanged and first.watched is None
    assert any(f.written and f.kind == "main" for f in first.feeds)
    assert first.digest is not None and first.digest.record is not None
    again = publish(config, NOW + timedelta(minutes=1))
    assert again.unchanged
    assert again.watched is not None  # what the shortcut checks before answering
    assert not any(f.written for f in again.feeds)
    assert again.summary == first.summary
    assert again.exit_code == 0


def test_build_issues_no_digest(blog: SiteDir) -> None:
    result = build(blog.config(), NOW)
    assert result.digest is None and result.delivery is None
    assert result.summary.published == 2


def test_check_counts_errors_and_lists_future_posts(blog: SiteDir) -> None:
    blog.raw("2026-01-07-broken.md", b"---\ntitle: [unclosed\n---\nx\n")
    blog.post("2026-02-01-later.md", "title: Later")
    blog.post("2026-01-06-liquid.md", "title: Liquid", body="Hello {{ page.title }}\n")
    result = check(blog.config(), NOW)
    assert result.errors >= 1
    assert [p.name for p in result.unpublished(NOW)] == ["2026-02-01-later.md"]
    assert any("Liquid left unrendered" in p.message for p in result.problems)
    assert list(result.problems) == sorted(result.problems, key=lambda p: (p.file, p.line or 0))
    assert result.comparison is None


def test_preview_records_nothing(blog: SiteDir) -> None:
    config = blog.config()
    site, letter = preview(config, NOW)
    assert letter is not None and len(letter.posts) == 2
    assert len(site.posts) == 2
    assert not config.state_file.exists()


def test_include_refuses_a_mailed_post_and_a_stranger(blog: SiteDir) -> None:
    config = blog.config()
    publish(config, NOW)
    with pytest.raises(ContentError, match="already mailed in digest"):
        include(config, NOW, (blog.posts / "2026-01-08-first.md",))
    with pytest.raises(ContentError, match="not a published post"):
        include(config, NOW, (blog.root / "nowhere.md",))


def test_include_puts_a_new_post_in_the_next_digest(blog: SiteDir) -> None:
    config = blog.config()
    publish(config, NOW)
    later = blog.post("2026-01-10-third.md", "title: Third")
    done = include(config, NOW, (later,))
    assert [(d.post.name, d.changed) for d in done] == [("2026-01-10-third.md", True)]
    assert [d.changed for d in include(config, NOW, (later,))] == [False]


def test_feed_plan_names_every_feed(blog: SiteDir) -> None:
    found = feed_plan(blog.config(), NOW)
    assert {f.format for f in found.feeds} >= {"atom", "rss"}
    assert all(len(f.posts) == 2 for f in found.feeds if f.kind == "main")
    assert 'rel="alternate"' in discovery_tags(found)


def test_the_list_from_add_to_remove(blog: SiteDir) -> None:
    config = blog.config()
    added = subscribers_add(config, NOW, "Ann@Example.org", name="Ann")
    assert added.changed and added.subscriber.status == "active" and added.typo == ""
    assert not subscribers_add(config, NOW, "ann@example.org").changed
    assert subscribers_add(config, NOW, "bob@gmial.com").typo  # a typo warning
    listing = subscribers_list(config)
    assert [s.email for s in listing.subscribers] == ["Ann@example.org", "bob@gmial.com"]
    assert listing.counts["active"] == 2 and listing.unconfirmed == ()
    assert unsubscribe(config, NOW, "ann@example.org").status == "active"  # as it was
    assert unsubscribe(config, NOW, "ann@example.org").status == "unsubscribed"
    out = blog.root / "list.csv"
    text = subscribers_export(config, out)
    assert out.read_text(encoding="utf-8") == text
    assert text.splitlines()[0] == "email,name,status"
    assert subscribers_remove(config, "bob@gmial.com").email == "bob@gmial.com"
    with pytest.raises(SubscriberError):
        subscribers_remove(config, "bob@gmial.com")


def test_send_queue_with_nothing_queued_needs_no_settings(blog: SiteDir) -> None:
    summary = send_queue(blog.config(), NOW)
    assert not summary.worth_saying() and summary.error == ""
