"""`feeds`: list the site's feeds, or print their autodiscovery tags."""

from __future__ import annotations

import click

from ..app.feeds import discovery_tags, feed_plan
from ..errors import ExitCode
from ..report import feed_list_lines
from .common import NOW_OPTION, Context, parse_now, run_action


@click.command()
@click.option(
    "--html",
    "as_html",
    is_flag=True,
    help='Print a <link rel="alternate"> tag per feed, for your site\'s <head>.',
)
@click.option("--future", is_flag=True, help="Include posts dated in the future.")
@NOW_OPTION
@click.pass_obj
def feeds(ctx: Context, as_html: bool, future: bool, now_text: str | None) -> None:
    """List every feed publish writes: format, kind, file and URL.

    The category and tag feeds depend on the posts, so the posts are read
    (nothing is written). With --html, print the autodiscovery tags instead:
    paste them into the <head> of your site's pages so browsers and readers
    find the feeds.
    """

    def action() -> int:
        config = ctx.config
        found = feed_plan(config, parse_now(now_text), include_future=future)
        for problem in found.problems:
            ctx.say(str(problem), err=True)
        if as_html:
            click.echo(discovery_tags(found), nl=False)
            return ExitCode.OK
        for line in feed_list_lines(found.feeds, config):
            click.echo(line)
        return ExitCode.OK

    run_action(ctx, action)
