"""The nothing-changed shortcut (`shortcut`) must answer exactly as the command
would, and only when nothing the answer depends on changed.

Each test first sees the shortcut answer, so none passes merely because it
never does; then changes one thing and sees it decline (print nothing, return
None), so that the full command runs. The last tests drive random edits and
compare every answer the shortcut gives with the full command's.
"""

from __future__ import annotations

import os
import random
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import pytest
from click.testing import CliRunner

from publisher.cli import cli
from publisher.incremental import shortcut

from .conftest import SiteDir

NOW = "2026-01-10T12:00:00+00:00"
PAST = time.time() - 3600  # one fixed moment: aging twice gives the same mtimes


def age(root: Path) -> None:
    """Give every file and folder of the site one old mtime: trustworthy (RACY_NS)."""
    for path in [root, *root.rglob("*")]:
        os.utime(path, (PAST, PAST), follow_symlinks=False)


def run_cli(site: SiteDir, *args: str) -> tuple[int, list[str], list[str]]:
    """The full command line in this process (never the shortcut)."""
    argv = ["--config", str(site.root / "publisher.toml"), *args]
    result = CliRunner().invoke(cli, argv, catch_exceptions=False)
    return result.exit_code, result.stdout.splitlines(), result.stderr.splitlines()


def quick(
    site: SiteDir, capsys: pytest.CaptureFixture[str], *args: str
) -> tuple[int, list[str], list[str]] | None:
    """The shortcut for the same command: None when it declines (and prints nothing)."""
    capsys.readouterr()
    started = time.perf_counter()
    code = shortcut.replay(["--config", str(site.root / "publisher.toml"), *args], started)
    out, err = capsys.readouterr()
    if code is None:
        assert (out, err) == ("", ""), "declined, yet printed"
        return None
    return code, out.splitlines(), err.splitlines()


def without_done(lines: list[str]) -> list[str]:
    return [line for line in lines if not line.startswith("Done in ")]


def same_words(lines: list[str]) -> list[str]:
    """After a touch, the full command reads the files again where the shortcut
    compared their bytes, and looks for mail to send: the first line's wording
    differs and it says nothing is pending; nothing else may differ."""
    return [line.replace("files read;", "files checked, none changed;")
            for line in without_done(lines) if line != "Delivery: nothing pending."]


def recorded(site: SiteDir, *args: str) -> tuple[int, list[str], list[str]]:
    """Publish until the run guard replays (which records the shortcut); that
    run's output."""
    run_cli(site, *args)
    age(site.root)
    run_cli(site, *args)  # the outputs' mtimes moved: a full run, writing nothing
    age(site.root)
    replayed = run_cli(site, *args)
    assert "none changed" in replayed[1][0], replayed
    assert (site.root / ".publisher" / shortcut.FILE).is_file()
    return replayed


@pytest.fixture
def blog(site: SiteDir) -> SiteDir:
    site.post("2026-01-08-a.md", 'title: "A"\ncategories: [news]', body="First.\n")
    site.post("2026-01-09-b.md", "title: B", body="Second.\n")
    site.post("2026-01-20-later.md", "title: Later", body="Scheduled.\n")
    (site.posts / "drafts-folder").mkdir()
    return site


def test_answers_as_the_replayed_run_did(blog: SiteDir, capsys) -> None:
    code, out, err = recorded(blog, "publish", "--now", NOW)
    answer = quick(blog, capsys, "publish", "--now", NOW)
    assert answer is not None
    assert answer[0] == code == 0
    assert without_done(answer[1]) == without_done(out)
    assert answer[1][-1].startswith("Done in ")
    assert answer[2] == err
    # and again: the shortcut changes nothing it depends on
    again = quick(blog, capsys, "publish", "--now", NOW)
    assert again is not None
    assert (again[0], without_done(again[1]), again[2]) == (code, without_done(out), err)


def test_quiet_prints_only_stderr(blog: SiteDir, capsys) -> None:
    blog.raw("2026-01-07-broken.md", b"---\ntitle: [unclosed\n---\nx\n")
    code, out, err = recorded(blog, "publish", "--now", NOW)
    assert code != 0 and err  # a post skipped for errors: its own exit status
    answer = quick(blog, capsys, "-q", "publish", "--now", NOW)
    assert answer == (code, [], err)


