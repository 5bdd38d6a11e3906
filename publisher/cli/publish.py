"""`publish`, `build`, `digest` and `check`: the site's own commands."""

from __future__ import annotations

from pathlib import Path

import click

from ..errors import ExitCode, PublisherError
from ..model import Problem
from ..report import skipped_note, summary_lines, warning_lines
from .common import NOW_OPTION, Context, parse_now, progress, run_action, show_error, site_lock


@click.command()
@click.option("--future", is_flag=True, help="Include posts dated in the future.")
@click.option("--no-digest", is_flag=True, help="Build the feeds only; issue no digest.")
@NOW_OPTION
@click.pass_obj
def publish(ctx: Context, future: bool, no_digest: bool, now_text: str | None) -> None:
    """Build the feeds and issue a digest if there are new posts.

    Safe to run from cron every few minutes: unchanged feeds are not
    rewritten and a post is never put in two digests.
    """
    _publish_and_report(ctx, "publisher publish", future, not no_digest, now_text)


@click.command()
@click.option("--future", is_flag=True, help="Include posts dated in the future.")
@NOW_OPTION
@click.pass_obj
def build(ctx: Context, future: bool, now_text: str | None) -> None:
    """Build the Atom and RSS feeds only (the same as `publish --no-digest`)."""
    _publish_and_report(ctx, "publisher build", future, False, now_text)


def _publish_and_report(
    ctx: Context, purpose: str, future: bool, with_digest: bool, now_text: str | None
) -> None:
    from ..pipeline import publish as run_publish

    def action() -> int:
        with site_lock(ctx, purpose):
            result = run_publish(
                ctx.config,
                parse_now(now_text),
                include_future=future,
                with_digest=with_digest,
                progress=progress(ctx, "Sending") if with_digest else None,
            )
        for problem in result.summary.problems:
            ctx.say(str(problem), err=True)
        for line in summary_lines(result, ctx.config):
            ctx.say(line)
        for line in warning_lines(result):
            ctx.say(line, err=True)
        if result.delivery_error is not None:
            show_error(ctx, result.delivery_error)
        note = skipped_note(result)
        if note:
            ctx.say(note, err=True)
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
@NOW_OPTION
@click.pass_obj
def digest(
    ctx: Context,
    preview: bool,
    fmt: str,
    output: Path | None,
    test_to: str | None,
    now_text: str | None,
) -> None:
    """Work with the next digest.

    With --preview, render the digest that the next `publish` would issue and
    print it (or write it with --output); nothing is recorded or sent.
    With --test-to, mail one copy through the configured transport.
    """
    from ..newsletter import public_copy
    from ..pipeline import preview as run_preview

    if test_to:
        from .send import send_test

        run_action(ctx, lambda: send_test(ctx, test_to, parse_now(now_text)))
    if not preview:
        raise click.UsageError("say what to do: --preview or --test-to ADDRESS")

    def action() -> int:
        site, letter = run_preview(ctx.config, parse_now(now_text))
        for problem in site.problems:
            ctx.say(str(problem), err=True)
        if letter is None:
            click.echo("No new posts: the next digest would be empty.", err=True)
            return ExitCode.OK
        html, text = public_copy(ctx.config, letter.html, letter.text)
        body = html if fmt == "html" else text
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


@click.command()
@click.option("--strict", is_flag=True, help="Treat warnings as errors.")
@NOW_OPTION
@click.pass_obj
def check(ctx: Context, strict: bool, now_text: str | None) -> None:
    """Validate the configuration and every post; list every problem.

    Exits non-zero if any post has an error (or a warning, with --strict).
    Also renders every post, so Markdown or HTML that breaks shows up here.
    """
    from ..pipeline import load
    from ..render import render

    def action() -> int:
        config = ctx.config
        from ..settings_rules import mail_problems, raise_problems, schedule_problems

        # Every problem at once, each naming its key; mail only once it is set up.
        settings = schedule_problems(config)
        if config.delivery.sender or config.delivery.unsubscribe_url:
            settings += mail_problems(config)
        raise_problems(settings)
        site = load(config, parse_now(now_text), include_future=True)
        problems = list(site.problems)
        for post in site.posts:
            try:
                render(post, config.content.max_post_bytes)
            except PublisherError as exc:
                problems.append(Problem(post.name, f"cannot render: {exc}"))
        for problem in problems:
            click.echo(str(problem), err=True)
        errors = sum(1 for p in problems if p.severity == "error")
        warnings = len(problems) - errors
        ctx.say(
            f"Checked {config.file.name} and {site.files_read} files: {len(site.posts)} posts, "
            f"{errors} errors, {warnings} warnings."
        )
        if errors or (strict and warnings):
            return ExitCode.ERROR
        return ExitCode.OK

    run_action(ctx, action)
