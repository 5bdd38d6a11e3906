"""How long Python's cycle collector runs in the parent during one CLI command.

    python -m bench.gcstats --size 10000      # a cold publish of bench/work/posts-10000
    python -m bench.gcstats --size 100000

Runs `publisher publish` in a child process whose collector reports each
collection (gc.callbacks) of the parent process only (worker processes are
forked from it and would report too), and prints the total, the number of
collections, how many were full and the longest. Uses the site `python -m
bench.run` generates (bench/work/posts-N); `run.make_site` removes its out/ and
state first, so the run is the cold scenario.
"""

from __future__ import annotations

import argparse
import subprocess
import sys

from . import run

# Run inside the child: `publisher` with the collector's work counted.
CHILD = """
import atexit, gc, os, sys, time
parent = os.getpid()
spent = {"seconds": 0.0, "count": 0, "full": 0, "longest": 0.0}
started = [0.0]
def count(phase, info):
    if os.getpid() != parent:
        return
    if phase == "start":
        started[0] = time.perf_counter()
        return
    took = time.perf_counter() - started[0]
    spent["seconds"] += took
    spent["count"] += 1
    spent["full"] += info["generation"] == 2
    spent["longest"] = max(spent["longest"], took)
gc.callbacks.append(count)
atexit.register(lambda: print(
    f"cycle collector in the parent: {spent['seconds']:.2f} s in {spent['count']} "
    f"collections ({spent['full']} full, longest {spent['longest'] * 1000:.0f} ms)",
    file=sys.stderr))
sys.argv = ["publisher", *sys.argv[1:]]
from publisher.entry import main
main()
"""


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.gcstats", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    run.add_site_options(parser)
    args = parser.parse_args(argv)

    _work, site = run.site_from_options(args)
    command = [sys.executable, "-c", CHILD, *run.publish_args()]
    done = subprocess.run(command, cwd=site, env=run.child_env(), capture_output=True,
                          text=True, check=False)
    report = [line for line in done.stderr.splitlines() if line.startswith("cycle collector")]
    print(*report or [done.stderr.strip()], sep="\n")
    return done.returncode


if __name__ == "__main__":
    sys.exit(main())
