"""`publish` and `build`: the pipeline (`app.pipeline`), then its report."""

from __future__ import annotations

import click

from ..app.pipeline import publish as run_publish
from ..app.remember import remember
from ..report import publish_lines
from .common import (
    DRAFTS_OPTION,
    NOW_OPTION,
    Context,
    parse_now,
    progress,
    run_action,
    show_error,
    site_lock,
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
