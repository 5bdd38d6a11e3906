"""`check`: validate the configuration and every post (`app.check`), then report."""

from __future__ import annotations

from pathlib import Path

import click

from ..app.check import check as run_check
from ..errors import ExitCode
from ..report import check_lines
from .common import DRAFTS_OPTION, NOW_OPTION, Context, parse_now, run_action


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
