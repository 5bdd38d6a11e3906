"""`publish`, `build`, `digest` and `check`: the site's own commands."""

from __future__ import annotations

from datetime import datetime
from pathlib import Path

import click

from ..errors import ExitCode
from ..report import archive_lines, check_lines, publish_lines
from .common import NOW_OPTION, Context, parse_now, progress, run_action, show_error, site_lock

DRAFTS_OPTION = click.option(
    "--drafts", is_flag=True, help="A Jekyll site: publish its _drafts too (as jekyll --drafts)."
)


@click.command()
@click.option("--future", is_flag=True, help="Include posts dated in the future.")
@click.option("--no-digest", is_flag=True, help="Build the feeds only; issue no digest.")
@DRAFTS_OPTION
@NOW_OPTION
@click.pass_obj
def publish(
    ctx: Context, future: bool, no_digest: bool, drafts: bool, now_text: str | None
) -> None:
    """Build the feeds and issue a digest if there are new posts.

    Safe to run from cron every few minutes: unchanged feeds are not
    rewritten and a post is never put in two digests.
    """
    ctx.drafts = drafts
    _publish_and_report(ctx, "publisher publish", future, not no_digest, now_text)


@click.command()
@click.option("--future", is_flag=True, help="Include posts dated in the future.")
@DRAFTS_OPTION
@NOW_OPTION
@click.pass_obj
def build(ctx: Context, future: bool, drafts: bool, now_text: str | None) -> None:
    """Build the Atom and RSS feeds only (the same as `publish --no-digest`)."""
    ctx.drafts = drafts
    _publish_and_report(ctx, "publisher build", future, False, now_text)


def _publish_and_report(
    ctx: Context, purpose: str, future: bool, with_digest: bool, now_text: str | None
) -> None:
    from ..app.pipeline import publish as run_publish
    from ..app.remember import remember

    def action() -> int:
        now = parse_now(now_text)
        with site_lock(ctx, purpose):
            result = run_publish(
                ctx.config,
                now,
                include_future=future,
                with_digest=with_digest,
                progress=progress(ctx, "Sending") if with_digest else None,
            )
            lines = publish_lines(result, ctx.config, now)
            # Under the lock: no other run can change what it records meanwhile.
            plain = not (ctx.drafts or ctx.jekyll_config)
            remember(ctx.config, result, (future, with_digest),
                     lambda replay: publish_lines(replay, ctx.config, now), ctx.config_path, plain)
        for to_stderr, text in lines:
            ctx.say(f"Done in {result.seconds:.2f} s." if text is None else text, err=to_stderr)
        if result.delivery_error is not None:
            show_error(ctx, result.delivery_error)
        return result.exit_code

    run_action(ctx, action)


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
    from ..app.digest import preview as run_preview
    from ..app.digest import public_body
    from ..app.site import next_selection

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
    from ..app.digest import include

    for done in include(ctx.config, now, files):
        post = done.post
        when = "" if post.date <= now else f" (once it is due, {post.date:%Y-%m-%d %H:%M} UTC)"
        state_word = "will go" if done.changed else "was already going"
        ctx.say(f"{post.name} {state_word} into the next digest{when}.")
    return ExitCode.OK


def _send_test(ctx: Context, address: str, now: datetime) -> int:
    """`digest --test-to`: one copy of the next digest (else the last one), nothing recorded."""
    from ..app.digest import preview, send_test

    site, letter = preview(ctx.config, now)
    for problem in site.problems:
        ctx.say(str(problem), err=True)
    sent = send_test(ctx.config, address, now, letter)
    if not sent.which:
        click.echo("No new posts and no digest issued yet: nothing to send.", err=True)
        return ExitCode.OK
    ctx.say(f"Test copy of {sent.which} sent to {address} via {sent.where}; nothing recorded.")
    return ExitCode.OK


@click.command()
@click.option("--strict", is_flag=True, help="Treat warnings as errors.")
@click.option(
    "--compare-with",
    "compare_with",
    type=click.Path(path_type=Path, dir_okay=False, exists=True),
    metavar="FEED.xml",
    help="A jekyll-feed feed (such as _site/feed.xml): report the entries whose id or "
    "link would change, and those added or removed.",
)
@DRAFTS_OPTION
@NOW_OPTION
@click.pass_obj
def check(
    ctx: Context, strict: bool, compare_with: Path | None, drafts: bool, now_text: str | None
) -> None:
    """Validate the configuration and every post; list every problem.

    Exits non-zero if any post has an error (or a warning, with --strict).
    Also renders every post, so Markdown, HTML or Liquid that breaks shows up
    here, and lists the posts not published and why. For a site moving from
    Jekyll, --compare-with its jekyll-feed feed is the migration report.
    """
    from ..app.check import check as run_check

    ctx.drafts = drafts

    def action() -> int:
        now = parse_now(now_text)
        result = run_check(ctx.config, now, compare_with)
        lines, warnings = check_lines(
            result, ctx.config, now, compare_with.name if compare_with else ""
        )
        for channel, text in lines:
            if channel == "say":
                ctx.say(text)
            else:
                click.echo(text, err=channel == "err")
        if result.errors or (strict and warnings):
            return ExitCode.ERROR
        return ExitCode.OK

    run_action(ctx, action)
