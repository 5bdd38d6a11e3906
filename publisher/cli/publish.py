"""`publish`, `build`, `digest` and `check`: the site's own commands."""

from __future__ import annotations

import re
from collections.abc import Sequence
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING

import click

from ..errors import ConfigError, ExitCode, PublisherError
from ..model import Post, Problem, Site

if TYPE_CHECKING:
    from ..config import Config
    from ..migration import Comparison
from ..report import skipped_note, summary_lines, warning_lines
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
    from ..pipeline import load, renderer_for

    ctx.drafts = drafts

    def action() -> int:
        config = ctx.config
        from ..settings_rules import mail_problems, raise_problems, schedule_problems

        # Every problem at once, each naming its key; mail only once it is set up.
        settings = schedule_problems(config)
        if config.delivery.sender or config.delivery.unsubscribe_url:
            settings += mail_problems(config)
        raise_problems(settings)
        now = parse_now(now_text)
        site = load(config, now, include_future=True)
        problems = list(site.problems)
        renderer = renderer_for(config, site, now)
        for post in site.posts:
            try:
                problems.extend(renderer([post])[0].problems)
            except PublisherError as exc:
                problems.append(Problem(post.name, f"cannot render: {exc}"))
        if config.jekyll_site is None:
            problems.extend(unrendered_liquid(site.posts))
        comparison = None
        if compare_with is not None:
            comparison = _compare(config, site, now, compare_with)
        for problem in sorted(problems, key=lambda p: (p.file, p.line or 0)):
            click.echo(str(problem), err=True)
        for post in site.skipped:
            ctx.say(f"{post.name}: not published: published: false or draft: true")
        for post in site.posts:
            if post.date > now:
                ctx.say(f"{post.name}: not published yet: dated {post.date:%Y-%m-%d %H:%M} UTC")
        if comparison is not None:
            for line in comparison.lines(compare_with.name if compare_with else ""):
                click.echo(line, err=bool(comparison.differences))
        errors = sum(1 for p in problems if p.severity == "error")
        warnings = len(problems) - errors + (comparison.differences if comparison else 0)
        ctx.say(
            f"Checked {config.file.name} and {site.files_read} files: {len(site.posts)} posts, "
            f"{errors} errors, {warnings} warnings."
        )
        if errors or (strict and warnings):
            return ExitCode.ERROR
        return ExitCode.OK

    run_action(ctx, action)


def unrendered_liquid(posts: Sequence[Post]) -> list[Problem]:
    """A warning for each post with Liquid (`{{ … }}`, `{% … %}`) that a plain posts
    folder publishes as text: it is a Jekyll post, and [jekyll] site renders it."""
    from ..posts import read_body

    found = []
    for post in posts:
        try:
            body = read_body(post)
        except PublisherError:
            continue
        match = LIQUID.search(body)
        if match is None:
            continue
        found.append(
            Problem(
                post.name,
                f"Liquid left unrendered ({match.group(0)[:40]!r} is published as text): "
                'a Jekyll post? Set [jekyll] site = "PATH" in publisher.toml to render it',
                severity="warning",
            )
        )
    return found


LIQUID = re.compile(r"\{\{.*?\}\}|\{%.*?%\}", re.S)


def _compare(config: Config, site: Site, now: datetime, feed: Path) -> Comparison:
    from ..migration import FeedUnreadable, compare, read_feed

    try:
        theirs = read_feed(feed.read_bytes())
    except (OSError, FeedUnreadable) as exc:
        raise ConfigError(
            f"--compare-with {feed}: cannot read it: {exc}",
            hint="give the Atom feed jekyll-feed wrote (_site/feed.xml after `jekyll build`)",
        ) from exc
    published = tuple(p for p in site.posts if p.date <= now)
    return compare(config, published, theirs)