def test_the_console_script_uses_it_without_importing_the_cli(blog: SiteDir) -> None:
    _, out, _ = recorded(blog, "publish", "--now", NOW)
    probe = (
        "import sys, time\n"
        "from publisher.incremental import shortcut\n"
        "code = shortcut.replay(sys.argv[1:], time.perf_counter())\n"
        "heavy = sorted(m for m in ('click', 'yaml', 'sqlite3', 'jinja2',"
        " 'publisher.config.settings', 'publisher.cli', 'typing') if m in sys.modules)\n"
        "print('CODE', code, 'HEAVY', heavy)\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", probe, "publish", "--now", NOW],
        cwd=blog.root, capture_output=True, text=True, check=True,
    )
    assert done.stdout.splitlines()[-1] == "CODE 0 HEAVY []"
    assert without_done(done.stdout.splitlines()[:-1]) == without_done(out)
    # `python -m publisher` (the entry point) answers the same
    entry = subprocess.run(
        [sys.executable, "-m", "publisher", "publish", "--now", NOW],
        cwd=blog.root, capture_output=True, text=True,
    )
    assert entry.returncode == 0
    assert without_done(entry.stdout.splitlines()) == without_done(out)


def test_a_touched_post_with_the_same_bytes_still_answers(blog: SiteDir, capsys) -> None:
    recorded(blog, "publish", "--now", NOW)
    os.utime(blog.posts / "2026-01-08-a.md")  # mtime now, bytes as they were
    assert quick(blog, capsys, "publish", "--now", NOW) is not None


@pytest.mark.parametrize(
    "change",
    [
        "edit a post, same size",
        "edit a post, other size",
        "add a post",
        "add a non-post file",
        "remove a post",
        "rename a post",
        "add a post in an empty folder",
        "edit the configuration",
        "edit a feed",
        "remove a feed",
        "write to the state store",
        "remove the run record",
        "damage the record",
    ],
)
def test_any_change_declines(blog: SiteDir, capsys, change: str) -> None:
    recorded(blog, "publish", "--now", NOW)
    assert quick(blog, capsys, "publish", "--now", NOW) is not None
    a = blog.posts / "2026-01-08-a.md"
    later = PAST + 5
    if change == "edit a post, same size":
        a.write_text(a.read_text().replace("First.", "Fyrst."))
        os.utime(a, (later, later))
    elif change == "edit a post, other size":
        a.write_text(a.read_text() + "More.\n")
        os.utime(a, (later, later))
    elif change == "add a post":
        blog.post("2026-01-09-c.md", "title: C")
    elif change == "add a non-post file":
        (blog.posts / "notes.txt").write_text("x")
    elif change == "remove a post":
        a.unlink()
    elif change == "rename a post":
        a.rename(blog.posts / "2026-01-08-renamed.md")
    elif change == "add a post in an empty folder":
        blog.post("drafts-folder/2026-01-09-d.md", "title: D")
        assert os.stat(blog.posts).st_mtime == PAST  # only the subfolder's mtime tells
    elif change == "edit the configuration":
        with (blog.root / "publisher.toml").open("a") as file:
            file.write("# a comment changes nothing, but the bytes changed\n")
    elif change == "edit a feed":
        feed = blog.out / "feed.xml"
        feed.write_bytes(feed.read_bytes() + b"<!-- edited by hand -->")
        os.utime(feed, (PAST, PAST))  # same mtime: the size tells
    elif change == "remove a feed":
        (blog.out / "rss.xml").unlink()
    elif change == "write to the state store":
        conn = sqlite3.connect(blog.root / ".publisher" / "state.db")
        conn.execute("CREATE TABLE scribble (x)")
        conn.close()
    elif change == "remove the run record":
        (blog.root / ".publisher" / "last-run.json").unlink()
    elif change == "damage the record":
        (blog.root / ".publisher" / shortcut.FILE).write_bytes(b"\x00garbage")
    assert quick(blog, capsys, "publish", "--now", NOW) is None


def test_a_scheduled_post_coming_due_declines(blog: SiteDir, capsys) -> None:
    recorded(blog, "publish", "--now", NOW)
    assert quick(blog, capsys, "publish", "--now", "2026-01-19T22:00:00+00:00") is not None
    assert quick(blog, capsys, "publish", "--now", "2026-01-20T00:00:00+00:00") is None
    assert quick(blog, capsys, "publish") is None  # the real clock: long after


@pytest.mark.parametrize(
    "argv",
    [
        ["build", "--now", NOW],
        ["publish", "--no-digest", "--now", NOW],
        ["publish", "--future", "--now", NOW],
        ["-v", "publish", "--now", NOW],
        ["publish", "--drafts", "--now", NOW],
        ["publish", "--now", "not a date"],
        ["publish", "--now"],
        ["publish", "--help"],
        ["publish", "--now", NOW, "extra"],
        ["check", "--now", NOW],
    ],
)
def test_other_commands_decline(blog: SiteDir, capsys, argv: list[str]) -> None:
    recorded(blog, "publish", "--now", NOW)
    assert quick(blog, capsys, "publish", "--now", NOW) is not None
    assert quick(blog, capsys, *argv) is None


