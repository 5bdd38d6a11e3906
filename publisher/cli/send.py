"""`send`: delivery from the command line."""

from __future__ import annotations

import click

from ..app.send import send as run_send
from ..app.send import send_queue
from ..errors import DeliveryError, ExitCode
from .common import NOW_OPTION, Context, parse_now, progress, run_action


@click.command()
@click.option(
    "--resend-outbox",
    metavar="DIGEST",
    default="",
    help="Mail the recipients of DIGEST (its date slug) whose copy only the outbox took, "
    "after switching to the smtp transport.",
)
@NOW_OPTION
@click.pass_obj
def send(ctx: Context, resend_outbox: str, now_text: str | None) -> None:
    """Deliver every issued digest that still has pending recipients, and
    every confirmation mail still waiting in the queue.

    Each message is recorded as sent as soon as it is accepted, so running
    this again (after a crash, or from cron) never mails anyone twice.
    """

    def action() -> int:
        now = parse_now(now_text)
        queue = send_queue(ctx.config, now)
        if queue.worth_saying():
            ctx.say(queue.line())
        summary = run_send(
            ctx.config, now, progress(ctx, "Sending"), resend_outbox=resend_outbox,
        )
        ctx.say(summary.line())
        if queue.error:
            raise DeliveryError(
                f"confirmation mail not sent: {queue.error}",
                hint="they wait in the queue; a running `publisher serve` or `publisher run` "
                "retries them, or run `publisher send` again",
            )
        return ExitCode.OK

    run_action(ctx, action)
