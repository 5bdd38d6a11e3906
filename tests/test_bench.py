"""The benchmark harness must keep working: generator output, the SMTP sink, and a smoke run.

No timing assertions here: only that the harness runs the real CLI and writes sane results.
"""

from __future__ import annotations

import csv
import json
import os
import re
import smtplib
import subprocess
import sys
import time
from datetime import UTC, datetime
from email.message import EmailMessage
from pathlib import Path

import feedparser
import pytest
import yaml

from bench import generate, hugo, run
from bench.smtpsink import Ceiling, Message, SmtpSink, ceiling
from publisher.config import settings as config_mod
from publisher.content.render import render
from publisher.content.site import load_site

REPO = Path(__file__).resolve().parent.parent


def _files(folder: Path) -> dict[str, bytes]:
    return {p.name: p.read_bytes() for p in sorted(folder.iterdir())}


def test_posts_are_deterministic_per_seed(tmp_path: Path) -> None:
    generate.write_posts(tmp_path / "a", 30, seed=3)
    generate.write_posts(tmp_path / "b", 30, seed=3)
    generate.write_posts(tmp_path / "c", 30, seed=4)
    assert _files(tmp_path / "a") == _files(tmp_path / "b")
    assert _files(tmp_path / "a") != _files(tmp_path / "c")


def test_generated_site_loads_without_problems(tmp_path: Path) -> None:
    generate.write_posts(tmp_path / "content", 60, seed=1)
    (tmp_path / "publisher.toml").write_text(run.site_config())
    config = config_mod.load(tmp_path / "publisher.toml")
    site = load_site(config, datetime(2026, 1, 1, 7, tzinfo=UTC))
    assert site.problems == ()
    assert len(site.posts) == 60
    assert all(p.title and p.author and p.categories for p in site.posts)
    assert 0 < sum(p.image is not None for p in site.posts) < 60
    assert 0 < sum(p.excerpt is not None for p in site.posts) < 60
    # Dated about an hour apart, newest first: the harness relies on post i being i-th newest.
    assert site.posts[0].path.endswith("-0.md")
    assert site.posts[-1].path.endswith("-59.md")
    text = "".join(Path(p.path).read_text(encoding="utf-8") for p in site.posts)
    for needle in ("](https://", "](/news/", "![", "\n- ", "\n1. ", "*", "**"):
        assert needle in text
    assert any(ord(c) > 0x3000 for c in text)  # CJK or emoji
    assert any(0x80 <= ord(c) < 0x250 for c in text)  # accents
    rendered = render(site.posts[0])
    assert "<p>" in rendered.html


def test_subscribers_csv(tmp_path: Path) -> None:
    path = tmp_path / "subs.csv"
    generate.write_subscribers(path, 500, seed=2, inactive_share=0.1)
    with open(path, encoding="utf-8", newline="") as handle:
        rows = list(csv.reader(handle))
    assert rows[0] == ["email", "name", "status"]
    body = rows[1:]
    assert len(body) == 500
    emails = [r[0].lower() for r in body]
    assert len(set(emails)) == 500
    assert all(e.count("@") == 1 and e.isascii() and " " not in e for e in emails)
    assert {r[2] for r in body} == {"active", "unsubscribed", "bounced"}
    assert any("," in r[1] for r in body)
    assert any(not r[1].isascii() for r in body)
    generate.write_subscribers(tmp_path / "again.csv", 500, seed=2, inactive_share=0.1)
    assert (tmp_path / "again.csv").read_bytes() == path.read_bytes()


def test_smtp_sink_counts_messages(tmp_path: Path) -> None:
    kept = tmp_path / "first.eml"
    with SmtpSink(keep=kept) as sink:
        assert sink.cpu_seconds == 0  # its start-up is nobody's run
        with smtplib.SMTP("127.0.0.1", sink.port, timeout=10) as client:
            for n in range(3):
                msg = EmailMessage()
                msg["From"], msg["To"], msg["Subject"] = "a@example.org", "b@example.org", f"{n}"
                msg.set_content("hello")
                client.send_message(msg)
        assert sink.count == 3
        assert sink.cpu_seconds > 0
        sink.reset()
        assert sink.count == 0 and sink.cpu_seconds == 0
    # The first message, as it came: envelope and bytes.
    first = Message.load(kept)
    assert (first.mail_from, first.rcpt_tos) == ("a@example.org", ["b@example.org"])
    assert b"Subject: 0\r\n" in first.content and first.content.endswith(b"hello\r\n")