def test_build_has_its_own_record(blog: SiteDir, capsys) -> None:
    _, out, _ = recorded(blog, "build", "--now", NOW)
    answer = quick(blog, capsys, "build", "--now", NOW)
    assert answer is not None and without_done(answer[1]) == without_done(out)
    # publish --no-digest is the same run
    assert quick(blog, capsys, "publish", "--no-digest", "--now", NOW) is not None
    assert quick(blog, capsys, "publish", "--now", NOW) is None


def test_a_full_run_forgets_it_and_keeps_its_digests(blog: SiteDir, capsys) -> None:
    recorded(blog, "publish", "--now", NOW)
    state = blog.root / ".publisher"
    blog.post("2026-01-09-c.md", "title: C")
    run_cli(blog, "publish", "--now", NOW)  # a full run
    assert not (state / shortcut.FILE).exists()
    assert (state / shortcut.OLD_FILE).exists()  # its digests, for the next record
    recorded(blog, "publish", "--now", NOW)
    assert not (state / shortcut.OLD_FILE).exists()
    assert quick(blog, capsys, "publish", "--now", NOW) is not None


def _record(site: SiteDir) -> dict:
    import marshal

    return marshal.loads((site.root / ".publisher" / shortcut.FILE).read_bytes())


def test_the_run_right_after_a_cold_publish_answers(blog: SiteDir, capsys) -> None:
    age(blog.root)  # posts written long ago, nothing published yet
    run_cli(blog, "publish", "--now", NOW)  # cold: a full run, its outputs written just now
    assert _record(blog)["racy"]  # what it wrote is compared by bytes, not stat
    answer = quick(blog, capsys, "publish", "--now", NOW)
    assert answer is not None
    code, out, err = run_cli(blog, "publish", "--now", NOW)  # the guard's replay
    assert "none changed" in out[0]
    assert (answer[0], without_done(answer[1]), answer[2]) == (code, same_words(out), err)


@pytest.mark.parametrize("written", ["out/feed.xml", ".publisher/state.db"])
def test_a_fresh_file_changed_under_the_same_stat_declines(
    blog: SiteDir, capsys, written: str
) -> None:
    """On a filesystem with coarse timestamps, a file written again within the
    same tick keeps its mtime: for the files a full run just wrote, the bytes tell."""
    age(blog.root)
    run_cli(blog, "publish", "--now", NOW)
    path = blog.root / written
    st = path.stat()
    data = bytearray(path.read_bytes())
    data[-1] ^= 1
    path.write_bytes(bytes(data))
    os.utime(path, ns=(st.st_atime_ns, st.st_mtime_ns))
    assert path.stat().st_size == st.st_size
    assert quick(blog, capsys, "publish", "--now", NOW) is None


def test_a_post_edited_just_before_a_full_run_is_read_again(blog: SiteDir, capsys) -> None:
    age(blog.root)
    a = blog.posts / "2026-01-08-a.md"
    a.write_text(a.read_text().replace("First.", "Fyrst."))  # now: its mtime could lie
    run_cli(blog, "publish", "--now", NOW)
    assert not (blog.root / ".publisher" / shortcut.FILE).exists()
    assert quick(blog, capsys, "publish", "--now", NOW) is None


def test_a_run_record_dropped_after_a_full_run_is_not_recorded(blog: SiteDir) -> None:
    """`digest --include` drops the run record (RunGuard.forget) between the
    full run and the moment the command line records it: nothing is recorded."""
    from datetime import datetime

    from publisher.app.pipeline import publish
    from publisher.app.remember import remember
    from publisher.incremental.cache import RunGuard

    age(blog.root)
    config = blog.config()
    result = publish(config, datetime.fromisoformat(NOW))
    assert result.as_replayed is not None  # a full run the guard will replay
    RunGuard.forget(config)
    remember(config, result, (False, True), lambda replay: [], blog.root / "publisher.toml")
    assert not (blog.root / ".publisher" / shortcut.FILE).exists()


def test_once_settled_the_record_is_written_again_by_stat(
    blog: SiteDir, capsys, monkeypatch: pytest.MonkeyPatch
) -> None:
    age(blog.root)
    _, out, _ = run_cli(blog, "publish", "--now", NOW)
    assert shortcut.UNKNOWN in _record(blog)["posts"][0][3]  # a full run reads posts once
    monkeypatch.setattr(shortcut, "RACY_NS", 0)  # as if two seconds had passed
    assert quick(blog, capsys, "publish", "--now", NOW) is not None
    record = _record(blog)
    assert record["racy"] == ()
    assert all(shortcut.UNKNOWN not in row[3] for row in record["posts"])
    os.utime(blog.posts / "2026-01-08-a.md")  # a touch: the digest taken on settling tells
    assert quick(blog, capsys, "publish", "--now", NOW) is not None


