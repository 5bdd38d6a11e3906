"""`bounces`: read bounce and complaint reports and act on them."""

from __future__ import annotations

from pathlib import Path

import click

from ..app.bounces import bounces as collect
from ..errors import ExitCode
from .common import NOW_OPTION, Context, parse_now, run_action


@click.command()
@click.option(
    "--maildir",
    type=click.Path(path_type=Path, file_okay=False),
    help="Read this Maildir (default: [bounces] maildir).",
)
@click.option(
    "--imap",
    is_flag=True,
    help="Read the IMAP mailbox of [bounces] imap_* (over TLS; password from "
    "PUBLISHER_IMAP_PASSWORD).",
)
@NOW_OPTION
@click.pass_obj
def bounces(ctx: Context, maildir: Path | None, imap: bool, now_text: str | None) -> None:
    """Read bounces (RFC 3464) and complaints (RFC 5965) and update the list.

    A hard bounce marks the subscriber bounced, a complaint unsubscribes them,
    a soft bounce counts toward [delivery] max_failures; but only a report
    that proves this list sent the message (its VERP address, Message-ID or
    unsubscribe token) changes anyone: the rest are counted, unverified,
    forged or another list's. Each message is acted on once, however often it
    is read; the mailbox itself is never changed.
    """

    def action() -> int:
        for summary in collect(ctx.config, parse_now(now_text), maildir, imap):
            ctx.say(summary.line())
        return ExitCode.OK

    run_action(ctx, action)
