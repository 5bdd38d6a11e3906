"""`send`, and the test copy behind `digest --test-to`: delivery from the command line."""

from __future__ import annotations

from dataclasses import replace
from datetime import datetime
from typing import TYPE_CHECKING

import click

from ..errors import DeliveryError, ExitCode
from .common import NOW_OPTION, Context, parse_now, progress, run_action, state_store

if TYPE_CHECKING:
    from ..mail.outgoing import QueueSummary


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
    from ..mail.delivery import send as run_send

    def action() -> int:
        now = parse_now(now_text)
        queue = send_queue(ctx, now)
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


def send_queue(ctx: Context, now: datetime) -> QueueSummary:
    """Every confirmation waiting in the queue, backoff or not (the operator
    asks now), once the sign-ups whose link expired are removed."""
    from ..mail.outgoing import Outgoing, QueueSummary, purge

    with state_store(ctx) as state:
        expired = purge(state, now.timestamp())
        if not state.mail_queue.waiting():
            # No settings or password needed for nothing.
            summary = QueueSummary(expired=len(expired))
        else:
            outgoing = Outgoing(ctx.config, clock=now.timestamp)
            summary = outgoing.drain(state, due_only=False)
            summary = replace(summary, expired=summary.expired + len(expired))
    if summary.worth_saying():
        ctx.say(summary.line())
    return summary


def send_test(ctx: Context, address: str, now: datetime) -> int:
    """`digest --test-to`: one copy of the next digest (else the last one), nothing recorded."""
    from ..mail.delivery import send_test as run_send_test
    from ..pipeline import preview

    config = ctx.config
    site, letter = preview(config, now)
    for problem in site.problems:
        ctx.say(str(problem), err=True)
    if letter is not None:
        subject, html, text = letter.subject, letter.html, letter.text
        which = "the next digest"
    else:
        with state_store(ctx) as state:
            record = state.digests.last()
        if record is None:
            click.echo("No new posts and no digest issued yet: nothing to send.", err=True)
            return ExitCode.OK
        subject, html, text = record.subject, record.html, record.text
        which = f"digest {record.slug} (no new posts for a next one)"
    where = run_send_test(config, address, subject, html, text, now)
    ctx.say(f"Test copy of {which} sent to {address} via {where}; nothing recorded.")
    return ExitCode.OK
