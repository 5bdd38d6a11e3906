from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import click
import feedparser
import pytest
from click.testing import CliRunner

from publisher.cli import cli

from .conftest import SiteDir

NOW = "2026-01-10T12:00:00+00:00"


def run(site: SiteDir, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-c", "from publisher.cli import main; main()", *args],
        cwd=site.root,
        capture_output=True,
        text=True,
        timeout=60,
    )


def all_commands(group=cli, prefix=()):  # type: ignore[no-untyped-def]
    # The main group imports each command's module on first use: ask it by name.
    ctx = click.Context(group)
    for name in group.list_commands(ctx):
        command = group.get_command(ctx, name)
        yield (*prefix, name)
        if hasattr(command, "commands"):
            yield from all_commands(command, (*prefix, name))


@pytest.mark.parametrize("command", [(), *all_commands()])
def test_every_command_has_help(command: tuple[str, ...]) -> None:
    result = CliRunner().invoke(cli, [*command, "--help"])
    assert result.exit_code == 0
    assert "Usage:" in result.output
    doc_lines = [line for line in result.output.splitlines()[2:] if line.strip()]
    assert doc_lines, f"{command} has no help text"


def test_publish_end_to_end_with_summary(site: SiteDir) -> None:
    site.add_sample()
    site.post("2026-01-09-new.md", "title: New one\ndate: 2026-01-09 08:00")
    result = run(site, "publish", "--now", NOW)
    assert result.returncode == 0, result.stderr
    assert "Posts: 2 files read; 2 published." in result.stdout
    assert "feed.xml written (2 entries)" in result.stdout
    assert "Digest: 2026-01-10 issued with 1 posts" in result.stdout
    feed = feedparser.parse(str(site.out / "feed.xml"))
    assert [e.title for e in feed.entries][0] == "New one"
    again = run(site, "publish", "--now", NOW)
    assert again.returncode == 0
    assert "feed.xml unchanged" in again.stdout
    assert "Digest: none issued (no new posts since 2026-01-10 13:00)." in again.stdout
    # Private state never lands in the public folder.
    assert not [p for p in site.out.rglob("*") if p.suffix in (".db", ".eml", ".csv")]


def test_skipped_posts_give_exit_3_and_the_rest_publish(site: SiteDir) -> None:
    site.post("2026-01-09-ok.md", "title: Fine")
    site.post("2026-01-09-bad.md", "title: [unclosed")
    result = run(site, "publish", "--now", NOW)
    assert result.returncode == 3
    assert "2026-01-09-bad.md:2: error: front matter is not valid YAML" in result.stderr
    assert "1 skipped for errors" in result.stdout
    feed = feedparser.parse(str(site.out / "feed.xml"))
    assert [e.title for e in feed.entries] == ["Fine"]


def test_config_error_is_one_line_and_a_hint_exit_1(site: SiteDir) -> None:
    site.write_config(text='[site]\nurl = "example.org"\n')
    result = run(site, "publish")
    assert result.returncode == 1
    assert result.stderr.splitlines() == [
        "error: publisher.toml: [site] url: must be an absolute http(s) URL, got 'example.org'",
        f"hint: fix {site.root / 'publisher.toml'} and run `publisher check`",
    ]
    verbose = run(site, "-v", "publish")
    assert "Traceback" in verbose.stderr


def test_missing_posts_folder_is_an_error(site: SiteDir) -> None:
    site.posts.rmdir()
    result = run(site, "build")
    assert result.returncode == 1
    assert "posts folder" in result.stderr and "does not exist" in result.stderr


