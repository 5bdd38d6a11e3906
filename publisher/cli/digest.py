"""`digest`: preview the next digest, mail a test copy, or put a post into it."""

from __future__ import annotations

from datetime import datetime
from pathlib import Path

import click

from ..app.digest import include, public_body, send_test
from ..app.digest import preview as run_preview
from ..app.site import next_selection
from ..errors import ExitCode
from ..report import archive_lines
from .common import NOW_OPTION, Context, parse_now, run_action


@click.command()
@click.option("--preview", is_flag=True, help="Render the next digest without recording it.")
@click.option(
    "--format",
    "fmt",
    type=click.Choice(["html", "text"]),
    default="html",
    show_default=True,
    help="Which part to print with --preview.",
)
@click.option(
    "--output",
    "-o",
    type=click.Path(path_type=Path, dir_okay=False),
    help="Write the preview to this file instead of standard output.",
)
@click.option(
    "--test-to",
    metavar="ADDRESS",
    help="Send one copy of the next digest to ADDRESS; nothing is recorded.",
)
@click.option(
    "--include",
    "include",
    metavar="FILE",
    multiple=True,
    type=click.Path(path_type=Path, dir_okay=False),
    help="Put this post into the next digest, even if it was set aside as an archive "
    "import (repeatable).",
)
@NOW_OPTION
@click.pass_obj
def digest(
    ctx: Context,
    preview: bool,
    fmt: str,
    output: Path | None,
    test_to: str | None,
    include: tuple[Path, ...],
    now_text: str | None,
) -> None:
    """Work with the next digest.

    With --preview, render the digest that the next `publish` would issue and
    print it (or write it with --output); nothing is recorded or sent; posts
    it leaves out as archive imports are named on stderr.
    With --test-to, mail one copy through the configured transport.
    With --include FILE, put that post into the next digest.
    """
    if not (preview or test_to or include):
        raise click.UsageError("say what to do: --preview, --test-to ADDRESS or --include FILE")
    if include and (preview or test_to):
        raise click.UsageError("--include records a choice: run it on its own, then preview")
    if include:
        run_action(ctx, lambda: _include(ctx, include, parse_now(now_text)))
    if test_to:
        run_action(ctx, lambda: _send_test(ctx, test_to, parse_now(now_text)))

    def action() -> int:
        now = parse_now(now_text)
        site, letter = run_preview(ctx.config, now)
        for problem in site.problems:
            ctx.say(str(problem), err=True)
        _, selection = next_selection(ctx.config, now)
        for line in archive_lines(selection.archived, ctx.config, now):
            ctx.say(f"note: {line}", err=True)
        if letter is None:
            click.echo("No new posts: the next digest would be empty.", err=True)
            return ExitCode.OK
        body = public_body(ctx.config, letter, fmt)
        if output is not None:
            output.write_text(body, encoding="utf-8")
            click.echo(
                f"Preview of {len(letter.posts)} posts ({letter.subject!r}) written to {output}",
                err=True,
            )
        else:
            click.echo(body)
        return ExitCode.OK

    run_action(ctx, action)


def _include(ctx: Context, files: tuple[Path, ...], now: datetime) -> int:
    """`digest --include FILE`: mark each post pending for the next digest."""
    for done in include(ctx.config, now, files):
        post = done.post
        when = "" if post.date <= now else f" (once it is due, {post.date:%Y-%m-%d %H:%M} UTC)"
        state_word = "will go" if done.changed else "was already going"
        ctx.say(f"{post.name} {state_word} into the next digest{when}.")
    return ExitCode.OK


def _send_test(ctx: Context, address: str, now: datetime) -> int:
    """`digest --test-to`: one copy of the next digest (else the last one), nothing recorded."""
    site, letter = run_preview(ctx.config, now)
    for problem in site.problems:
        ctx.say(str(problem), err=True)
    sent = send_test(ctx.config, address, now, letter)
    if not sent.which:
        click.echo("No new posts and no digest issued yet: nothing to send.", err=True)
        return ExitCode.OK
    ctx.say(f"Test copy of {sent.which} sent to {address} via {sent.where}; nothing recorded.")
    return ExitCode.OK
