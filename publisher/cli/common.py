"""What every command shares: the context object, `--now` and `--drafts`, the
error edge, the site lock, the progress bar and a service's log levels.

Commands only parse options, call library functions and report; a
PublisherError leaves here as one `error:` line plus a `hint:` line and its
exit code, with the traceback only under --verbose.
"""

from __future__ import annotations

import logging
import sys
import time
import traceback
from collections.abc import Callable
from contextlib import AbstractContextManager
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

import click

from ..app.loading import load_config
from ..errors import EXIT_MEANINGS, PublisherError
from ..lock import Holder
from ..lock import site_lock as take_lock
from ..report import as_publisher_error, error_lines

if TYPE_CHECKING:
    from pathlib import Path

    from ..config.settings import Config

EXIT_CODES_HELP = "\n\b\nExit status:\n" + "\n".join(
    f"  {int(code)}  {meaning}" for code, meaning in EXIT_MEANINGS.items()
)


class Context:
    """Options of the main group, and the configuration loaded on first use."""

    def __init__(
        self,
        config_path: Path | None,
        verbose: int,
        quiet: bool,
        jekyll_config: tuple[str, ...] = (),
    ) -> None:
        self.config_path = config_path
        self.verbose = verbose
        self.quiet = quiet
        self.jekyll_config = jekyll_config  # --jekyll-config: the _config files to read
        self.drafts = False  # --drafts: a command asks for the Jekyll site's _drafts too
        self._config: Config | None = None

    @property
    def config(self) -> Config:
        """publisher.toml, over the Jekyll site's _config.yml when there is one
        ([jekyll] site, or a Jekyll site folder without publisher.toml)."""
        if self._config is None:
            self._config = load_config(
                self.config_path, jekyll_config=self.jekyll_config, drafts=self.drafts
            )
        return self._config

    def say(self, message: str = "", err: bool = False) -> None:
        if not self.quiet or err:
            click.echo(message, err=err)


def parse_now(value: str | None) -> datetime:
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
DRAFTS_OPTION = click.option(
    "--drafts", is_flag=True, help="A Jekyll site: publish its _drafts too (as jekyll --drafts)."
)


def run_action(ctx: Context, action: Callable[[], int]) -> None:
    """Run a command body and exit with its status; the one place errors are caught."""
    try:
        code = action()
    except PublisherError as exc:
        show_error(ctx, exc)
        sys.exit(int(exc.exit_code))
    except Exception as exc:
        # A full disk or a read-only folder that no library code expected (an
        # OSError, the store's driver's own error, MemoryError); a bug re-raised.
        error = as_publisher_error(exc)
        if error is None:
            raise
        error.__cause__ = exc  # for the traceback under --verbose
        show_error(ctx, error)
        sys.exit(int(error.exit_code))
    sys.exit(int(code))


def show_error(ctx: Context, exc: PublisherError) -> None:
    if ctx.verbose:
        traceback.print_exception(exc)
    for line in error_lines(exc):
        click.echo(line, err=True)


def site_lock(ctx: Context, purpose: str) -> AbstractContextManager[object]:
    """The lock `publisher run` jobs take too; say so when we have to wait for it."""
    def waiting(holder: Holder) -> None:
        click.echo(
            f"Waiting for the site lock held by {holder} "
            f"(up to {ctx.config.schedule.lock_timeout:g} s)...",
            err=True,
        )

    return take_lock(ctx.config, purpose, on_wait=waiting)


class ProgressBar:
    """A (done, total) callback drawing click's progress bar with rate and ETA.

    The bar is made on the first call, when the total is known, and finished
    when done reaches it. A send that takes on a digest issued meanwhile
    raises the total: the bar grows, or a finished one is followed by another.
    """

    def __init__(self, label: str) -> None:
        self.label = label
        self.bar: Any = None
        self.done = 0
        self.finished = False
        self.started = time.monotonic()

    def __call__(self, done: int, total: int) -> None:
        if self.bar is not None and total > self.bar.length:
            if self.finished:
                self.bar = None
            else:
                self.bar.length = total
        if self.bar is None:
            self.done = 0
            self.finished = False
            self.started = time.monotonic()
            self.bar = click.progressbar(
                length=total,
                label=self.label,
                file=sys.stderr,
                show_pos=True,
                show_eta=True,
                bar_template="%(label)s [%(bar)s] %(info)s",
                item_show_func=lambda rate: rate,
            )
            self.bar.__enter__()
        elapsed = time.monotonic() - self.started
        rate = f"{done / elapsed:,.0f}/s" if elapsed > 0 and done else None
        self.bar.update(done - self.done, rate)
        self.done = done
        if done >= total and not self.finished:
            self.finished = True
            self.bar.__exit__(None, None, None)


def progress(ctx: Context, label: str) -> ProgressBar | None:
    """A progress bar on a terminal's stderr; None when piped or under -q."""
    if ctx.quiet or not sys.stderr.isatty():
        return None
    return ProgressBar(label)


def log_levels(verbose: int, quiet: bool) -> None:
    """A service speaks in log lines: one per event at the default level.

    -v adds detail from publisher itself, -vv the scheduler's own chatter.
    """
    ours = logging.WARNING if quiet else logging.DEBUG if verbose else logging.INFO
    logging.getLogger("publisher").setLevel(ours)
    logging.getLogger("apscheduler").setLevel(logging.DEBUG if verbose >= 2 else logging.WARNING)