def test_check_lists_every_problem(site: SiteDir) -> None:
    site.post("2026-01-09-ok.md", "title: Fine")
    site.post("a.md", "title: A\ndate: someday")
    site.post("2026-01-02-b.md", "date: 2026-01-02")
    site.raw("c.md", b"---\ntitle: \xff\n---\n")
    result = run(site, "check")
    assert result.returncode == 1
    assert "a.md:3: error: date 'someday' is not a date" in result.stderr
    assert "c.md:2: error: not UTF-8" in result.stderr
    assert "2026-01-02-b.md: warning: no title" in result.stderr
    assert "2 errors, 1 warnings" in result.stdout
    site.raw("a.md", b"---\ntitle: A\ndate: 2026-01-01\n---\n")
    site.raw("c.md", b"---\ntitle: C\ndate: 2026-01-01\n---\n")
    assert run(site, "check").returncode == 0
    assert run(site, "check", "--strict").returncode == 1


def test_digest_preview_prints_and_records_nothing(site: SiteDir) -> None:
    site.post("2026-01-09-new.md", "title: Preview me\ndate: 2026-01-09 08:00")
    html = run(site, "digest", "--preview", "--now", NOW)
    assert html.returncode == 0
    assert "Preview me" in html.stdout and "<table" in html.stdout
    text = run(site, "digest", "--preview", "--format", "text", "--now", NOW)
    assert "Preview me" in text.stdout and "<table" not in text.stdout
    assert not (site.out / "digest").exists()
    assert run(site, "publish", "--now", NOW).returncode == 0
    empty = run(site, "digest", "--preview", "--now", NOW)
    assert "No new posts" in empty.stderr and empty.returncode == 0


def test_build_does_not_issue_a_digest(site: SiteDir) -> None:
    site.post("2026-01-09-new.md", "title: Only feeds\ndate: 2026-01-09 08:00")
    result = run(site, "build", "--now", NOW)
    assert result.returncode == 0
    assert "Digest" not in result.stdout
    assert not (site.out / "digest").exists()


def test_check_validates_the_digest_schedule(site: SiteDir) -> None:
    site.write_config('[schedule]\ndigest = "0 25 * * mon"\n')
    result = run(site, "check")
    assert result.returncode == 1
    assert "[schedule] digest: '0 25 * * mon' is not a cron expression" in result.stderr


def test_python_dash_m_runs_the_cli(site: SiteDir) -> None:
    result = subprocess.run(
        [sys.executable, "-m", "publisher", "--version"], capture_output=True, text=True
    )
    assert result.returncode == 0 and "publisher" in result.stdout


def test_check_validates_mail_settings_when_delivery_is_configured(site: SiteDir) -> None:
    site.write_config(
        '[delivery]\nfrom = "News <news@example.org>"\n'
        'unsubscribe_url = "https://example.org/#/unsubscribe"\n'
    )
    result = run(site, "check")
    assert result.returncode == 1
    assert "[delivery] unsubscribe_url: has a #fragment" in result.stderr


def test_exit_codes_say_the_same_in_help_readme_and_code() -> None:
    """One ExitCode enum: --help lists each code with its meaning, and the README's
    exit status table starts each row with the same words."""
    from publisher.errors import EXIT_MEANINGS, ExitCode

    assert set(EXIT_MEANINGS) == set(ExitCode)
    help_text = CliRunner().invoke(cli, ["--help"]).output
    help_text = " ".join(help_text.split())  # click wraps long lines
    for code in ExitCode:
        assert f"{int(code)} {code.meaning}" in help_text
    readme = (Path(__file__).parents[1] / "README.md").read_text(encoding="utf-8")
    table = readme.split("### Exit status", 1)[1].split("\n\n", 2)[1]
    rows = {}
    for line in table.splitlines()[2:]:
        cells = [c.strip() for c in line.strip("|").split("|")]
        rows[int(cells[0])] = cells[1]
    assert set(rows) == {int(c) for c in ExitCode}
    for code in ExitCode:
        assert rows[int(code)].startswith(code.meaning), (code, rows[int(code)])


