"""`publish`, `build`, `digest` and `check`: the site's own commands."""

from __future__ import annotations

from datetime import datetime
from pathlib import Path

import click

from ..errors import ContentError, ExitCode, PublisherError
from ..model import Problem
from ..report import archive_lines, skipped_note, summary_lines, warning_lines
from .common import (
    NOW_OPTION,
    Context,
    parse_now,
    progress,
    run_action,
    show_error,
    site_lock,
    state_store,
)


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
        now = parse_now(now_text)
        with site_lock(ctx, purpose):
            result = run_publish(
                ctx.config,
                now,
                include_future=future,
                with_digest=with_digest,
                progress=progress(ctx, "Sending") if with_digest else None,
            )
        for problem in result.summary.problems:
            ctx.say(str(problem), err=True)
        for line in summary_lines(result, ctx.config):
            ctx.say(line)
        # On stderr, so even `--quiet` under cron says which posts are not mailed.
        for line in archive_lines(result.archived, ctx.config, now):
            ctx.say(f"note: {line}", err=True)
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
@click.option(
    "--include",
    "include",
    metavar="FILE",
    multiple=True,
    type=click.Path(path_type=Path, dir_okay=False),
    help="Put this post into the next digest, even if it was set aside as an archive "
    "import (repeatable).",
)
@NOW_OPTION
@click.pass_obj
def digest(
    ctx: Context,
    preview: bool,
    fmt: str,
    output: Path | None,
    test_to: str | None,
    include: tuple[Path, ...],
    now_text: str | None,
) -> None:
    """Work with the next digest.

    With --preview, render the digest that the next `publish` would issue and
    print it (or write it with --output); nothing is recorded or sent; posts
    it leaves out as archive imports are named on stderr.
    With --test-to, mail one copy through the configured transport.
    With --include FILE, put that post into the next digest.
    """
    from ..newsletter import public_copy
    from ..pipeline import next_selection
    from ..pipeline import preview as run_preview

    if not (preview or test_to or include):
        raise click.UsageError("say what to do: --preview, --test-to ADDRESS or --include FILE")
    if include and (preview or test_to):
        raise click.UsageError("--include records a choice: run it on its own, then preview")
    if include:
        run_action(ctx, lambda: _include(ctx, include, parse_now(now_text)))
    if test_to:
        from .send import send_test

        run_action(ctx, lambda: send_test(ctx, test_to, parse_now(now_text)))

    def action() -> int:
        now = parse_now(now_text)
        site, letter = run_preview(ctx.config, now)
        for problem in site.problems:
            ctx.say(str(problem), err=True)
        _, selection = next_selection(ctx.config, now)
        for line in archive_lines(selection.archived, ctx.config, now):
            ctx.say(f"note: {line}", err=True)
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


def _include(ctx: Context, files: tuple[Path, ...], now: datetime) -> int:
    """`digest --include FILE`: mark each post pending for the next digest."""
    from ..cache import RunGuard
    from ..pipeline import load
    from ..store import seen

    config = ctx.config
    site = load(config, now, include_future=True)
    by_path = {Path(p.path).resolve(): p for p in site.posts}
    posts = []
    for file in files:
        post = None
        for candidate in (file, config.posts_dir / file, config.root / file):
            post = by_path.get(candidate.resolve())
            if post is not None:
                break
        if post is None:
            raise ContentError(
                f"{file}: not a published post under {config.posts_dir}",
                hint="give the post's file, as `publish` and `check` name it; a draft or a "
                "post with `published: false` cannot be mailed",
            )
        posts.append(post)
    with state_store(ctx) as state:
        for post in posts:
            done = state.conn.execute(
                "SELECT d.slug FROM digest_posts p JOIN digests d ON d.id = p.digest_id "
                "WHERE p.post_key = ? ORDER BY d.id LIMIT 1",
                (post.key,),
            ).fetchone()
            if done is not None:
                raise ContentError(
                    f"{post.name}: already mailed in digest {done[0]}",
                    hint="a post goes into one digest only; nothing was changed",
                )
        with state.transaction() as conn:
            changed = [seen.include(conn, post, now) for post in posts]
    # The unchanged-run shortcut would otherwise replay "no new posts".
    RunGuard.forget(config)
    for post, did in zip(posts, changed, strict=True):
        when = "" if post.date <= now else f" (once it is due, {post.date:%Y-%m-%d %H:%M} UTC)"
        state_word = "will go" if did else "was already going"
        ctx.say(f"{post.name} {state_word} into the next digest{when}.")
    return ExitCode.OK


@click.command()
@click.option("--strict", is_flag=True, help="Treat warnings as errors.")
@NOW_OPTION
@click.pass_obj
def check(ctx: Context, strict: bool, now_text: str | None) -> None:
    """Validate the configuration and every post; list every problem.

    Exits non-zero if any post has an error (or a warning, with --strict).
    Also renders every post, so Markdown or HTML that breaks shows up here.
    """
    from ..pipeline import load, next_selection
    from ..render import render

    def action() -> int:
        config = ctx.config
        now = parse_now(now_text)
        from ..settings_rules import mail_problems, raise_problems, schedule_problems

        # Every problem at once, each naming its key; mail only once it is set up.
        settings = schedule_problems(config)
        if config.delivery.sender or config.delivery.unsubscribe_url:
            settings += mail_problems(config)
        raise_problems(settings)
        site = load(config, now, include_future=True)
        problems = list(site.problems)
        for post in site.posts:
            try:
                render(post)
            except PublisherError as exc:
                problems.append(Problem(post.name, f"cannot render: {exc}"))
        for problem in problems:
            click.echo(str(problem), err=True)
        # Posts the next digest leaves out: a warning for the ones the next run
        # will set aside (still time to fix a date), a note for those already set.
        _, selection = next_selection(config, now, site)
        # (The very first run setting old posts aside is expected: a note.)
        late = [a for a in selection.archived if not a.recorded and not a.first_run]
        coming = archive_lines(late, config, now)
        for line in coming:
            click.echo(f"warning: {line}", err=True)
        rest = [a for a in selection.archived if a not in late]
        for line in archive_lines(rest, config, now):
            click.echo(f"note: {line}", err=True)
        errors = sum(1 for p in problems if p.severity == "error")
        warnings = len(problems) - errors + len(coming)
        ctx.say(
            f"Checked {config.file.name} and {site.files_read} files: {len(site.posts)} posts, "
            f"{errors} errors, {warnings} warnings."
        )
        if errors or (strict and warnings):
            return ExitCode.ERROR
        return ExitCode.OK

    run_action(ctx, action)
