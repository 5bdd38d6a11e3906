"""`serve`: the list's public pages (subscribe, confirm, unsubscribe, manage, archive)."""

from __future__ import annotations

import click

from ..errors import ExitCode
from ..web.pages import Pages
from ..web.server import address, url_of
from ..web.server import serve as run_server
from .common import Context, log_levels, run_action


@click.command()
@click.option(
    "--listen",
    metavar="HOST:PORT",
    help="Address to listen on (default: [web] listen, 127.0.0.1:8080).",
)
@click.option(
    "--print-form",
    is_flag=True,
    help="Print an HTML sign-up form for your own site, then exit.",
)
@click.pass_obj
def serve(ctx: Context, listen: str | None, print_form: bool) -> None:
    """Serve the list's pages until stopped (SIGTERM or Ctrl-C).

    \b
    GET  /              subscribe form (double opt-in by email)
    GET  /confirm       confirm button        POST /confirm
    GET  /unsubscribe   unsubscribe button    POST /unsubscribe (RFC 8058 one-click)
    GET  /manage        status and buttons    POST /manage
    GET  /archive/      every digest sent
    GET  /site/...      out/, for local preview

    Put it behind a reverse proxy at [web] base_url (required, but for a
    loopback --listen, where a missing one is a warning). Needs
    PUBLISHER_SECRET and [delivery] from: confirmation links are queued in
    the state store and mailed from a background thread, retried while the
    mail server is down.
    """

    def action() -> int:
        config = ctx.config
        if print_form:
            base = config.web.base_url.rstrip("/") or url_of(*address(config, listen))
            click.echo(Pages(config, base, "").text("form-snippet.html"), nl=False)
            return ExitCode.OK
        log_levels(ctx.verbose, ctx.quiet)
        run_server(config, listen)
        return ExitCode.OK

    run_action(ctx, action)
