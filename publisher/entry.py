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
    # lazy: after the clock starts, so the shortcut's "Done in" counts its own import
    from .incremental.shortcut import replay  # noqa: PLC0415

    code = replay(sys.argv[1:], started)
    if code is not None:
        sys.exit(code)
    # lazy: click and the CLI only when the shortcut could not answer
    from .cli import main as cli_main  # noqa: PLC0415

    cli_main()
