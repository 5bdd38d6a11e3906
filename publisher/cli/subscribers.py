"""`subscribers` (add, remove, list, import, export) and `unsubscribe`: the list."""

from __future__ import annotations

from pathlib import Path
from typing import cast

import click

from ..app.subscribers import (
    Status,
    subscribers_add,
    subscribers_export,
    subscribers_import,
    subscribers_list,
    subscribers_remove,
)
from ..app.subscribers import unsubscribe as run_unsubscribe
from ..errors import ExitCode
from ..report import pending_lines
from .common import NOW_OPTION, Context, parse_now, run_action


@click.group()
def subscribers() -> None:
    """Manage the subscriber list (kept in the private state store)."""


@subscribers.command("add")
@click.argument("email")
@click.option("--name", default="", help="The subscriber's name, for the To line.")
@click.option(
    "--first-name", default="", help="Used in the greeting (default: the whole name)."
)
@click.option(
    "--resubscribe",
    is_flag=True,
    help="Make an unsubscribed or bounced address active again (only on their request).",
)
@NOW_OPTION
@click.pass_obj
def add_command(
    ctx: Context, email: str, name: str, first_name: str, resubscribe: bool,
    now_text: str | None,
) -> None:
    """Add EMAIL to the list as an active subscriber."""

    def action() -> int:
        added = subscribers_add(
            ctx.config, parse_now(now_text), email, name, first_name, resubscribe
        )
        subscriber = added.subscriber
        if added.typo:
            click.echo(f"warning: {added.typo}", err=True)
        if added.changed:
            ctx.say(f"Subscribed: {subscriber.email}.")
        elif subscriber.status == "active":
            ctx.say(f"Already subscribed: {subscriber.email}.")
        else:
            click.echo(
                f"{subscriber.email} is {subscriber.status}; not changed "
                "(use --resubscribe if they asked to come back).",
                err=True,
            )
            return ExitCode.SKIPPED
        return ExitCode.OK

    run_action(ctx, action)


@subscribers.command("remove")
@click.argument("email")
@click.pass_obj
def remove_command(ctx: Context, email: str) -> None:
    """Delete EMAIL and its send history from the list.

    To stop mail but remember the address (so an old import cannot add it
    back), use `publisher unsubscribe EMAIL` instead.
    """

    def action() -> int:
        removed = subscribers_remove(ctx.config, email)
        ctx.say(f"Removed: {removed.email}.")
        return ExitCode.OK

    run_action(ctx, action)


@subscribers.command("list")
@click.option(
    "--status",
    type=click.Choice(["active", "unsubscribed", "bounced", "pending"]),
    help="Only subscribers with this status.",
)
@click.pass_obj
def list_command(ctx: Context, status: str | None) -> None:
    """List subscribers with their status.

    With --status pending, a table of who waits for their confirmation mail
    since when, and why: the mail's state (waiting, sent, refused; "none" if
    nothing was queued, as for an import), the tries made, the next try, when
    the link expires (the sign-up is removed then) and the last error.
    """

    def action() -> int:
        found = subscribers_list(ctx.config, cast("Status | None", status))
        if status == "pending":
            for line in pending_lines(found.unconfirmed, ctx.config.tz):
                click.echo(line)
        else:
            width = max((len(s.email) for s in found.subscribers), default=5)
            for s in found.subscribers:
                click.echo(f"{s.email:<{width}}  {s.status:<12}  {s.name}".rstrip())
        ctx.say(
            ", ".join(f"{n} {label}" for label, n in found.counts.items()) + ".", err=True
        )
        return ExitCode.OK

    run_action(ctx, action)


@subscribers.command("import")
@click.argument("file", type=click.Path(path_type=Path, dir_okay=False, exists=True))
@NOW_OPTION
@click.pass_obj
def import_command(ctx: Context, file: Path, now_text: str | None) -> None:
    """Import a CSV file: ours (email,name,status), or the subscriber export of
    Mailchimp, Substack, Buttondown or listmonk as it comes.

    Columns are found by their header names (without a header: email,name);
    the statuses those tools use are mapped to ours, and unused columns are
    named once. Bad lines are reported by line number and the rest still
    import. Addresses already on the list are left as they are.
    """

    def action() -> int:
        result = subscribers_import(ctx.config, parse_now(now_text), file)
        for warning in result.warnings:
            click.echo(f"warning: {warning}", err=True)
        for problem in result.problems:
            click.echo(f"error: {problem}", err=True)
        ctx.say(
            f"Imported {file.name}: {result.added} added, {result.unchanged} already on the "
            f"list, {len(result.problems)} refused."
        )
        return ExitCode.SKIPPED if result.problems else ExitCode.OK

    run_action(ctx, action)


@subscribers.command("export")
@click.option(
    "--output", "-o", type=click.Path(path_type=Path, dir_okay=False),
    help="Write the CSV to this file instead of standard output.",
)
@click.pass_obj
def export_command(ctx: Context, output: Path | None) -> None:
    """Write the list as CSV (email,name,status) with a header row."""

    def action() -> int:
        text = subscribers_export(ctx.config, output)
        if output is None:
            click.echo(text, nl=False)
        return ExitCode.OK

    run_action(ctx, action)


@click.command()
@click.argument("email_or_token")
@NOW_OPTION
@click.pass_obj
def unsubscribe(ctx: Context, email_or_token: str, now_text: str | None) -> None:
    """Unsubscribe by address, or by the token (or whole link) from a message.

    The address is kept, marked unsubscribed, so it is never mailed again and
    no import can quietly add it back. Verifying a token needs PUBLISHER_SECRET.
    """

    def action() -> int:
        subscriber = run_unsubscribe(ctx.config, parse_now(now_text), email_or_token)
        if subscriber.status == "unsubscribed":
            ctx.say(f"Already unsubscribed: {subscriber.email}.")
        else:
            ctx.say(f"Unsubscribed: {subscriber.email}.")
        return ExitCode.OK

    run_action(ctx, action)
