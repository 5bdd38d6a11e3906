"""Time the real `publisher` CLI on generated sites, beside Hugo, against the issues' targets.

    python -m bench.run                   # everything: 1k/10k/100k posts, 10k/100k subscribers
    python -m bench.run --smoke           # tiny sizes, one run: checks the harness works
    python -m bench.run --sizes 1000,10000 --only cold,nochange,touch --runs 5
    python -m bench.run --profile short   # the original, shorter posts (issue 5's targets)

Posts are "real-size" by default (about 5 KB: see bench.generate.PROFILES). When
`hugo` is installed (Debian package `hugo`), the cold, nothing-changed and
one-post-touched scenarios also build an equivalent Hugo site from the same
post files (bench/hugo.py) in the same run, alternating with publisher, and the
table shows Hugo's median and publisher's time as a share of it. Without hugo
the Hugo column says so and nothing else changes.

Every measurement is a separate process of the CLI on a real site under the
work folder (default bench/work/, reused between invocations: generating 100k
posts takes a while). Wall time is measured around the child; peak RSS comes
from the child's own rusage (os.wait4). Results are printed as a table and
written as JSON to bench/results/<UTC timestamp>.json.

The delivery scenarios do not delete the previous run's outputs (out/,
.publisher/ with a whole outbox in it) before a timed run but move them into
bench/work/trash, deleted once at the end (see Trash): on the bench machine,
creating files is several times slower for a minute after 10,000 were deleted.
Until the end the trash holds every outbox written: ~270 MB per run at 10k
subscribers, ~8 GB for the three outbox runs at 100k. An interrupted run leaves
it to the next, which deletes it first and waits that minute.

The SMTP row also shows the sink's ceiling: aiosmtpd costs milliseconds of CPU
per digest in one process, so the same message replayed by a bare smtplib client
(bench.smtpsink.ceiling) is the most any client gets through that sink here;
publisher's rate is shown as a share of it, beside the sink's CPU per message.

Three floor rows say what no implementation could go under on this machine:
"floor" (Python started, every post stat'ed: the least a run looking for changes
costs), "cold floor" (bench/coldfloor.py: Python started, the libraries a cold
publish imports, every post read and its front matter parsed on every core;
shown beside the cold row's Hugo runs) and "outbox floor" (bench/outboxfloor.py:
as many copies of one of publisher's messages written as the outbox writes
them, nothing composed or recorded). A target under its floor cannot be met here.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shlex
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from . import generate, hugo
from .smtpsink import Ceiling, Message, SmtpSink, ceiling

HERE = Path(__file__).resolve().parent
REPO = HERE.parent
# Site-local (Europe/London = UTC in January) time one hour after the newest post.
NOW = generate.NEWEST.replace(tzinfo=UTC) + timedelta(hours=1)
SECRET = "bench-only-secret-not-for-production"
DELIVERY_SITE_POSTS = 200

POST_SCENARIOS = ("cold", "nochange", "touch", "edit", "add", "floor", "coldfloor")
# The scenarios Hugo runs beside publisher: it has no state, so each is a full build.
HUGO_SCENARIOS = ("cold", "nochange", "touch")
# A site with a feed per category (issue 13): many feeds must not mean many re-renders.
CATEGORY_SCENARIOS = ("catnochange", "catedit")
DELIVERY_SCENARIOS = ("import", "outbox", "outboxfloor", "smtp")
SCENARIOS = POST_SCENARIOS + CATEGORY_SCENARIOS + DELIVERY_SCENARIOS
CATEGORIES = 200
LABELS = {
    "cold": "publish, cold",
    "nochange": "publish, nothing changed",
    "touch": "publish, one post touched",
    "edit": "publish, one post edited",
    "add": "publish, one post added",
    "floor": "floor: Python start + stat each post",
    "coldfloor": "cold floor: start, imports, read + front matter",
    "catnochange": f"nothing changed, {CATEGORIES} category feeds",
    "catedit": f"one post edited, {CATEGORIES} category feeds",
    "import": "subscribers import",
    "outbox": "digest to outbox",
    "outboxfloor": "outbox floor: the files alone",
    "smtp": "digest via SMTP",
    "ratio": "cold 100k / cold 10k",
}


@dataclass(frozen=True)
class Target:
    seconds: float | None = None
    rss_mb: float | None = None
    rate: float | None = None  # messages per second, at least

    def describe(self) -> str:
        parts = []
        if self.seconds is not None:
            parts.append(f"<= {self.seconds:g} s")
        if self.rss_mb is not None:
            parts.append(f"<= {self.rss_mb:g} MB")
        if self.rate is not None:
            parts.append(f">= {self.rate:g} msg/s")
        return ", ".join(parts)


# Issue 5, "Targets on the 2-core development machine (medians)", for the short posts.
SHORT_TARGETS: dict[tuple[str, int], Target] = {
    ("cold", 10_000): Target(seconds=1.5),
    ("nochange", 10_000): Target(seconds=0.15),
    ("edit", 10_000): Target(seconds=0.4),
    ("cold", 100_000): Target(seconds=15, rss_mb=600),
    ("nochange", 100_000): Target(seconds=1.0),
    # 600 category feeds (Atom, RSS, JSON Feed) cost a no-change run nothing more.
    ("catnochange", 10_000): Target(seconds=0.15),
    ("outbox", 100_000): Target(seconds=30, rss_mb=300),
    ("smtp", 10_000): Target(rate=500),
}
# Issue 14, for real-size posts (~5 KB). The cold target is relative to Hugo in the
# same run (HUGO_SHARE); the others are absolute.
REAL_TARGETS: dict[tuple[str, int], Target] = {
    ("nochange", 10_000): Target(seconds=0.08),
    ("touch", 10_000): Target(seconds=0.20),
    ("cold", 100_000): Target(seconds=6, rss_mb=400),
    ("nochange", 100_000): Target(seconds=0.5),
    ("catnochange", 10_000): Target(seconds=0.15),
    ("outbox", 100_000): Target(seconds=20),
    ("smtp", 10_000): Target(rate=1000),
}
TARGETS_BY_PROFILE = {"short": SHORT_TARGETS, "real": REAL_TARGETS}
# Set by --profile; judge() reads it.
TARGETS = REAL_TARGETS
# Cold publish at most this share of Hugo's median in the same run (issue 14).
HUGO_SHARE = {"cold": 0.6}
# Cost grows linearly or better: median cold 100k / median cold 10k.
RATIO_TARGET = 11.0


class BenchError(Exception):
    pass


@dataclass
class Run:
    seconds: float
    max_rss_kb: int
    commands: list[list[str]]
    delivered: int | None = None
    # user + system CPU of the child: steadier than wall time on a shared machine.
    cpu_seconds: float = 0.0
    # SMTP runs: the CPU the sink spent receiving them (bench.smtpsink).
    sink_cpu_seconds: float | None = None


@dataclass
class Result:
    scenario: str
    size: int
    unit: str  # "posts" or "subscribers"
    runs: list[Run] = field(default_factory=list)
    status: str = ""  # pass, miss, no target, skipped: ..., error: ...
    target: str = ""
    note: str = ""
    # Hugo building the same posts in the same run (HUGO_SCENARIOS), or why not.
    hugo_runs: list[Run] = field(default_factory=list)
    hugo_note: str = ""
    # SMTP: a bare client replaying one of publisher's messages to a fresh sink, or why not.
    ceiling: Ceiling | None = None
    ceiling_note: str = ""

    @property
    def hugo_median(self) -> float | None:
        return statistics.median(r.seconds for r in self.hugo_runs) if self.hugo_runs else None

    @property
    def cpu_median(self) -> float | None:
        return statistics.median(r.cpu_seconds for r in self.runs) if self.runs else None

    @property
    def hugo_cpu_median(self) -> float | None:
        if not self.hugo_runs:
            return None
        return statistics.median(r.cpu_seconds for r in self.hugo_runs)

    @property
    def hugo_share(self) -> float | None:
        """publisher's median as a share of Hugo's (0.5: publisher takes half Hugo's time)."""
        if self.median is None or not self.hugo_median:
            return None
        return self.median / self.hugo_median

    @property
    def times(self) -> list[float]:
        return [r.seconds for r in self.runs]

    @property
    def median(self) -> float | None:
        return statistics.median(self.times) if self.runs else None

    @property
    def peak_rss_mb(self) -> float | None:
        return max(r.max_rss_kb for r in self.runs) / 1024 if self.runs else None

    @property
    def rate(self) -> float | None:
        """Delivery scenarios: subscribers (messages) a second, over the median run."""
        if self.unit != "subscribers" or not self.median:
            return None
        return self.size / self.median

    @property
    def ceiling_share(self) -> float | None:
        """publisher's rate as a share of the sink's ceiling (1.0: as fast as the sink allows)."""
        if self.rate is None or not self.ceiling or not self.ceiling.rate:
            return None
        return self.rate / self.ceiling.rate

    @property
    def sink_ms_per_message(self) -> float | None:
        """The sink's median CPU per message over publisher's runs, in milliseconds."""
        spent = [r.sink_cpu_seconds for r in self.runs if r.sink_cpu_seconds is not None]
        if not spent or not self.size:
            return None
        return statistics.median(spent) / self.size * 1000

    def details(self) -> str:
        """The result column's parenthesis: judge()'s note and, for SMTP, the sink's
        ceiling and CPU per message. The target stays the issue's; the ceiling shows
        whether this machine's sink lets any client meet it."""
        parts = [self.note] if self.note else []
        if self.scenario != "smtp" or self.rate is None:
            return "; ".join(parts)
        if not self.note:
            parts.append(f"{self.rate:.0f} msg/s")
        if self.ceiling is not None and self.ceiling_share is not None:
            parts.append(f"{self.ceiling_share:.2f} x sink ceiling {self.ceiling.rate:.0f} msg/s")
        elif self.ceiling_note:
            parts.append(self.ceiling_note)
        if self.sink_ms_per_message is not None:
            parts.append(f"sink CPU {self.sink_ms_per_message:.2f} ms/msg")
        return "; ".join(parts)

    def judge(self) -> None:
        target = TARGETS.get((self.scenario, self.size))
        share = HUGO_SHARE.get(self.scenario) if TARGETS is REAL_TARGETS else None
        descriptions = [target.describe()] if target else []
        if share is not None:
            descriptions.append(f"<= {share:g} x Hugo")
        self.target = ", ".join(descriptions)
        if not self.runs or self.status:
            return
        ok = True
        if share is not None and self.hugo_share is not None:
            ok &= self.hugo_share <= share
        elif target is None:
            self.status = "no target"
            return
        if target is None:
            self.status = "pass" if ok else "miss"
            return
        median = self.median or 0.0
        if target.seconds is not None:
            ok &= median <= target.seconds
        if target.rss_mb is not None:
            ok &= (self.peak_rss_mb or 0.0) <= target.rss_mb
        if target.rate is not None:
            rate = self.size / median if median else 0.0
            self.note = f"{rate:.0f} msg/s"
            ok &= rate >= target.rate
        self.status = "pass" if ok else "miss"

    def to_json(self) -> dict[str, Any]:
        data = asdict(self)
        data.update(
            label=LABELS[self.scenario],
            median=self.median,
            min=min(self.times) if self.runs else None,
            max=max(self.times) if self.runs else None,
            peak_rss_mb=self.peak_rss_mb,
            cpu_median=self.cpu_median,
            hugo_median=self.hugo_median,
            hugo_cpu_median=self.hugo_cpu_median,
            hugo_share=self.hugo_share,
            rate=self.rate,
            ceiling_rate=self.ceiling.rate if self.ceiling else None,
            ceiling_share=self.ceiling_share,
            sink_cpu_ms_per_message=self.sink_ms_per_message,
            ceiling_sink_cpu_ms_per_message=(
                self.ceiling.sink_ms_per_message if self.ceiling else None
            ),
            # What a client costs: publisher's CPU per message beside the bare client's.
            cpu_ms_per_message=(
                self.cpu_median / self.size * 1000 if self.rate and self.cpu_median else None
            ),
            ceiling_client_cpu_ms_per_message=(
                self.ceiling.client_ms_per_message if self.ceiling else None
            ),
        )
        return data


# Set by --publisher: another command to benchmark (another checkout's venv, say).
COMMAND: list[str] = []


def publisher_command() -> list[str]:
    """The command being measured: --publisher's, the installed copy, else the
    console script next to this interpreter."""
    if COMMAND:
        return COMMAND
    script = Path(sys.executable).parent / "publisher"
    if script.is_file():
        return [str(script)]
    return [sys.executable, "-c", "from publisher.entry import main; main()"]


def settle_state(site: Path, log: Path) -> None:
    """Untimed runs until a nothing-changed run would take the shortcut, as under
    cron, where the last run was minutes ago: every file older than the 2 s in
    which an mtime is not trusted, the run guard's record and the shortcut's
    written (the first such run reads every post once for its digests)."""
    from publisher.incremental.shortcut import FILE

    for _ in range(3):  # a command without the shortcut (--publisher) never records it
        time.sleep(2.1)
        run_cli(site, publish_args(), log)
        if (site / ".publisher" / FILE).is_file():
            return


def floor_python() -> str:
    """The interpreter of the command measured (a console script's own folder)."""
    python = Path(publisher_command()[0]).parent / "python"
    return str(python) if python.is_file() else sys.executable


def installed_copy(work: Path, log: Path, trash: Trash) -> list[str]:
    """This tree installed as a user installs it (`pip install`, not editable), in
    a venv of its own under `work`, rebuilt when a source file changes.

    The project's .venv has an editable install, whose import hook costs every
    `publisher` command ~25 ms at start-up: a third of a nothing-changed run
    that no installed copy pays. The copy's dependencies are this venv's own
    (a .pth line names its site-packages), so nothing else is downloaded but
    the build backend, once.
    """
    import hashlib
    import sysconfig
    import venv

    root = HERE.parent
    digest = hashlib.sha256()
    for path in sorted([root / "pyproject.toml", *(root / "publisher").rglob("*")]):
        if path.is_file() and "__pycache__" not in path.parts:
            digest.update(str(path.relative_to(root)).encode() + b"\0" + path.read_bytes())
    key = digest.hexdigest()
    target = work / "installed"
    script = target / "bin" / "publisher"
    stamp = target / "source.sha256"
    if script.is_file() and stamp.is_file() and stamp.read_text() == key:
        return [str(script)]
    print("  installing this tree into bench/work/installed (not editable)", flush=True)
    trash.set_aside(target)  # ~1,700 files: not deleted right before the timing
    venv.create(target, with_pip=True)
    python = target / "bin" / "python"
    site = subprocess.run(
        [str(python), "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
        check=True, capture_output=True, text=True,
    ).stdout.strip()
    # Dependencies from this venv; its .pth files (the editable hook) are not read.
    Path(site, "_bench_dependencies.pth").write_text(sysconfig.get_paths()["purelib"] + "\n")
    with log.open("a") as out:
        subprocess.run([str(python), "-m", "pip", "install", "--quiet", "--no-deps", str(root)],
                       check=True, stdout=out, stderr=subprocess.STDOUT)
    stamp.write_text(key)
    return [str(script)]


def child_env() -> dict[str, str]:
    env = dict(os.environ)
    env["PUBLISHER_SECRET"] = SECRET
    env.pop("PUBLISHER_SMTP_PASSWORD", None)
    # Installed packages run from .pyc files; with PYTHONDONTWRITEBYTECODE set (some
    # sandboxes and CI images set it) every run would compile all ~100 modules from
    # source again: 35-60 ms of a 150 ms no-change run that no user pays.
    env.pop("PYTHONDONTWRITEBYTECODE", None)
    return env


def run_cli(site: Path, args: Sequence[str], log: Path, ok: Sequence[int] = (0,)) -> Run:
    """One child process of the CLI: wall time and its own peak RSS."""
    return run_process([*publisher_command(), *args], site, log, ok, list(args))


def run_hugo(folder: Path, log: Path) -> Run:
    """One `hugo` build of the site in `folder`."""
    return run_process([hugo.command() or "hugo", *hugo.build_args(folder)], folder, log)


def run_process(
    command: list[str], site: Path, log: Path, ok: Sequence[int] = (0,),
    args: list[str] | None = None,
) -> Run:
    """One child process: wall time and its own peak RSS."""
    args = command[1:] if args is None else args
    with open(log, "ab") as out:
        out.write(f"\n$ {' '.join(command)}\n".encode())
        out.flush()
        started = time.perf_counter()
        child = subprocess.Popen(command, cwd=site, env=child_env(), stdout=out, stderr=out)
        _, status, usage = os.wait4(child.pid, 0)
        seconds = time.perf_counter() - started
    child.returncode = os.waitstatus_to_exitcode(status)
    if child.returncode not in ok:
        tail = log.read_text(encoding="utf-8", errors="replace").strip().splitlines()[-5:]
        name = "publisher" if command[0] == publisher_command()[0] else Path(command[0]).name
        raise BenchError(
            f"`{name} {' '.join(args)}` exited {child.returncode}: " + " | ".join(tail)
        )
    # ru_maxrss is in kilobytes on Linux (bytes on macOS).
    rss = usage.ru_maxrss // 1024 if sys.platform == "darwin" else usage.ru_maxrss
    return Run(seconds, rss, [list(args)], cpu_seconds=usage.ru_utime + usage.ru_stime)


def combine(runs: Sequence[Run]) -> Run:
    """Several commands that make up one scenario run: times add, RSS is the largest."""
    return Run(
        sum(r.seconds for r in runs),
        max(r.max_rss_kb for r in runs),
        [c for r in runs for c in r.commands],
        cpu_seconds=sum(r.cpu_seconds for r in runs),
    )


# --- sites -----------------------------------------------------------------------------------

CONFIG = """\
[site]
url = "https://news.example.org"
title = "Bench News"
description = "Generated posts for the publisher benchmark."
author = {{ name = "Bench Desk", email = "desk@news.example.org" }}
language = "en"
timezone = "Europe/London"

[content]
posts = "content"

[feeds]
limit = 20

[digest]
max_posts = 10
first_window_days = {window}

[delivery]
transport = "{transport}"
from = "Bench News <news@news.example.org>"
unsubscribe_url = "https://news.example.org/unsubscribe"
unsubscribe_mailto = "unsubscribe@news.example.org"
list_id = "Bench News <bench.news.example.org>"
"""
SMTP_CONFIG = """
[smtp]
host = "127.0.0.1"
port = {port}
security = "none"
connections = {connections}
"""
# publisher's [smtp] connections in the SMTP scenario; the sink's ceiling uses as many.
SMTP_CONNECTIONS = 4


def site_config(transport: str = "outbox", window: int = 7) -> str:
    return CONFIG.format(transport=transport, window=window)


# Set by --profile: the shape of generated posts (bench.generate.PROFILES).
PROFILE = ["real"]


def add_site_options(parser: argparse.ArgumentParser) -> None:
    """--size, --seed and --work, for the tools that run one command on a generated site."""
    parser.add_argument("--size", type=int, default=10_000)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--work", type=Path, default=HERE / "work")


def site_from_options(args: argparse.Namespace) -> tuple[Path, Path]:
    """(work folder, site) for `add_site_options`' values: the site generated
    there if needed, without out/ or state (what a cold run sees)."""
    work = args.work.resolve()
    work.mkdir(parents=True, exist_ok=True)
    return work, make_site(site_folder(work, args.size), args.size, args.seed)


def site_folder(work: Path, size: int, suffix: str = "") -> Path:
    """bench/work/posts-N[-suffix] for real-size posts, posts-N-short[-suffix] for short ones."""
    profile = "" if PROFILE[0] == "real" else f"-{PROFILE[0]}"
    return work / f"posts-{size}{profile}{suffix}"


def make_site(
    folder: Path, posts: int, seed: int, window: int = 7, categories: int = 0,
    trash: Trash | None = None,
) -> Path:
    """A site with `posts` generated posts of the current PROFILE; reused when the marker matches.

    With `categories`, the posts are spread over that many categories and the
    site writes a feed for each of them. With `trash`, old outputs (or an old
    site) are set aside in it rather than deleted.
    """
    marker = folder / "bench-site.json"
    want: dict[str, int | str] = {
        "version": generate.VERSION, "posts": posts, "seed": seed, "profile": PROFILE[0],
    }
    if categories:
        want["categories"] = categories
    if marker.is_file() and json.loads(marker.read_text()) == want:
        reset_outputs(folder, trash)
    else:
        if trash is not None:
            trash.set_aside(folder)
        elif folder.exists():
            shutil.rmtree(folder)
        started = time.perf_counter()
        generate.write_posts(folder / "content", posts, seed, categories, PROFILE[0])
        marker.write_text(json.dumps(want))
        print(f"  generated {posts:,} posts in {time.perf_counter() - started:.1f} s", flush=True)
    config = site_config(window=window)
    if categories:
        config = config.replace("[feeds]\n", '[feeds]\ncategories = "all"\n')
    (folder / "publisher.toml").write_text(config, encoding="utf-8")
    return folder


def reset_outputs(site: Path, trash: Trash | None = None) -> None:
    """No state, no out/: what a first run sees. With `trash`, the old ones are
    moved into it rather than deleted (see Trash)."""
    for name in ("out", ".publisher"):
        if trash is not None:
            trash.set_aside(site / name)
        else:
            shutil.rmtree(site / name, ignore_errors=True)
    # What earlier runs left unwritten (a whole outbox: ~270 MB at 10k subscribers)
    # is written back now, not during the next timed run.
    os.sync()


class Trash:
    """Old outputs moved aside between timed runs, and deleted when no timing follows.

    Deleting many files makes creating files slow for a while after: on ext4
    without a journal (the bench machine's disk; /sys/fs/ext4/<disk>/journal_task
    says "<none>") an inode freed less than 60 s ago is not reused, 360 s while
    its inode table block is not yet written, and every new file walks past each
    of them (fs/ext4/ialloc.c, recently_deleted()); os.sync() only shortens the
    window to 60 s. Measured there: creating an empty file took 0.03-0.3 ms, and
    1.2-1.7 ms for over 20 s after 10,000 outbox-sized files were deleted; the
    10k outbox run took 9.8-14.5 s after the previous run's outbox was deleted,
    6.3-7.5 s with it set aside. A rename frees nothing and takes no time, so
    timed runs set old outputs aside here; `empty()` deletes them all once no
    timing follows, and `settle()` waits out the minute before the next timing.

    Disk: until then the trash holds every old output, ~270 MB per outbox run at
    10,000 subscribers, ~8 GB for the three outbox runs at 100,000.
    """

    # Past the 60 s, with a margin for the clock's whole seconds (i_dtime).
    SETTLE_SECONDS = 62
    # Each freed inode costs every new file a step (~0.13 us each, measured at 10,000):
    # below this, not worth a minute's wait (a --smoke run frees ~80).
    SETTLE_FILES = 100

    def __init__(self, folder: Path) -> None:
        self.folder = folder
        # Written by empty(): when, and how many files it deleted.
        self.stamp = folder.with_name(folder.name + ".emptied")

    def set_aside(self, path: Path) -> None:
        """Move `path` into the trash: a rename in the same file system (the sites
        and the trash are all under the work folder)."""
        if not path.exists():
            return
        self.folder.mkdir(parents=True, exist_ok=True)
        place = Path(tempfile.mkdtemp(dir=self.folder, prefix=f"{path.parent.name}-"))
        path.rename(place / path.name)

    def empty(self) -> None:
        """Delete everything set aside (and what an interrupted run left), then
        write the freed inodes out: that starts the 60 s settle() waits for."""
        if not self.folder.is_dir():
            return
        files = sum(len(names) for _, _, names in os.walk(self.folder))
        started = time.perf_counter()
        shutil.rmtree(self.folder)
        os.sync()
        self.stamp.write_text(f"{files}\n")
        print(f"  emptied the trash: {files:,} files in {time.perf_counter() - started:.1f} s",
              flush=True)

    def settle(self) -> None:
        """Before timing: wait until SETTLE_SECONDS have passed since the trash was
        last emptied (by this invocation or the one before), if that freed many files."""
        try:
            files = int(self.stamp.read_text())
            emptied = self.stamp.stat().st_mtime
        except (OSError, ValueError):
            return
        wait = emptied + self.SETTLE_SECONDS - time.time()
        if files < self.SETTLE_FILES or wait <= 0:
            return
        print(f"  waiting {wait:.0f} s: {files:,} files were deleted {time.time() - emptied:.0f} s "
              "ago, and creating files is slow for a minute after", flush=True)
        time.sleep(wait)


def publish_args(now: datetime = NOW) -> list[str]:
    return ["publish", "--now", now.isoformat()]


# --- post scenarios -------------------------------------------------------------------------


def post_scenarios(
    work: Path, size: int, runs: int, only: set[str], seed: int, log: Path
) -> list[Result]:
    site = make_site(site_folder(work, size), size, seed)
    hugo_site = hugo.make_site(site / "hugo", site / "content") if hugo.command() else None
    results = []
    warm = False
    hugo_warm = False

    def measure(scenario: str, one_run: Any) -> None:
        nonlocal warm
        if scenario not in only:
            return
        result = Result(scenario, size, "posts")
        results.append(result)
        print(f"  {LABELS[scenario]} ({size:,} posts) x{runs}", flush=True)
        try:
            if scenario != "cold" and not warm:
                run_cli(site, publish_args(), log, ok=(0, 3))  # untimed: build the state first
                warm = True
            for index in range(runs):
                result.runs.append(one_run(index))
                warm = True
                if scenario in HUGO_SCENARIOS and hugo_site is not None:
                    result.hugo_runs.append(hugo_run(scenario))
        except BenchError as exc:
            result.status = f"error: {exc}"
        if scenario in HUGO_SCENARIOS and hugo_site is None:
            result.hugo_note = "hugo not installed (apt-get install hugo)"
        result.judge()

    def hugo_run(scenario: str) -> Run:
        """Hugo after publisher, on the same files in the same state (the touched post too)."""
        nonlocal hugo_warm
        assert hugo_site is not None
        if scenario == "cold":
            hugo.reset(hugo_site)
        elif not hugo_warm:
            run_hugo(hugo_site, log)  # untimed: output in place, like publisher's state
        hugo_warm = True
        return run_hugo(hugo_site, log)

    def cold(index: int) -> Run:
        reset_outputs(site)
        return run_cli(site, publish_args(), log)

    def nochange(index: int) -> Run:
        if index == 0:
            settle_state(site, log)
        return run_cli(site, publish_args(), log)

    def floor(index: int) -> Run:
        """The least any run that looks for changes can cost: start the same
        Python, list the posts folder and stat every post."""
        script = "import os, sys\nd = sys.argv[1]\nfor n in os.listdir(d): os.stat(f'{d}/{n}')"
        return run_process([floor_python(), "-c", script, str(site / "content")], site, log)

    def coldfloor(index: int) -> Run:
        """The least a cold publish in Python with these libraries can cost
        (bench/coldfloor.py): start, imports, and every post read and its front
        matter parsed on every core. Nothing is built from them."""
        script = Path(__file__).with_name("coldfloor.py")
        return run_process([floor_python(), str(script), str(site / "content")], site, log)

    # Post i is the i-th newest: the middle one is in no feed and no new digest.
    (middle,) = (site / "content").glob(f"*-{size // 2}.md")

    def touch(index: int) -> Run:
        # mtime only, as `touch` does: the bytes are the same, so nothing should be
        # rendered or written.
        os.utime(middle)
        return run_cli(site, publish_args(), log)

    def edit(index: int) -> Run:
        text = middle.read_text(encoding="utf-8")
        end = text.index("\n---\n", 4) + 5
        body = generate.PostMaker(seed * 1000 + index + 1).body()
        middle.write_text(text[:end] + "\n" + body, encoding="utf-8")
        stamp = time.time() + index + 1  # newer than anything a cache may hold
        os.utime(middle, (stamp, stamp))
        return run_cli(site, publish_args(), log)

    added: list[Path] = []

    def add(index: int) -> Run:
        # A new newest post, and a clock that has moved on so it is due and digested.
        now = NOW + timedelta(hours=index + 1)
        name, text = generate.PostMaker(seed + 7 + index).post(
            size + index, when=now.replace(tzinfo=None) - timedelta(minutes=5)
        )
        path = site / "content" / name
        path.write_text(text, encoding="utf-8")
        added.append(path)
        return run_cli(site, publish_args(now), log)

    try:
        measure("cold", cold)
        measure("nochange", nochange)
        measure("touch", touch)
        measure("edit", edit)
        measure("add", add)
        measure("floor", floor)
        measure("coldfloor", coldfloor)
        share_hugo("coldfloor", "cold", results)
    finally:
        for path in added:
            path.unlink(missing_ok=True)
    return results


def share_hugo(scenario: str, of: str, results: list[Result]) -> None:
    """Show `scenario` beside the Hugo runs `of` made in this run, without building
    with Hugo again: the cold floor's share of Hugo is how much of the cold target
    any implementation has used up before building anything."""
    by = {r.scenario: r for r in results}
    if scenario in by and of in by:
        by[scenario].hugo_runs = by[of].hugo_runs
        by[scenario].hugo_note = by[of].hugo_note


def category_scenarios(
    work: Path, size: int, runs: int, only: set[str], seed: int, log: Path
) -> list[Result]:
    """A no-change run and a one-post edit on a site with a feed per category."""
    wanted = [s for s in CATEGORY_SCENARIOS if s in only]
    if not wanted:
        return []
    site = make_site(site_folder(work, size, "-categories"), size, seed, categories=CATEGORIES)
    results = []
    # Post 100 is past the main feed but among the newest of its categories.
    (edited,) = (site / "content").glob(f"*-{min(100, size - 1)}.md")
    # Posts written in the last 2 s are not trusted by the unchanged-run shortcut
    # (see cache.RACY_NS): let a freshly generated site settle first.
    newest = max(p.stat().st_mtime for p in (site / "content").iterdir())
    time.sleep(max(0.0, newest + 2.5 - time.time()))
    try:
        run_cli(site, publish_args(), log, ok=(0, 3))  # untimed: build the state first
    except BenchError as exc:
        return [Result(s, size, "posts", status=f"error: {exc}") for s in wanted]

    def nochange(index: int) -> Run:
        if index == 0:
            settle_state(site, log)
        return run_cli(site, publish_args(), log)

    def edit(index: int) -> Run:
        text = edited.read_text(encoding="utf-8")
        end = text.index("\n---\n", 4) + 5
        body = generate.PostMaker(seed * 1000 + index + 1).body()
        edited.write_text(text[:end] + "\n" + body, encoding="utf-8")
        stamp = time.time() + index + 1  # newer than anything a cache may hold
        os.utime(edited, (stamp, stamp))
        return run_cli(site, publish_args(), log)

    for scenario, one_run in (("catnochange", nochange), ("catedit", edit)):
        if scenario not in only:
            continue
        result = Result(scenario, size, "posts")
        results.append(result)
        print(f"  {LABELS[scenario]} ({size:,} posts) x{runs}", flush=True)
        try:
            for index in range(runs):
                result.runs.append(one_run(index))
        except BenchError as exc:
            result.status = f"error: {exc}"
        result.judge()
    return results


# --- delivery scenarios ---------------------------------------------------------------------


def delivery_available(site: Path, log: Path) -> bool:
    try:
        run_cli(site, ["subscribers", "--help"], log)
    except BenchError:
        return False
    return True


def count_outbox(site: Path) -> int:
    """Messages in the outbox: plain folder or Maildir (new/ and cur/, not tmp/)."""
    outbox = site / ".publisher" / "outbox"
    if not outbox.is_dir():
        return 0
    total = 0
    for _folder, dirs, files in os.walk(outbox):
        dirs[:] = [d for d in dirs if d != "tmp"]
        total += sum(1 for f in files if not f.startswith("."))
    return total


def delivery_scenarios(
    work: Path, sizes: Sequence[int], smtp_sizes: Sequence[int], runs: int, only: set[str],
    seed: int, log: Path, trash: Trash,
) -> list[Result]:
    wanted = [(s, n) for s in ("import", "outbox", "outboxfloor") for n in sizes] + [
        ("smtp", n) for n in smtp_sizes
    ]
    wanted = [(s, n) for s, n in wanted if s in only]
    if not wanted:
        return []
    # Delivery runs on the real clock (subscribers are imported at the real time, and a
    # digest dated before a subscriber joined is not theirs), so every post must fall
    # in the first digest's window: the newest generated post is from 2026-01-01.
    site = make_site(work / "delivery", DELIVERY_SITE_POSTS, seed, window=36500, trash=trash)
    if not delivery_available(site, log):
        print("  delivery scenarios skipped: `publisher subscribers` does not exist", flush=True)
        return [
            Result(s, n, "subscribers", status="skipped: delivery not available")
            for s, n in wanted
        ]
    results: list[Result] = []
    try:
        for size in sorted({n for _, n in wanted}):
            results.extend(_deliver(work, site, size, runs, wanted, seed, log, trash))
    finally:
        # The last outbox goes too (main() empties the trash): nothing big is left
        # in the site for the next invocation to delete before its timing.
        reset_outputs(site, trash)
    return results


def _deliver(
    work: Path, site: Path, size: int, runs: int, wanted: list[tuple[str, int]], seed: int,
    log: Path, trash: Trash,
) -> list[Result]:
    csv_file = work / f"subscribers-{size}-{seed}.csv"
    if not csv_file.is_file():
        generate.write_subscribers(csv_file, size, seed)
    template = work / f"state-{size}"
    results = []

    # Import: always done once (the other scenarios start from its state); timed if asked.
    importing = Result("import", size, "subscribers")
    times = runs if ("import", size) in wanted else 1
    try:
        for _ in range(times):
            reset_outputs(site, trash)
            importing.runs.append(run_cli(site, ["subscribers", "import", str(csv_file)], log))
    except BenchError as exc:
        importing.status = f"error: {exc}"
    importing.judge()
    if ("import", size) in wanted:
        results.append(importing)
    if importing.status.startswith("error"):
        results.extend(
            Result(s, n, "subscribers", status="error: subscribers import failed")
            for s, n in wanted
            if n == size and s != "import"
        )
        return results
    shutil.rmtree(template, ignore_errors=True)  # a state: a few files
    shutil.copytree(site / ".publisher", template)

    def fresh() -> None:
        """The imported state and no outbox: the previous run's goes to the trash."""
        reset_outputs(site, trash)
        shutil.copytree(template, site / ".publisher")
        os.sync()

    def deliver(config: str | None, delivered: Any) -> Run:
        """`publish` issues and delivers the digest; `send` finishes if publish left any."""
        head = ["--config", config] if config else []
        steps = [run_cli(site, [*head, "publish"], log)]
        if delivered() < size:
            steps.append(run_cli(site, [*head, "send"], log))
        run = combine(steps)
        run.delivered = delivered()
        return run

    def check(result: Result) -> None:
        short = [r.delivered for r in result.runs if r.delivered != size]
        if short:
            result.status = f"error: delivered {short[0]} of {size} messages"
        result.judge()

    if ("outbox", size) in wanted:
        result = Result("outbox", size, "subscribers")
        results.append(result)
        print(f"  digest to outbox ({size:,} subscribers) x{runs}", flush=True)
        try:
            for _ in range(runs):
                fresh()
                result.runs.append(deliver(None, lambda: count_outbox(site)))
        except BenchError as exc:
            result.status = f"error: {exc}"
        check(result)

    if ("outboxfloor", size) in wanted:
        results.append(outbox_floor(work, site, size, runs, log, trash, fresh, deliver))

    if ("smtp", size) in wanted:
        result = Result("smtp", size, "subscribers")
        results.append(result)
        print(f"  digest via SMTP ({size:,} subscribers) x{runs}", flush=True)
        kept = work / "smtp-message.eml"  # the first message the sink receives
        kept.unlink(missing_ok=True)
        try:
            with SmtpSink(keep=kept) as sink:
                smtp_config = site / "publisher-smtp.toml"
                smtp_config.write_text(
                    site_config("smtp", 36500)
                    + SMTP_CONFIG.format(port=sink.port, connections=SMTP_CONNECTIONS),
                    encoding="utf-8",
                )
                for _ in range(runs):
                    fresh()
                    sink.reset()
                    run = deliver(smtp_config.name, lambda: sink.count)
                    run.sink_cpu_seconds = sink.cpu_seconds
                    result.runs.append(run)
        except BenchError as exc:
            result.status = f"error: {exc}"
        if result.runs:
            measure_ceiling(result, kept)
        check(result)
    return results


def outbox_floor(
    work: Path, site: Path, size: int, runs: int, log: Path, trash: Trash,
    fresh: Callable[[], None], deliver: Callable[[str | None, Any], Run],
) -> Result:
    """The outbox floor (bench/outboxfloor.py): `size` copies of one message
    publisher wrote to the outbox, written as the outbox writes them, without
    composing or recording anything. What the disk asks for the files alone."""
    result = Result("outboxfloor", size, "subscribers")
    print(f"  outbox floor ({size:,} messages, the files alone) x{runs}", flush=True)
    outbox = site / ".publisher" / "outbox"
    sample = work / "outbox-message.eml"
    try:
        if not outbox.is_dir():  # no outbox run before this one: one, untimed
            fresh()
            deliver(None, lambda: count_outbox(site))
        first = next(p for p in sorted(outbox.iterdir()) if p.suffix == ".eml")
        shutil.copyfile(first, sample)
        script = Path(__file__).with_name("outboxfloor.py")
        folder = work / "outbox-floor"
        for _ in range(runs):
            trash.set_aside(folder)
            os.sync()
            result.runs.append(run_process(
                [floor_python(), str(script), str(folder), str(size), str(sample)], work, log
            ))
        trash.set_aside(folder)
    except (BenchError, StopIteration, OSError) as exc:
        result.status = f"error: {exc or 'no message in the outbox'}"
    result.judge()
    return result


def measure_ceiling(result: Result, kept: Path) -> None:
    """The sink's ceiling for `result`: the message publisher sent, as many times
    as publisher did, from a bare client, to a fresh sink (bench.smtpsink.ceiling)."""
    print(f"  sink ceiling: one of those messages x{result.size:,} from a bare smtplib "
          f"client, {SMTP_CONNECTIONS} connections", flush=True)
    try:
        message = Message.load(kept)
        result.ceiling = ceiling(message, result.size, SMTP_CONNECTIONS)
    except (OSError, ValueError, RuntimeError) as exc:  # smtplib's errors are OSErrors
        result.ceiling_note = f"no sink ceiling: {exc}"


# --- report ---------------------------------------------------------------------------------


def ratio_row(results: Sequence[Result]) -> dict[str, Any] | None:
    by = {(r.scenario, r.size): r for r in results}
    big, small = by.get(("cold", 100_000)), by.get(("cold", 10_000))
    if not big or not small or not big.median or not small.median:
        return None
    ratio = big.median / small.median
    return {
        "scenario": "ratio",
        "label": LABELS["ratio"],
        "value": ratio,
        "target": f"<= {RATIO_TARGET:g}",
        "status": "pass" if ratio <= RATIO_TARGET else "miss",
    }


def table(results: Sequence[Result], ratio: dict[str, Any] | None) -> str:
    head = ("scenario", "size", "median s", "min", "max", "CPU s", "peak RSS MB", "Hugo s",
            "Hugo CPU s", "x Hugo", "target", "result")
    rows = []
    notes = sorted({r.hugo_note for r in results if r.hugo_note})
    for r in results:
        fmt = _seconds if r.runs else _dash
        hugo_median, share = r.hugo_median, r.hugo_share
        rows.append((
            LABELS[r.scenario],
            f"{r.size:,} {r.unit}",
            fmt(r.median),
            fmt(min(r.times) if r.runs else 0),
            fmt(max(r.times) if r.runs else 0),
            fmt(r.cpu_median or 0),
            f"{r.peak_rss_mb:.0f}" if r.peak_rss_mb is not None else "-",
            f"{hugo_median:.3f}" if hugo_median is not None else "-",
            f"{r.hugo_cpu_median:.3f}" if r.hugo_cpu_median is not None else "-",
            f"{share:.2f}" if share is not None else "-",
            r.target or "-",
            r.status + (f" ({details})" if (details := r.details()) else ""),
        ))
    if ratio:
        rows.append((
            ratio["label"], "", f"{ratio['value']:.1f}x", "", "", "", "", "", "", "",
            ratio["target"],
            ratio["status"],
        ))
    widths = [max(len(str(row[i])) for row in (head, *rows)) for i in range(len(head))]
    widths[-1] = 0  # the last column is left ragged (errors can be long)
    lines = [" | ".join(c.ljust(w) for c, w in zip(head, widths, strict=True)).rstrip()]
    lines.append("-|-".join("-" * w for w in widths[:-1]) + "-|-" + "-" * len(head[-1]))
    for row in rows:
        lines.append(" | ".join(str(c).ljust(w) for c, w in zip(row, widths, strict=True)))
    # "x Hugo" is publisher's median over Hugo's, both measured in this run.
    lines.extend(f"Hugo column: {note}" for note in notes)
    if any(r.ceiling for r in results):
        lines.append(
            f"sink ceiling: a bare smtplib client, {SMTP_CONNECTIONS} connections, replaying one "
            "message publisher sent, to a fresh sink: the most any client gets through it here"
        )
    return "\n".join(lines)


def _seconds(value: float | None) -> str:
    return f"{value:.3f}" if value is not None else "-"


def _dash(value: float | None) -> str:
    return "-"


def git_commit() -> str:
    try:
        done = subprocess.run(
            ["git", "rev-parse", "HEAD"], cwd=REPO, capture_output=True, text=True, check=True
        )
        dirty = subprocess.run(
            ["git", "status", "--porcelain", "--untracked-files=no"],
            cwd=REPO, capture_output=True, text=True, check=True,
        ).stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        return "unknown"
    return done.stdout.strip() + ("-dirty" if dirty else "")


def hugo_version(command: str) -> str:
    try:
        done = subprocess.run([command, "version"], capture_output=True, text=True, check=True)
    except (OSError, subprocess.CalledProcessError):
        return "unknown version"
    return done.stdout.split(" BuildDate")[0].strip()


def parse_sizes(text: str) -> list[int]:
    out = []
    for part in text.split(","):
        part = part.strip().lower().replace("_", "")
        scale = 1
        if part.endswith("k"):
            part, scale = part[:-1], 1000
        out.append(int(part) * scale)
    return out


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.run", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--smoke", action="store_true",
                        help="tiny sizes (50 posts, 50 subscribers), one run each")
    parser.add_argument("--sizes", type=parse_sizes, help="post counts (default 1k,10k,100k)")
    parser.add_argument("--subscribers", type=parse_sizes,
                        help="subscriber counts for import/outbox (default 10k,100k); "
                             "every outbox stays in WORK/trash until the end: ~8 GB at 100k")
    parser.add_argument("--smtp", type=parse_sizes,
                        help="subscriber counts for SMTP (10k); the sink's ceiling sends as many")
    parser.add_argument("--runs", type=int, help="runs per scenario (default 3; smoke 1)")
    parser.add_argument("--only", help=f"comma-separated scenarios: {', '.join(SCENARIOS)}")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--work", type=Path, default=HERE / "work",
                        help="where sites are generated and reused (default bench/work)")
    parser.add_argument("--results", type=Path, default=HERE / "results",
                        help="folder for the JSON results (default bench/results)")
    parser.add_argument("--profile", choices=generate.PROFILES, default="real",
                        help="post shape: real (~5 KB, default) or short (~3 KB, issue 5)")
    parser.add_argument("--publisher", metavar="COMMAND",
                        help="the command to benchmark (default: this tree, installed "
                             "into bench/work/installed as pip installs it)")
    parser.add_argument("--editable", action="store_true",
                        help="benchmark this venv's own (editable) publisher instead; "
                             "--smoke does")
    args = parser.parse_args(argv)
    if args.publisher:
        COMMAND[:] = shlex.split(args.publisher)
    global TARGETS
    PROFILE[0] = args.profile
    TARGETS = TARGETS_BY_PROFILE[args.profile]

    if args.smoke:
        sizes, subscribers, smtp, runs = [50], [50], [50], 1
    else:
        sizes, subscribers, smtp, runs = [1000, 10_000, 100_000], [10_000, 100_000], [10_000], 3
    sizes = args.sizes or sizes
    subscribers = args.subscribers or subscribers
    smtp = args.smtp or smtp
    runs = args.runs or runs
    only = set(SCENARIOS)
    if args.only:
        only = {s.strip() for s in args.only.split(",")}
        unknown = only - set(SCENARIOS)
        if unknown:
            parser.error(f"unknown scenario(s): {', '.join(sorted(unknown))}")

    work = args.work.resolve()
    work.mkdir(parents=True, exist_ok=True)
    log = work / "last-run.log"
    log.write_text("")
    # Old outputs are set aside in the trash during the timing (see Trash): what an
    # interrupted invocation left is deleted now, and the disk given its minute.
    trash = Trash(work / "trash")
    trash.empty()
    trash.settle()
    if not (args.publisher or args.editable or args.smoke):
        COMMAND[:] = installed_copy(work, log, trash)
    started = datetime.now(UTC)
    found = hugo.command()
    print(f"publisher benchmark: {os.cpu_count()} cores, Python {platform.python_version()}, "
          f"commit {git_commit()}, {args.profile} posts; "
          f"Hugo: {hugo_version(found) if found else 'not installed, column skipped'}; "
          f"log in {log}", flush=True)
    print(f"  measuring {' '.join(publisher_command())}", flush=True)

    results: list[Result] = []
    for size in sizes:
        if only & set(POST_SCENARIOS):
            results.extend(post_scenarios(work, size, runs, only, args.seed, log))
        results.extend(category_scenarios(work, size, runs, only, args.seed, log))
    results.extend(
        delivery_scenarios(work, subscribers, smtp, runs, only, args.seed, log, trash)
    )
    ratio = ratio_row(results)

    print()
    print(table(results, ratio))
    report = {
        "started": started.isoformat(),
        "seconds": (datetime.now(UTC) - started).total_seconds(),
        "commit": git_commit(),
        "cpu_count": os.cpu_count(),
        "python": platform.python_version(),
        "platform": platform.platform(),
        "command": " ".join(["python -m bench.run", *(argv if argv is not None else sys.argv[1:])]),
        "runs": runs,
        "seed": args.seed,
        "profile": args.profile,
        "hugo": hugo_version(found) if found else None,
        "results": [r.to_json() for r in results],
        "ratio": ratio,
    }
    args.results.mkdir(parents=True, exist_ok=True)
    out = args.results / f"{started:%Y%m%dT%H%M%SZ}.json"
    out.write_text(json.dumps(report, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
    print(f"\nwritten {out}")
    trash.empty()  # no timing follows
    return 1 if any(r.status.startswith("error") for r in results) else 0


if __name__ == "__main__":
    sys.exit(main())
