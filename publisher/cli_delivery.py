"""Commands for the subscriber list and delivery, registered on `publisher.cli.cli`.

Like cli.py, these only parse options, call library functions and report.
"""

from __future__ import annotations

import sys
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, cast

import click

from .cli import NOW_OPTION, Context, _parse_now, _run, cli
from .pipeline import EXIT_OK, EXIT_SKIPPED

if TYPE_CHECKING:
    from .store.state import State


@contextmanager
def _state(ctx: Context) -> Iterator[State]:
    from .store.state import open_state

    state = open_state(ctx.config.state_file)
    try:
        yield state
    finally:
        state.close()


def tty_progress(ctx: Context) -> Callable[[int, int], None] | None:
    """A progress line on a terminal's stderr; None when piped or quiet."""
    if ctx.quiet or not sys.stderr.isatty():
        return None
    last = [0.0]

    def show(done: int, total: int) -> None:
        now = time.monotonic()
        if done < total and now - last[0] < 0.2:
            return
        last[0] = now
        width = 30
        filled = width * done // max(total, 1)
        bar = "#" * filled + "-" * (width - filled)
        end = "\n" if done >= total else ""
        click.echo(f"\rSending [{bar}] {done}/{total}", err=True, nl=False)
        if end:
            click.echo("", err=True)

    return show


@cli.group()
def subscribers() -> None:
    """Manage the subscriber list (kept in the private state store)."""


@subscribers.command("add")
@click.argument("email")
@click.option("--name", default="", help="The subscriber's name, used in the greeting.")
@click.option(
    "--resubscribe",
    is_flag=True,
    help="Make an unsubscribed or bounced address active again (only on their request).",
)
@NOW_OPTION
@click.pass_obj
def add_command(
    ctx: Context, email: str, name: str, resubscribe: bool, now_text: str | None
) -> None:
    """Add EMAIL to the list as an active subscriber."""
    from .store import subscribers as subs

    def action() -> int:
        with _state(ctx) as state, state.transaction() as conn:
            subscriber, changed = subs.add(
                conn, email, name, _parse_now(now_text), resubscribe=resubscribe
            )
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
            return EXIT_SKIPPED
        return EXIT_OK

    _run(ctx, action)


@subscribers.command("remove")
@click.argument("email")
@click.pass_obj
def remove_command(ctx: Context, email: str) -> None:
    """Delete EMAIL and its send history from the list.

    To stop mail but remember the address (so an old import cannot add it
    back), use `publisher unsubscribe EMAIL` instead.
    """
    from .store import subscribers as subs

    def action() -> int:
        with _state(ctx) as state, state.transaction() as conn:
            removed = subs.remove(conn, email)
        ctx.say(f"Removed: {removed.email}.")
        return EXIT_OK

    _run(ctx, action)


@subscribers.command("list")
@click.option(
    "--status",
    type=click.Choice(["active", "unsubscribed", "bounced"]),
    help="Only subscribers with this status.",
)
@click.pass_obj
def list_command(ctx: Context, status: str | None) -> None:
    """List subscribers with their status."""
    from .store import subscribers as subs

    def action() -> int:
        with _state(ctx) as state:
            rows = subs.listing(state.conn, cast(subs.Status | None, status))
            counts = subs.counts(state.conn)
        width = max((len(s.email) for s in rows), default=5)
        for s in rows:
            click.echo(f"{s.email:<{width}}  {s.status:<12}  {s.name}".rstrip())
        ctx.say(
            ", ".join(f"{n} {label}" for label, n in counts.items()) + ".", err=True
        )
        return EXIT_OK

    _run(ctx, action)


