"""`run`: the long-running service."""

from __future__ import annotations

import logging

import click

from ..errors import ExitCode
from .common import Context, run_action


def _log_levels(verbose: int, quiet: bool) -> None:
    """A service speaks in log lines: one per event at the default level.

    -v adds detail from publisher itself, -vv the scheduler's own chatter.
    """
    ours = logging.WARNING if quiet else logging.DEBUG if verbose else logging.INFO
    logging.getLogger("publisher").setLevel(ours)
    logging.getLogger("apscheduler").setLevel(logging.DEBUG if verbose >= 2 else logging.WARNING)


@click.command()
@click.pass_obj
def run(ctx: Context) -> None:
    """Keep the site published until stopped (SIGTERM or Ctrl-C).

    \b
    - rebuilds the feeds when posts change ([schedule] poll_seconds),
    - publishes future-dated posts at their time,
    - issues the digest on [schedule] digest (a cron expression in the
      site timezone) if there are new posts.

    Every job takes the same lock as `publisher publish`, so cron and the
    service never write at once. A second `publisher run` on the same site
    refuses to start (exit status 4), and so does one whose work needs a
    setting or secret that is missing (exit status 1, with the lines
    `publisher check` prints). Queued confirmation mail is sent too.
    Stopping lets the running job finish, then exits with status 0.
    """
    from ..service.schedule import Service

    def action() -> int:
        _log_levels(ctx.verbose, ctx.quiet)
        Service(ctx.config).run()
        return ExitCode.OK

    run_action(ctx, action)