def test_sink_ceiling_replays_one_message() -> None:
    body = b"".join(b".line %d of a message, dots and all\r\n" % n for n in range(200))
    message = Message("news@example.org", ["reader@example.org"],
                      b"Subject: x\r\nFrom: news@example.org\r\n\r\n" + body)
    found = ceiling(message, 30, 3)
    assert (found.messages, found.connections) == (30, 3)
    assert found.seconds > 0 and found.rate == 30 / found.seconds
    assert found.sink_cpu_seconds > 0 and found.sink_ms_per_message > 0
    assert found.client_cpu_seconds > 0 and found.client_ms_per_message > 0


def test_trash_sets_aside_then_empties(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    trash = run.Trash(tmp_path / "trash")
    trash.settle()  # never emptied: nothing to wait for
    site = tmp_path / "site"
    (site / ".publisher" / "outbox").mkdir(parents=True)
    for n in range(150):
        (site / ".publisher" / "outbox" / f"{n}.eml").write_text("x")
    (site / "out").mkdir()
    run.reset_outputs(site, trash)
    run.reset_outputs(site, trash)  # nothing left to set aside
    assert not (site / ".publisher").exists() and not (site / "out").exists()
    assert len(list(trash.folder.iterdir())) == 2
    trash.empty()
    assert not trash.folder.exists()
    assert trash.stamp.read_text() == "150\n"
    waits: list[float] = []
    monkeypatch.setattr(time, "sleep", waits.append)
    trash.settle()  # 150 files freed just now: wait out the minute
    assert len(waits) == 1 and 55 < waits[0] <= run.Trash.SETTLE_SECONDS
    trash.stamp.write_text("80\n")  # a smoke run's few: no wait
    trash.settle()
    assert len(waits) == 1


def test_targets_are_judged(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(run, "TARGETS", run.SHORT_TARGETS)  # issue 5's, for short posts
    fast = run.Result("cold", 10_000, "posts", [run.Run(1.0, 80_000, [])])
    slow = run.Result("cold", 10_000, "posts", [run.Run(2.0, 80_000, [])])
    fat = run.Result("cold", 100_000, "posts", [run.Run(10.0, 700 * 1024, [])])
    smtp = run.Result("smtp", 10_000, "subscribers", [run.Run(10.0, 1, [])])
    untargeted = run.Result("add", 10_000, "posts", [run.Run(9.0, 1, [])])
    for result in (fast, slow, fat, smtp, untargeted):
        result.judge()
    assert (fast.status, slow.status, fat.status) == ("pass", "miss", "miss")
    assert smtp.status == "pass" and smtp.note == "1000 msg/s"
    assert smtp.details() == "1000 msg/s"  # no ceiling measured
    smtp.runs[0].sink_cpu_seconds = 34.0
    smtp.ceiling = Ceiling(10_000, 4, 80.0, 33.0)
    assert smtp.ceiling_share == 8.0 and smtp.sink_ms_per_message == 3.4
    assert smtp.details() == "1000 msg/s; 8.00 x sink ceiling 125 msg/s; sink CPU 3.40 ms/msg"
    assert "8.00 x sink ceiling 125 msg/s" in run.table([smtp], None)
    assert untargeted.status == "no target"
    ratio = run.ratio_row([fast, run.Result("cold", 100_000, "posts", [run.Run(12.0, 1, [])])])
    assert ratio is not None and ratio["value"] == 12.0 and ratio["status"] == "miss"


def test_real_targets_judge_cold_against_hugo(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(run, "TARGETS", run.REAL_TARGETS)
    hugo_runs = [run.Run(2.0, 1, []), run.Run(2.2, 1, [])]
    ahead = run.Result("cold", 10_000, "posts", [run.Run(1.0, 1, [])], hugo_runs=hugo_runs)
    behind = run.Result("cold", 10_000, "posts", [run.Run(1.5, 1, [])], hugo_runs=hugo_runs)
    alone = run.Result("cold", 10_000, "posts", [run.Run(1.0, 1, [])])
    touched = run.Result("touch", 10_000, "posts", [run.Run(0.3, 1, [])])
    for result in (ahead, behind, alone, touched):
        result.judge()
    assert ahead.hugo_share == pytest.approx(1.0 / 2.1)
    assert (ahead.status, behind.status) == ("pass", "miss")
    assert alone.status == "no target" and "x Hugo" in alone.target  # no Hugo: not judged
    assert touched.status == "miss" and touched.target == "<= 0.2 s"
    text = run.table([ahead, alone], None)
    assert "0.48" in text and "2.100" in text


def test_smoke_run_writes_results(tmp_path: Path) -> None:
    work, results = tmp_path / "work", tmp_path / "results"
    done = subprocess.run(
        [sys.executable, "-m", "bench.run", "--smoke", "--work", str(work),
         "--results", str(results)],
        cwd=REPO, capture_output=True, text=True, timeout=120,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    (out,) = results.glob("*.json")
    report = json.loads(out.read_text(encoding="utf-8"))
    assert report["cpu_count"] and report["python"] and report["commit"]
    found = {(r["scenario"], r["size"]) for r in report["results"]}
    assert found == {(s, 50) for s in run.SCENARIOS}
    for r in report["results"]:
        if r["status"].startswith("skipped"):
            assert r["scenario"] in run.DELIVERY_SCENARIOS and not r["runs"]
            continue
        assert r["status"] in ("pass", "miss", "no target"), r
        assert len(r["runs"]) == 1
        assert r["median"] > 0 and r["runs"][0]["seconds"] > 0
        assert r["runs"][0]["max_rss_kb"] > 1000  # a Python process, in KB
        if r["scenario"] in ("outbox", "smtp"):
            assert r["runs"][0]["delivered"] == 50
    # The SMTP row: publisher's rate, the sink's ceiling (a bare client replaying one of
    # publisher's messages to a fresh sink) and the sink's CPU per message.
    by = {r["scenario"]: r for r in report["results"]}
    smtp = by["smtp"]
    if not smtp["status"].startswith("skipped"):
        assert smtp["rate"] > 0 and smtp["ceiling_rate"] > 0 and smtp["ceiling_share"] > 0
        assert smtp["ceiling"]["messages"] == 50 and smtp["ceiling"]["connections"] == 4
        assert smtp["ceiling_sink_cpu_ms_per_message"] > 0
        assert smtp["runs"][0]["sink_cpu_seconds"] > 0 and smtp["sink_cpu_ms_per_message"] > 0
        assert smtp["cpu_ms_per_message"] > 0 and smtp["ceiling_client_cpu_ms_per_message"] > 0
        assert "x sink ceiling" in done.stdout and "sink CPU" in done.stdout
        outbox = by["outbox"]
        assert outbox["ceiling"] is None and outbox["runs"][0]["sink_cpu_seconds"] is None
    # Old outputs went to the trash and the trash was emptied at the end: no outbox left.
    assert not (work / "trash").exists() and "emptied the trash" in done.stdout
    assert not (work / "delivery" / ".publisher").exists()
    # The outbox floor wrote copies of a message publisher wrote, then went to the trash too.
    assert by["outboxfloor"]["runs"][0]["seconds"] > 0
    assert (work / "outbox-message.eml").read_bytes().startswith(b"To: ")
    assert not (work / "outbox-floor").exists()
    assert "publish, cold" in done.stdout and "written" in done.stdout
    assert report["profile"] == "real"
    if hugo.command():
        # Hugo ran beside publisher on the same posts: a median and a share each.
        for scenario in run.HUGO_SCENARIOS:
            assert by[scenario]["hugo_median"] > 0 and by[scenario]["hugo_share"] > 0
    else:
        assert "Hugo column: hugo not installed" in done.stdout
    assert by["edit"]["hugo_median"] is None
    # The cold floor is shown beside the cold row's Hugo runs, not new ones.
    assert by["coldfloor"]["hugo_median"] == by["cold"]["hugo_median"]
    assert by["coldfloor"]["status"] == "no target"
    # The harness ran the real CLI on a real site: the feed is there and parses.
    feed = feedparser.parse((work / "posts-50" / "out" / "feed.xml").read_bytes())
    assert not feed.bozo and len(feed.entries) == 20


def test_real_size_profile_has_the_issue_shape(tmp_path: Path) -> None:
    """Issue 14: about 5 KB a post, 6-15 paragraphs, links, images, lists, non-ASCII."""
    paths = generate.write_posts(tmp_path / "content", 200, seed=1, profile="real")
    texts = [p.read_text(encoding="utf-8") for p in paths]
    sizes = [len(t.encode()) for t in texts]
    assert 4500 <= sum(sizes) / len(sizes) <= 5500
    short = generate.write_posts(tmp_path / "short", 200, seed=1)
    assert sum(p.stat().st_size for p in short) < sum(sizes) * 0.8
    for text in texts:
        body = text.split("\n---\n", 1)[1].strip()
        assert 7 <= len(body.split("\n\n")) <= 16  # 6-15 paragraphs and the post's own
    joined = "".join(texts)
    for needle in ("](https://", "![", "\n- ", "\n1. "):
        assert needle in joined
    assert any(ord(c) > 0x3000 for c in joined)
    with pytest.raises(ValueError, match="unknown post profile"):
        generate.PostMaker(1, profile="huge")


def test_hugo_site_reads_the_same_posts(tmp_path: Path) -> None:
    """The Hugo side of the benchmark builds one RSS feed of the 20 newest posts."""
    command = hugo.command()
    if command is None:
        if os.environ.get("CI", "").lower() == "true":
            pytest.fail("hugo is missing: cannot run under CI=true (apt-get install hugo)")
        pytest.skip("hugo is not installed (Debian package hugo)")
    content = tmp_path / "content"
    generate.write_posts(content, 30, seed=1, profile="real")
    site = hugo.make_site(tmp_path / "hugo", content)
    subprocess.run([command, *hugo.build_args(site)], check=True, capture_output=True,
                   timeout=120)
    feed = feedparser.parse(hugo.feed(site).read_bytes())
    assert not feed.bozo and len(feed.entries) == 20
    # Newest first, the same titles publisher's own feed would show.
    config_file = tmp_path / "publisher.toml"
    config_file.write_text(run.site_config())
    ours = load_site(config_mod.load(config_file), datetime(2026, 1, 1, 7, tzinfo=UTC))
    assert [e.title for e in feed.entries] == [p.title for p in ours.posts[:20]]
    assert list((site / "public").iterdir()) == [hugo.feed(site)]  # RSS only, no pages
    hugo.reset(site)
    assert not (site / "public").exists()


def test_gcstats_reports_the_parents_collections(tmp_path: Path) -> None:
    done = subprocess.run(
        [sys.executable, "-m", "bench.gcstats", "--size", "30", "--work", str(tmp_path)],
        cwd=REPO, capture_output=True, text=True, timeout=300,
        check=False,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    # After "generated 30 posts ...": the site is made on first use.
    line = done.stdout.splitlines()[-1]
    found = re.fullmatch(
        r"cycle collector in the parent: (\d+\.\d\d) s in (\d+) collections "
        r"\((\d+) full, longest (\d+) ms\)",
        line,
    )
    assert found, line
    assert int(found[2]) > 0  # importing publisher alone allocates enough for some
    assert (tmp_path / "posts-30" / "out" / "feed.xml").is_file()


def test_cold_floor_reads_every_post_s_front_matter(tmp_path: Path) -> None:
    """bench/coldfloor.py does the work it claims: every post read, its front matter
    parsed (by libyaml when plainyaml declines), on worker processes."""
    generate.write_posts(tmp_path, 5, seed=3, profile="real")
    (tmp_path / "2020-01-01-anchors.md").write_text(
        "---\ntitle: &t Anchored\nsubtitle: *t\ndate: 2020-01-01\n---\nBody\n",
        encoding="utf-8",
    )
    (tmp_path / "notes.txt").write_text("not a post", encoding="utf-8")
    done = subprocess.run(
        [sys.executable, str(REPO / "bench" / "coldfloor.py"), str(tmp_path)],
        capture_output=True, text=True, timeout=120, check=False,
    )
    assert done.returncode == 0, done.stderr
    expected = sum(
        len(yaml.safe_load(p.read_text(encoding="utf-8").split("---\n")[1]))
        for p in tmp_path.glob("*.md")
    )
    assert done.stdout.strip() == f"6 posts, {expected} front matter keys read"
