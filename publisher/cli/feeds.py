"""`feeds`: list the site's feeds, or print their autodiscovery tags."""

from __future__ import annotations

import click

from ..errors import ExitCode
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
    from ..feeds.page import link_tags
    from ..feeds.plan import FORMAT_NAMES, plan
    from ..incremental.cache import PostCache, config_fingerprint
    from ..pipeline import load

    def action() -> int:
        config = ctx.config
        # Read through the post cache publish keeps (not saved: this command writes nothing).
        known = PostCache.load(config.state_dir, config_fingerprint(config))
        site = load(config, parse_now(now_text), include_future=future, post_cache=known)
        found = plan(config, site)
        for problem in found.problems:
            ctx.say(str(problem), err=True)
        if as_html:
            click.echo(link_tags(found.feeds), nl=False)
            return ExitCode.OK
        for feed in found.feeds:
            what = feed.kind if feed.kind == "main" else f"{feed.kind} {feed.name!r}"
            click.echo(
                f"{FORMAT_NAMES[feed.format]:<9}  {what}  {config.out_dir / feed.path}  "
                f"{feed.url}  ({len(feed.posts)} entries)"
            )
        return ExitCode.OK

    run_action(ctx, action)
