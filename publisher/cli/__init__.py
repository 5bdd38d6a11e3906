"""The command line: `publisher` and its commands.

Each command lives in a module of its own, imported when the command runs
(`Commands`, the one lazy import of the CLI), so each module imports the
`app/` work it calls at its top and `publisher publish` loads no other
command's: `publish` (publish, build), `digest`, `check`, `feeds` (the feed
list and autodiscovery tags), `subscribers` (the list and unsubscribe), `send`
(delivery), `service` (run), `web` (serve), `bounces` (reading bounce
reports). They share `common`.
"""

from __future__ import annotations

import importlib
import logging
from pathlib import Path

import click

from .. import __version__
from .common import EXIT_CODES_HELP, Context

# Each command's name: its module here and the function that is the command.
COMMANDS = {
    "publish": ("publish", "publish"),
    "build": ("publish", "build"),
    "digest": ("digest", "digest"),
    "check": ("check", "check"),
    "feeds": ("feeds", "feeds"),
    "send": ("send", "send"),
    "bounces": ("bounces", "bounces"),
    "subscribers": ("subscribers", "subscribers"),
    "unsubscribe": ("subscribers", "unsubscribe"),
    "run": ("service", "run"),
    "serve": ("web", "serve"),
}


class Commands(click.Group):
    """The commands of `COMMANDS`, each module imported on first use (click's
    "lazily loading subcommands"): a nothing-changed `publisher publish`, which
    the run guard answers after this short load, imports neither the web server
    nor the scheduler nor the subscriber list's code. `--help` imports them all."""

    def list_commands(self, ctx: click.Context) -> list[str]:
        return sorted(COMMANDS)

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        where = COMMANDS.get(cmd_name)
        if where is None:
            return None
        module, name = where
        command = getattr(importlib.import_module(f"{__name__}.{module}"), name)
        assert isinstance(command, click.Command)
        return command

    def resolve_command(
        self, ctx: click.Context, args: list[str]
    ) -> tuple[str | None, click.Command | None, list[str]]:
        try:
            return super().resolve_command(ctx, args)
        except click.exceptions.NoSuchCommand as exc:
            # "Did you mean ...?" from every command, not only those imported so far.
            raise click.exceptions.NoSuchCommand(
                exc.command_name, possibilities=COMMANDS, ctx=ctx
            ) from None


@click.group(
    cls=Commands,
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


def main() -> None:
    cli(prog_name="publisher")
