"""The torture run: every family of scenarios, then the figures.

    python -m torture              # the full run (`make torture`), several minutes
    python -m torture --short      # the short run `.ci/run` makes after `make test`
    python -m torture --only kill-publish,smtp --seed 7 --json results.json
    python -m torture --short --only relay

Exit status 0 when every goal is met (no traceback, nothing lost, no
duplicate beyond the one in flight, no stale lock, no torn or invalid output,
no temp file under out/, no integrity failure, nothing private under out/,
no process outliving its killed parent, no unexpected exit, no subscriber
changed by a fault that is nobody's or a report that proved nothing), 1 otherwise.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import random
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

from .harness import Tally

FAMILIES = ("kill-publish", "kill-send", "full-disk", "concurrency", "smtp", "relay",
            "hostile", "reports", "outage", "sigterm")

SIZES = {
    # family: (full run, short run)
    "posts": (10_000, 2_500),
    "publish_kills": (32, 6),
    "readers": (1_000, 200),
    "send_kills": (32, 6),
    "big_mb": (50, 5),
    "relay_digests": (6, 2),  # digests issued while the relay refuses
    "report_readers": (200, 20),
    "rooms": ((0, 4096, 16384, 65536, 131072, 262144), (0, 16384, 131072)),
    # The mail server's outage in seconds, and the sign-ups POSTed during it.
    "outage_seconds": (600, 20),
    "outage_signups": (50, 10),
    "sigterms": (100, 20),
}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m torture", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--short", action="store_true", help="the short run for CI")
    parser.add_argument("--only", default="", help=f"comma-separated: {', '.join(FAMILIES)}")
    parser.add_argument("--seed", type=int, default=None, help="random seed (default: random)")
    parser.add_argument("--json", type=Path, help="also write the figures here")
    parser.add_argument("--keep", action="store_true", help="keep the work folder")
    args = parser.parse_args(argv)
    only = [f for f in args.only.split(",") if f] or list(FAMILIES)
    unknown = set(only) - set(FAMILIES)
    if unknown:
        parser.error(f"unknown families: {', '.join(sorted(unknown))}")
    seed = args.seed if args.seed is not None else random.SystemRandom().randrange(1 << 30)
    rng = random.Random(seed)
    pick = 1 if args.short else 0
    size = {k: v[pick] for k, v in SIZES.items()}
    work = Path(tempfile.mkdtemp(prefix="publisher-torture-"))
    print(f"torture: {'short' if args.short else 'full'} run, seed {seed}, in {work}",
          flush=True)

    from . import concurrency, disk, hostile, kills, outage, relay, reports, sigterm, smtp

    # aiosmtpd logs the faults it is told to make (a refused TLS handshake)
    # with tracebacks of its own; they are the test, not a finding.
    logging.getLogger("mail.log").setLevel(logging.CRITICAL)

    plan: dict[str, Callable[[], Tally]] = {
        "kill-publish": lambda: kills.kill_publish(
            work, int(size["posts"]), int(size["publish_kills"]), rng),
        "kill-send": lambda: kills.kill_send(
            work, int(size["readers"]), int(size["send_kills"]), rng),
        "full-disk": lambda: disk.full_disks(work, tuple(size["rooms"])),  # type: ignore[arg-type]
        "concurrency": lambda: concurrency.concurrency(
            work, int(size["posts"]) // 4, int(size["readers"])),
        "smtp": lambda: smtp.smtp_faults(work),
        "relay": lambda: relay.relay_refuses(work, int(size["relay_digests"])),
        "hostile": lambda: hostile.hostile_site(work, int(size["big_mb"])),
        "reports": lambda: reports.hostile_reports(work, int(size["report_readers"])),
        "outage": lambda: outage.outage(
            work, float(size["outage_seconds"]), int(size["outage_signups"])),
        "sigterm": lambda: sigterm.sigterm(work, int(size["sigterms"]), rng),
    }
    total = Tally()
    rows = []
    started = time.monotonic()
    try:
        for family in only:
            print(f"{family}:", flush=True)
            why = disk.available() if family == "full-disk" else None
            if why is not None:
                if os.environ.get("CI", "").lower() == "true":
                    print(f"  FAILED: full-disk scenarios cannot run under CI=true: {why}")
                    total.fail("unexpected", f"full-disk: {why}")
                else:
                    print(f"  skipped: {why}")
                continue
            began = time.monotonic()
            tally = plan[family]()
            rows.append((family, tally, time.monotonic() - began))
            total.add(tally)
    finally:
        if not args.keep:
            shutil.rmtree(work, ignore_errors=True)
    seconds = time.monotonic() - started
    print()
    print(table(rows, total, seconds))
    if total.signups:
        print(f"\noutage: {total.signups} sign-ups during the mail server's outage, "
              f"{total.confirmations} confirmations arrived after it (goal: all), the last "
              f"{total.confirm_seconds:.1f} s after it ended")
    if total.problems:
        print("\nproblems:")
        for problem in total.problems:
            print(f"  {problem}")
    if args.json:
        args.json.write_text(json.dumps({
            "seed": seed, "short": args.short, "seconds": round(seconds, 1),
            "commit": commit(), "cores": os.cpu_count(), "root": os.geteuid() == 0,
            "families": {f: t.as_json() for f, t, _s in rows}, "total": total.as_json(),
        }, indent=2))
    print(f"\ntorture: {'PASS' if total.ok() else 'FAIL'} (seed {seed}, "
          f"{seconds:.0f} s)")
    return 0 if total.ok() else 1


COLUMNS = ("scenarios", "faults", "tracebacks", "lost", "duplicates", "in_flight",
           "stale_locks", "torn", "temp_files", "integrity", "leaks", "orphans", "unexpected",
           "changed")


def table(rows: list[tuple[str, Tally, float]], total: Tally, seconds: float) -> str:
    head = ["family", *COLUMNS, "seconds"]
    lines = [head]
    for family, tally, spent in rows:
        lines.append([family, *(str(getattr(tally, c)) for c in COLUMNS), f"{spent:.0f}"])
    lines.append(["total", *(str(getattr(total, c)) for c in COLUMNS), f"{seconds:.0f}"])
    widths = [max(len(row[i]) for row in lines) for i in range(len(head))]
    out = []
    for index, row in enumerate(lines):
        out.append(" | ".join(cell.ljust(w) for cell, w in zip(row, widths, strict=True)))
        if index == 0:
            out.append("-|-".join("-" * w for w in widths))
    return "\n".join(out)


def commit() -> str:
    try:
        return subprocess.run(["git", "rev-parse", "--short", "HEAD"], capture_output=True,
                              text=True, cwd=Path(__file__).parent, check=True).stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        return "unknown"


if __name__ == "__main__":
    sys.exit(main())
