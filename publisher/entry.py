"""The `publisher` command: the nothing-changed shortcut first, then the CLI.

`shortcut.replay` answers a `publish` or `build` with nothing changed using
the standard library alone; anything else (or any doubt) imports click and
runs the command line as usual.
"""

from __future__ import annotations

import sys
import time


def main() -> None:
    started = time.perf_counter()
    from .incremental.shortcut import replay

    code = replay(sys.argv[1:], started)
    if code is not None:
        sys.exit(code)
    from .cli import main as cli_main

    cli_main()
