"""`subscribers` (add, remove, list, import, export) and `unsubscribe`: the list."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, cast

import click

from ..errors import ExitCode
from .common import NOW_OPTION, Context, parse_now, run_action, state_store

if TYPE_CHECKING:
    from ..store import mailqueue


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
    from ..store.domains import typo_warning

    def action() -> int:
        with state_store(ctx) as state, state.transaction():
            subscriber, changed = state.subscribers.add(
                email, name, parse_now(now_text), resubscribe=resubscribe,
                first_name=first_name,
            )
        typo = typo_warning(subscriber.email)
        if typo:
            click.echo(f"warning: {typo}", err=True)
        if changed:
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
        with state_store(ctx) as state, state.transaction():
            removed = state.subscribers.remove(email)
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
    from ..store import subscribers as subs

    def action() -> int:
        with state_store(ctx) as state:
            rows = state.subscribers.listing(cast(subs.Status | None, status))
            waiting = state.mail_queue.unconfirmed() if status == "pending" else []
            counts = state.subscribers.counts()
        if status == "pending":
            _pending_table(ctx, waiting)
        else:
            width = max((len(s.email) for s in rows), default=5)
            for s in rows:
                click.echo(f"{s.email:<{width}}  {s.status:<12}  {s.name}".rstrip())
        ctx.say(
            ", ".join(f"{n} {label}" for label, n in counts.items()) + ".", err=True
        )
        return ExitCode.OK

    run_action(ctx, action)


PENDING_COLUMNS = ("email", "signed up", "confirmation", "tries", "next try", "link expires",
                   "last error")


def _pending_table(ctx: Context, rows: list[mailqueue.Unconfirmed]) -> None:
    """One line per pending sign-up, times in the site's timezone, columns
    two spaces apart ("-" for nothing)."""
    from datetime import UTC, datetime

    tz = ctx.config.tz

    def when(seconds: float | None) -> str:
        if seconds is None:
            return "-"
        return f"{datetime.fromtimestamp(seconds, UTC).astimezone(tz):%Y-%m-%d %H:%M:%S}"

    table = [list(PENDING_COLUMNS)]
    for row in rows:
        try:
            signed_up = f"{datetime.fromisoformat(row.signed_up).astimezone(tz):%Y-%m-%d %H:%M:%S}"
        except ValueError:
            signed_up = row.signed_up
        mail = row.confirmation
        if mail is None:
            table.append([row.email, signed_up, "none", "-", "-", "-", "-"])
            continue
        state = mail.state if mail.state != "sent" else f"sent {when(mail.sent_at)}"
        table.append([
            row.email, signed_up, state, str(mail.attempts),
            when(mail.next_try) if mail.state == "waiting" else "-",
            when(mail.expires_at), " ".join(mail.last_error.split()) or "-",
        ])
    if len(table) == 1:
        return
    widths = [max(len(line[i]) for line in table) for i in range(len(PENDING_COLUMNS) - 1)]
    for line in table:
        cells = [cell.ljust(width) for cell, width in zip(line, widths, strict=False)]
        click.echo("  ".join([*cells, line[-1]]).rstrip())


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
        with state_store(ctx) as state, state.transaction():
            result = state.subscribers.import_csv(file, parse_now(now_text))
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
    from ..files import write_atomic

    def action() -> int:
        with state_store(ctx) as state:
            text = state.subscribers.export_csv()
        if output is None:
            click.echo(text, nl=False)
        else:
            # Addresses are personal data: readable by us only.
            write_atomic(output, text.encode("utf-8"), mode=0o600)
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
    from ..mail import tokens
    from ..store import subscribers as subs

    def action() -> int:
        by_address = "@" in email_or_token and "://" not in email_or_token
        if not by_address:
            tokens.secret_from_env()  # before the store is opened: the clearer error
        with state_store(ctx) as state:
            if by_address:
                key = subs.email_key(subs.normalise(email_or_token))
            else:
                key = tokens.verify(tokens.for_state(state), email_or_token)
            with state.transaction():
                subscriber = state.subscribers.unsubscribe_key(key, parse_now(now_text))
        if subscriber.status == "unsubscribed":
            ctx.say(f"Already unsubscribed: {subscriber.email}.")
        else:
            ctx.say(f"Unsubscribed: {subscriber.email}.")
        return ExitCode.OK

    run_action(ctx, action)