@subscribers.command("import")
@click.argument("file", type=click.Path(path_type=Path, dir_okay=False, exists=True))
@NOW_OPTION
@click.pass_obj
def import_command(ctx: Context, file: Path, now_text: str | None) -> None:
    """Import a CSV file with columns email,name,status (header row optional).

    Bad lines are reported by line number and the rest still import.
    Addresses already on the list are left as they are.
    """
    from .store import subscribers as subs

    def action() -> int:
        with _state(ctx) as state, state.transaction() as conn:
            result = subs.import_csv(conn, file, _parse_now(now_text))
        for problem in result.problems:
            click.echo(f"error: {problem}", err=True)
        ctx.say(
            f"Imported {file.name}: {result.added} added, {result.unchanged} already on the "
            f"list, {len(result.problems)} refused."
        )
        return EXIT_SKIPPED if result.problems else EXIT_OK

    _run(ctx, action)


@subscribers.command("export")
@click.option(
    "--output", "-o", type=click.Path(path_type=Path, dir_okay=False),
    help="Write the CSV to this file instead of standard output.",
)
@click.pass_obj
def export_command(ctx: Context, output: Path | None) -> None:
    """Write the list as CSV (email,name,status) with a header row."""
    from .files import write_atomic
    from .store import subscribers as subs

    def action() -> int:
        with _state(ctx) as state:
            text = subs.export_csv(state.conn)
        if output is None:
            click.echo(text, nl=False)
        else:
            # Addresses are personal data: readable by us only.
            write_atomic(output, text.encode("utf-8"), mode=0o600)
        return EXIT_OK

    _run(ctx, action)


@cli.command()
@click.argument("email_or_token")
@NOW_OPTION
@click.pass_obj
def unsubscribe(ctx: Context, email_or_token: str, now_text: str | None) -> None:
    """Unsubscribe by address, or by the token (or whole link) from a message.

    The address is kept, marked unsubscribed, so it is never mailed again and
    no import can quietly add it back. Verifying a token needs PUBLISHER_SECRET.
    """
    from .mail import tokens
    from .store import subscribers as subs

    def action() -> int:
        if "@" in email_or_token and "://" not in email_or_token:
            key = subs.email_key(subs.normalise(email_or_token))
        else:
            key = tokens.verify(tokens.secret_from_env(), email_or_token)
        with _state(ctx) as state, state.transaction() as conn:
            subscriber = subs.unsubscribe_key(conn, key, _parse_now(now_text))
        if subscriber.status == "unsubscribed":
            ctx.say(f"Already unsubscribed: {subscriber.email}.")
        else:
            ctx.say(f"Unsubscribed: {subscriber.email}.")
        return EXIT_OK

    _run(ctx, action)


@cli.command()
@NOW_OPTION
@click.pass_obj
def send(ctx: Context, now_text: str | None) -> None:
    """Deliver every issued digest that still has pending recipients.

    Each message is recorded as sent as soon as it is accepted, so running
    this again (after a crash, or from cron) never mails anyone twice.
    """
    from .mail.delivery import send as run_send

    def action() -> int:
        summary = run_send(ctx.config, _parse_now(now_text), tty_progress(ctx))
        ctx.say(summary.line())
        return EXIT_OK

    _run(ctx, action)


def send_test(ctx: Context, address: str, now: datetime) -> int:
    """`digest --test-to`: one copy of the next digest (else the last one), nothing recorded."""
    from .mail.delivery import send_test as run_send_test
    from .pipeline import preview

    config = ctx.config
    site, letter = preview(config, now)
    for problem in site.problems:
        ctx.say(str(problem), err=True)
    if letter is not None:
        subject, html, text = letter.subject, letter.html, letter.text
        which = "the next digest"
    else:
        with _state(ctx) as state:
            record = state.last_digest()
        if record is None:
            click.echo("No new posts and no digest issued yet: nothing to send.", err=True)
            return EXIT_OK
        subject, html, text = record.subject, record.html, record.text
        which = f"digest {record.slug} (no new posts for a next one)"
    where = run_send_test(config, address, subject, html, text, now)
    ctx.say(f"Test copy of {which} sent to {address} via {where}; nothing recorded.")
    return EXIT_OK
