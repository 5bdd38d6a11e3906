"""`publish`, `build`, `digest` and `check`: the site's own commands."""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import replace
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING

import click

from ..errors import ConfigError, ContentError, ExitCode, PublisherError
from ..model import Post, Problem, Site
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

if TYPE_CHECKING:
    from ..config.settings import Config
    from ..incremental.shortcut import Line
    from ..migration import Comparison
    from ..pipeline import PublishResult

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
        now = parse_now(now_text)
        with site_lock(ctx, purpose):
            result = run_publish(
                ctx.config,
                now,
                include_future=future,
                with_digest=with_digest,
                progress=progress(ctx, "Sending") if with_digest else None,
            )
            lines = _report(ctx, result, now)
            # Under the lock: no other run can change what it records meanwhile.
            _remember(ctx, result, (future, with_digest), lines)
        for to_stderr, text in lines:
            ctx.say(f"Done in {result.seconds:.2f} s." if text is None else text, err=to_stderr)
        if result.delivery_error is not None:
            show_error(ctx, result.delivery_error)
        return result.exit_code

    run_action(ctx, action)


def _report(ctx: Context, result: PublishResult, now: datetime) -> list[Line]:
    """What publish prints, in order, as (to stderr, text); the text of the
    "Done in" line, which changes every run, is None."""
    lines: list[Line] = [(True, str(problem)) for problem in result.summary.problems]
    summary = summary_lines(result, ctx.config)
    lines += [(False, line) for line in summary[:-1]]
    lines.append((False, None))
    # On stderr, so even `--quiet` under cron says which posts are not mailed.
    lines += [(True, f"note: {line}") for line in archive_lines(result.archived, ctx.config, now)]
    lines += [(True, line) for line in warning_lines(result)]
    note = skipped_note(result)
    if note:
        lines.append((True, note))
    return lines


def _remember(
    ctx: Context, result: PublishResult, mode: tuple[bool, bool], lines: list[Line]
) -> None:
    """After a run the guard replayed: let the next identical command answer
    from `shortcut` without loading anything. Only for a publisher.toml site
    (a Jekyll site's settings come from many files) and a run that sent nothing."""
    import os
    import tomllib

    from ..config import settings as config_mod
    from ..incremental import shortcut

    config = ctx.config
    watched = result.watched
    if (
        watched is None
        or result.delivery is not None
        or result.delivery_error is not None
        or config.jekyll_site is not None
        or ctx.drafts
        or ctx.jekyll_config
    ):
        return
    try:
        data = config.file.read_bytes()
        # Record these bytes only if they are what this run ran with.
        if config_mod.from_dict(tomllib.loads(data.decode("utf-8")), config.file) != config:
            return
    except (OSError, ValueError, PublisherError):
        return
    shortcut.remember(
        str(config.state_dir),
        config_path=os.path.abspath(ctx.config_path or config_mod.DEFAULT_FILE),
        config_bytes=data,
        mode=mode,
        files=watched.files,
        folders=watched.folders,
        posts=watched.posts,
        due=result.summary.next_due,
        lines=lines,
        code=int(result.exit_code),
        observed_ns=watched.observed_ns,
    )


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
    from ..digest.letter import public_copy
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
    from ..incremental.cache import RunGuard
    from ..pipeline import load

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
            done = state.digests.first_with(post.key)
            if done is not None:
                raise ContentError(
                    f"{post.name}: already mailed in digest {done}",
                    hint="a post goes into one digest only; nothing was changed",
                )
        with state.transaction():
            changed = [state.seen.include(post, now) for post in posts]
    # The unchanged-run shortcut would otherwise replay "no new posts".
    RunGuard.forget(config)
    for post, did in zip(posts, changed, strict=True):
        when = "" if post.date <= now else f" (once it is due, {post.date:%Y-%m-%d %H:%M} UTC)"
        state_word = "will go" if did else "was already going"
        ctx.say(f"{post.name} {state_word} into the next digest{when}.")
    return ExitCode.OK


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
    from ..pipeline import load, next_selection, renderer_for

    ctx.drafts = drafts

    def action() -> int:
        config = ctx.config
        now = parse_now(now_text)
        from ..config.rules import raise_problems
        from ..mail.ready import check_problems, listed

        # Every problem at once, each naming its key; mail once it is set up or
        # someone is on the list (`publisher run` refuses to start on the same).
        raise_problems(check_problems(config, listed(config.state_file)))
        site = load(config, now, include_future=True)
        # A file that looks like a post but is not read as one is a warning for
        # a run (the others publish) and an error here: a site whose posts all
        # vanished must not pass `check`.
        problems = [
            replace(p, severity="error") if p.unread else p for p in site.problems
        ]
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
        warnings += comparison.differences if comparison else 0
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
    from ..content.posts import read_body

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
