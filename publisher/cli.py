"""The command line: parse options, call the pipeline, report, pick an exit code.

Library errors arrive as PublisherError and leave as one readable line plus a
hint; the traceback is shown only with --verbose.
"""

from __future__ import annotations

import logging
import sys
import traceback
from collections.abc import Callable, Iterable
from contextlib import AbstractContextManager
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, TypeVar

import click

from . import __version__
from .config import Config
from .errors import PublisherError
from .model import Problem
from .pipeline import EXIT_BUSY, EXIT_ERROR, EXIT_OK, EXIT_SKIPPED, PublishResult

F = TypeVar("F", bound=Callable[..., Any])

EXIT_CODES_HELP = f"""
\b
Exit status:
  {EXIT_OK}  everything published
  {EXIT_ERROR}  error (nothing was published; the message says why)
  2  bad command-line usage
  {EXIT_SKIPPED}  published, but some posts were skipped for errors (listed above the summary)
  {EXIT_BUSY}  the site lock stayed busy past [schedule] lock_timeout, or another
     `publisher run` already serves this site
"""


class Context:
    def __init__(self, config_path: Path | None, verbose: int, quiet: bool) -> None:
        self.config_path = config_path
        self.verbose = verbose
        self.quiet = quiet
        self._config: Config | None = None

    @property
    def config(self) -> Config:
        if self._config is None:
            from .config import load

            self._config = load(self.config_path)
        return self._config

    def say(self, message: str = "", err: bool = False) -> None:
        if not self.quiet or err:
            click.echo(message, err=err)


def _parse_now(value: str | None) -> datetime:
    if not value:
        return datetime.now(UTC)
    try:
        parsed = datetime.fromisoformat(value)
    except ValueError as exc:
        raise click.BadParameter(f"not an ISO date-time: {value!r}") from exc
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)


NOW_OPTION = click.option(
    "--now",
    "now_text",
    metavar="DATETIME",
    hidden=True,
    help="Pretend the current time is DATETIME (ISO 8601); for testing.",
)