def test_nothing_recent_is_recorded(blog: SiteDir) -> None:
    recorded(blog, "publish", "--now", NOW)
    record = blog.root / ".publisher" / shortcut.FILE
    record.unlink()
    os.utime(blog.posts / "2026-01-09-b.md")  # changed just now: its mtime could lie
    run_cli(blog, "publish", "--now", NOW)
    run_cli(blog, "publish", "--now", NOW)
    assert not record.exists()


def test_a_jekyll_site_is_not_recorded(tmp_path: Path) -> None:
    site = tmp_path / "blog"
    (site / "_posts").mkdir(parents=True)
    (site / "_config.yml").write_text("title: Blog\nurl: https://example.org\n")
    (site / "_posts" / "2026-01-08-a.md").write_text("---\ntitle: A\n---\nHello.\n")
    (site / "publisher.toml").write_text('[jekyll]\nsite = "."\n')
    blog = SiteDir(site)
    for _ in range(2):
        run_cli(blog, "publish", "--now", NOW)
        age(site)
    run_cli(blog, "publish", "--now", NOW)
    assert not (site / ".publisher" / shortcut.FILE).exists()


def test_a_state_folder_elsewhere(site: SiteDir, capsys) -> None:
    site.write_config('[state]\npath = "private/db/state.db"  # kept out of the site\n')
    site.post("2026-01-08-a.md", "title: A")
    run_cli(site, "publish", "--now", NOW)
    age(site.root)
    run_cli(site, "publish", "--now", NOW)
    age(site.root)
    run_cli(site, "publish", "--now", NOW)
    assert (site.root / "private" / "db" / shortcut.FILE).is_file()
    assert quick(site, capsys, "publish", "--now", NOW) is not None
    # Written so the guess misses: the full command runs, nothing is wrong.
    site.write_config('state = { path = "private/db/state.db" }\n')
    age(site.root)
    assert quick(site, capsys, "publish", "--now", NOW) is None


@pytest.mark.parametrize(
    "damage",
    [{"python": "2.7.18"}, {"format": 1}, {"lines": None}, {"code": "x"}, {"posts": 7}],
)
def test_a_record_of_another_kind_declines(blog: SiteDir, capsys, damage: dict) -> None:
    import marshal

    recorded(blog, "publish", "--now", NOW)
    file = blog.root / ".publisher" / shortcut.FILE
    record = marshal.loads(file.read_bytes())
    file.write_bytes(marshal.dumps({**record, **damage}))
    assert quick(blog, capsys, "publish", "--now", NOW) is None


# -- never an answer the full command would not give ------------------------------


def edit(blog: SiteDir, rng: random.Random, step: int) -> str:
    """One random change, with real mtimes (nothing aged)."""
    posts = sorted(p for p in blog.posts.rglob("*.md"))
    action = rng.choice(["touch", "edit", "add", "remove", "nothing", "config"])
    if action == "touch" and posts:
        os.utime(rng.choice(posts))
    elif action == "edit" and posts:
        post = rng.choice(posts)
        text = post.read_text()
        post.write_text(text.replace("Body", "Bodx") if "Body" in text else text + "Body\n")
    elif action == "add":
        blog.post(f"2026-01-0{rng.randint(1, 9)}-n{step}.md", f"title: N{step}", body="Body\n")
    elif action == "remove" and len(posts) > 1:
        rng.choice(posts).unlink()
    elif action == "config":
        blog.write_config(f"[feeds]\nlimit = {rng.choice([5, 10])}\n")
    return action


@pytest.mark.parametrize("seed", range(4))
def test_every_answer_is_the_full_commands(
    blog: SiteDir, capsys, monkeypatch: pytest.MonkeyPatch, seed: int
) -> None:
    # Files change within this test's milliseconds; trust every mtime, as a
    # filesystem with exact timestamps allows.
    from publisher.content import site as content
    from publisher.feeds import cache as feedcache
    from publisher.incremental import cache

    for module in (cache, content, feedcache, shortcut):
        monkeypatch.setattr(module, "RACY_NS", 0)
    rng = random.Random(seed)
    answered = declined = 0
    for step in range(14):
        action = edit(blog, rng, step)
        answer = quick(blog, capsys, "publish", "--now", NOW)
        code, out, err = run_cli(blog, "publish", "--now", NOW)
        if answer is None:
            declined += 1
        else:
            answered += 1
            assert answer[0] == code
            assert without_done(answer[1]) == same_words(out), f"step {step}: {action}"
            assert answer[2] == err
        run_cli(blog, "publish", "--now", NOW)  # the guard replays, and records
    assert answered and declined  # both happened along the way