def test_feeds_html_prints_a_link_tag_per_feed(site: SiteDir) -> None:
    from .test_feeds import Links

    site.write_config('[feeds]\ncategories = "all"\ntags = ["Café au lait"]\n')
    site.post("2026-01-09-a.md", "title: A\ncategories: [News]\ntags: [café au lait]")
    result = run(site, "feeds", "--html", "--now", NOW)
    assert result.returncode == 0, result.stderr
    tags = Links()
    tags.feed(result.stdout)
    assert [(a["type"], a["href"], a["title"]) for a in tags.alternates] == [
        ("application/atom+xml", "https://example.org/blog/feed.xml", "Example & <Co> (Atom)"),
        ("application/rss+xml", "https://example.org/blog/rss.xml", "Example & <Co> (RSS)"),
        ("application/feed+json", "https://example.org/blog/feed.json",
         "Example & <Co> (JSON Feed)"),
        ("application/atom+xml", "https://example.org/blog/feed/news.xml",
         "Example & <Co>: category News (Atom)"),
        ("application/rss+xml", "https://example.org/blog/feed/news.rss.xml",
         "Example & <Co>: category News (RSS)"),
        ("application/feed+json", "https://example.org/blog/feed/news.json",
         "Example & <Co>: category News (JSON Feed)"),
        ("application/atom+xml", "https://example.org/blog/feed/by_tag/caf%C3%A9-au-lait.xml",
         "Example & <Co>: tag Café au lait (Atom)"),
        ("application/rss+xml",
         "https://example.org/blog/feed/by_tag/caf%C3%A9-au-lait.rss.xml",
         "Example & <Co>: tag Café au lait (RSS)"),
        ("application/feed+json", "https://example.org/blog/feed/by_tag/caf%C3%A9-au-lait.json",
         "Example & <Co>: tag Café au lait (JSON Feed)"),
    ]
    assert len(result.stdout.splitlines()) == 9
    assert not site.out.exists()  # listing writes nothing
    listing = run(site, "feeds", "--now", NOW)
    assert listing.returncode == 0
    lines = listing.stdout.splitlines()
    assert len(lines) == 9
    assert lines[3].split() == [
        "Atom", "category", "'News'", str(site.out / "feed" / "news.xml"),
        "https://example.org/blog/feed/news.xml", "(1", "entries)",
    ]


def test_check_reports_names_that_share_a_feed(site: SiteDir) -> None:
    site.write_config('[feeds]\ntags = "all"\n')
    site.post("2026-01-08-a.md", "title: A\ntags: [Python]")
    site.post("2026-01-09-b.md", "title: B\ntags: [python]")
    result = run(site, "check", "--strict", "--now", NOW)
    assert result.returncode == 1
    assert (
        "2026-01-09-b.md: warning: tag 'python' has the same feed as tag 'Python' "
        "(feed/by_tag/python.xml)" in result.stderr
    )


def test_posts_in_formats_not_read_are_named_on_every_run_and_fail_check(
    site: SiteDir,
) -> None:
    """A Hugo site's posts (TOML front matter) published nothing and said nothing,
    and `check --strict` passed: subscribers would simply stop getting posts."""
    site.post("post/one.md", None, body='+++\ntitle = "One"\ndate = 2026-01-02\n+++\nBody.\n')
    site.post("two.md", None, body="Title: Two\nDate: 2026-01-03\n\nBody.\n")
    site.post("2026-01-04-three.md", "Title: Three")
    warning = (
        "post/one.md:1: warning: front matter opened by `+++` is TOML (Hugo's), which "
        "publisher does not read: not published; write it as YAML between `---` lines"
    )
    for _ in range(2):  # the second run changes nothing: it replays, and says it again
        result = run(site, "publish", "--now", NOW)
        assert result.returncode == 0, result.stderr
        assert warning in result.stderr
        assert "two.md:1: warning: header lines `Title:`, `Date:`" in result.stderr
        assert "did you mean `title`?" in result.stderr
        assert "Posts: 3 files read; 1 published, 2 not read as posts." in result.stdout
    checked = run(site, "check", "--now", NOW)
    assert checked.returncode == 1
    assert warning.replace(": warning: ", ": error: ") in checked.stderr
    assert "2026-01-04-three.md:2: warning: `Title:` is not read" in checked.stderr
    assert checked.stdout.strip().endswith("1 posts, 2 errors, 1 warnings.")