@click.group(
    context_settings={"help_option_names": ["-h", "--help"], "max_content_width": 100},
    epilog=EXIT_CODES_HELP,
)
@click.option(
    "--config",
    "-c",
    "config_path",
    type=click.Path(path_type=Path, dir_okay=False),
    help="Configuration file (default: ./publisher.toml).",
)
@click.option("-v", "--verbose", count=True, help="More detail; tracebacks on errors.")
@click.option("-q", "--quiet", is_flag=True, help="Only warnings and errors.")
@click.version_option(__version__, prog_name="publisher")
@click.pass_context
def cli(ctx: click.Context, config_path: Path | None, verbose: int, quiet: bool) -> None:
    """Publish Atom and RSS feeds and an email digest from a folder of posts.

    Posts are Markdown, text or HTML files with Jekyll-style YAML front matter.
    Feeds and the public copy of each digest go to out/; private state
    (subscribers, what was sent) stays in the state folder.
    """
    level = logging.WARNING
    if verbose == 1:
        level = logging.INFO
    elif verbose >= 2:
        level = logging.DEBUG
    logging.basicConfig(level=level, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    ctx.obj = Context(config_path, verbose, quiet)


def _report_problems(ctx: Context, problems: Iterable[Problem]) -> None:
    for problem in problems:
        ctx.say(str(problem), err=True)


def _summary(ctx: Context, result: PublishResult) -> None:
    site = result.summary
    errors = len(site.errors)
    parts = [f"{site.published} published"]
    if site.scheduled and site.next_due is not None:
        nxt = site.next_due.astimezone(ctx.config.tz)
        parts.append(f"{site.scheduled} scheduled (next {nxt:%Y-%m-%d %H:%M})")
    if site.hidden:
        parts.append(f"{site.hidden} drafts/unpublished")
    if errors:
        parts.append(f"{errors} skipped for errors")
    read = "files checked, none changed" if result.unchanged else "files read"
    ctx.say(f"Posts: {site.files_read} {read}; " + ", ".join(parts) + ".")
    for feed in result.feeds:
        state = "written" if feed.written else "unchanged"
        ctx.say(f"Feed: {feed.path} {state} ({feed.entries} entries).")
    if result.digest is not None:
        d = result.digest
        if d.record is None:
            ctx.say(f"Digest: none issued ({d.reason}).")
        else:
            more = f" and {d.more} more linked" if d.more else ""
            ctx.say(
                f"Digest: {d.record.slug} issued with {d.posts} posts{more}: "
                f"{ctx.config.out_dir / 'digest' / (d.record.slug + '.html')}"
            )
    if result.delivery is not None:
        ctx.say(result.delivery.line())
    ctx.say(f"Done in {result.seconds:.2f} s.")
    if result.delivery_error is not None:
        _show_error(ctx, result.delivery_error)
    if errors:
        ctx.say(
            f"{errors} post(s) were skipped; fix them and run again "
            f"(exit status {EXIT_SKIPPED}).",
            err=True,
        )


def _site_lock(ctx: Context, purpose: str) -> AbstractContextManager[object]:
    """The lock `publisher run` jobs take too; say so when we have to wait for it."""
    from .lock import Holder, site_lock

    def waiting(holder: Holder) -> None:
        click.echo(
            f"Waiting for the site lock held by {holder} "
            f"(up to {ctx.config.schedule.lock_timeout:g} s)...",
            err=True,
        )

    return site_lock(ctx.config, purpose, on_wait=waiting)


def _run(ctx: Context, action: Callable[[], int]) -> None:
    try:
        code = action()
    except PublisherError as exc:
        _show_error(ctx, exc)
        sys.exit(exc.exit_code)
    sys.exit(code)


def _show_error(ctx: Context, exc: PublisherError) -> None:
    if ctx.verbose:
        traceback.print_exception(exc)
    for line in exc.message.splitlines():
        click.echo(f"error: {line}", err=True)
    if exc.hint:
        click.echo(f"hint: {exc.hint}", err=True)


@cli.command()
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


@cli.command()
@click.option("--future", is_flag=True, help="Include posts dated in the future.")
@NOW_OPTION
@click.pass_obj
def build(ctx: Context, future: bool, now_text: str | None) -> None:
    """Build the Atom and RSS feeds only (the same as `publish --no-digest`)."""
    _publish_and_report(ctx, "publisher build", future, False, now_text)


def _publish_and_report(
    ctx: Context, purpose: str, future: bool, with_digest: bool, now_text: str | None
) -> None:
    from .cli_delivery import tty_progress
    from .pipeline import publish as run_publish

    def action() -> int:
        with _site_lock(ctx, purpose):
            result = run_publish(
                ctx.config,
                _parse_now(now_text),
                include_future=future,
                with_digest=with_digest,
                progress=tty_progress(ctx) if with_digest else None,
            )
        _report_problems(ctx, result.summary.problems)
        _summary(ctx, result)
        return result.exit_code

    _run(ctx, action)


@cli.command()
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
    from .newsletter import public_copy
    from .pipeline import preview as run_preview

    if test_to:
        from .cli_delivery import send_test

        _run(ctx, lambda: send_test(ctx, test_to, _parse_now(now_text)))
    if not preview:
        raise click.UsageError("say what to do: --preview or --test-to ADDRESS")

    def action() -> int:
        site, letter = run_preview(ctx.config, _parse_now(now_text))
        _report_problems(ctx, site.problems)
        if letter is None:
            click.echo("No new posts: the next digest would be empty.", err=True)
            return EXIT_OK
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
        return EXIT_OK

    _run(ctx, action)


@cli.command()
@click.option("--strict", is_flag=True, help="Treat warnings as errors.")
@NOW_OPTION
@click.pass_obj
def check(ctx: Context, strict: bool, now_text: str | None) -> None:
    """Validate the configuration and every post; list every problem.

    Exits non-zero if any post has an error (or a warning, with --strict).
    Also renders every post, so Markdown or HTML that breaks shows up here.
    """
    from .content import load_site
    from .render import render

    def action() -> int:
        config = ctx.config
        from .settings_rules import mail_problems, raise_problems, schedule_problems

        # Every problem at once, each naming its key; mail only once it is set up.
        settings = schedule_problems(config)
        if config.delivery.sender or config.delivery.unsubscribe_url:
            settings += mail_problems(config)
        raise_problems(settings)
        site = load_site(config, _parse_now(now_text), include_future=True)
        problems = list(site.problems)
        for post in site.posts:
            try:
                render(post)
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
            return EXIT_ERROR
        return EXIT_OK

    _run(ctx, action)


def main() -> None:
    cli(prog_name="publisher")


# Commands defined in other modules register themselves on `cli` when imported.
from . import cli_delivery, cli_schedule  # noqa: E402, F401
