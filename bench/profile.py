"""Profile one benchmark scenario of the real CLI with cProfile.

    python -m bench.profile cold --size 10000
    python -m bench.profile nochange --size 10000 --top 25
    python -m bench.profile touch --size 10000     # one post's mtime changed

Uses the same generated site as `python -m bench.run` (bench/work/posts-N),
runs `publisher publish` under `python -m cProfile` in a child process, keeps
the .prof file beside the site and prints the top functions by cumulative and
by own time.
"""

from __future__ import annotations

import argparse
import io
import os
import pstats
import subprocess
import sys
from pathlib import Path

from . import run


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.profile", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("scenario", choices=("cold", "nochange", "touch"))
    parser.add_argument("--top", type=int, default=15)
    run.add_site_options(parser)
    args = parser.parse_args(argv)

    work, site = run.site_from_options(args)  # no out/, no state: what a cold run sees
    log = work / "profile.log"
    if args.scenario in ("nochange", "touch"):
        run.run_cli(site, run.publish_args(), log)
    if args.scenario == "touch":
        (middle,) = (site / "content").glob(f"*-{args.size // 2}.md")
        os.utime(middle)  # mtime only, as bench.run's "touch" does
    script = Path(sys.executable).parent / "publisher"
    if not script.is_file():
        parser.error(f"{script} not found: install publisher into this environment first")
    prof = work / f"profile-{args.scenario}-{args.size}.prof"
    command = [sys.executable, "-m", "cProfile", "-o", str(prof), str(script),
               *run.publish_args()]
    subprocess.run(command, cwd=site, env=run.child_env(), check=True,
                   stdout=subprocess.DEVNULL)
    text = io.StringIO()
    stats = pstats.Stats(str(prof), stream=text)
    stats.strip_dirs()
    for key in ("cumulative", "tottime"):
        print(f"--- {args.scenario}, {args.size:,} posts: top {args.top} by {key} ---", file=text)
        stats.sort_stats(key).print_stats(args.top)
    print(text.getvalue())
    print(f"profile kept in {prof} (open with `python -m pstats {prof}` or snakeviz)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
