"""`run`: the long-running service."""

from __future__ import annotations

import click

from ..errors import ExitCode
from ..service.schedule import Service
from .common import Context, log_levels, run_action


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
    def action() -> int:
        log_levels(ctx.verbose, ctx.quiet)
        Service(ctx.config).run()
        return ExitCode.OK

    run_action(ctx, action)
