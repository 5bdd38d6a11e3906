"""The command line: `publisher` and its commands.

Each command group lives in its own module and is registered here, by name:
`publish` (publish, build, digest, check), `feeds` (the feed list and
autodiscovery tags), `subscribers` (the list and unsubscribe), `send` (delivery),
`service` (run), `web` (serve), `bounces` (reading bounce reports). They share `common`.
"""

from __future__ import annotations

import logging
from pathlib import Path

import click

from .. import __version__
from . import bounces, feeds, publish, send, service, subscribers, web
from .common import EXIT_CODES_HELP, Context


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
@click.option(
    "--jekyll-config",
    metavar="FILES",
    multiple=True,
    help="The Jekyll _config files to read, comma-separated, as `jekyll build --config` "
    "(default: _config.yml).",
)
@click.option("-v", "--verbose", count=True, help="More detail; tracebacks on errors.")
@click.option("-q", "--quiet", is_flag=True, help="Only warnings and errors.")
@click.version_option(__version__, prog_name="publisher")
@click.pass_context
def cli(
    ctx: click.Context,
    config_path: Path | None,
    jekyll_config: tuple[str, ...],
    verbose: int,
    quiet: bool,
) -> None:
    """Publish Atom and RSS feeds and an email digest from a folder of posts.

    Posts are Markdown, text or HTML files with Jekyll-style YAML front matter.
    Run in a Jekyll site (or set [jekyll] site) to publish it as Jekyll and
    jekyll-feed would, from its _config.yml.
    Feeds and the public copy of each digest go to out/; private state
    (subscribers, what was sent) stays in the state folder.
    """
    level = logging.WARNING
    if verbose == 1:
        level = logging.INFO
    elif verbose >= 2:
        level = logging.DEBUG
    logging.basicConfig(level=level, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    ctx.obj = Context(config_path, verbose, quiet, jekyll_config)


for command in (
    publish.publish,
    publish.build,
    publish.digest,
    publish.check,
    feeds.feeds,
    send.send,
    bounces.bounces,
    subscribers.subscribers,
    subscribers.unsubscribe,
    service.run,
    web.serve,
):
    cli.add_command(command)


def main() -> None:
    cli(prog_name="publisher")
