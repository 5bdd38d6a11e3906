"""Words for results and errors: the one place that formats them.

The command line prints these lines; `publisher run` logs them. Both read the
same result objects, so a run reads the same whichever way it was started.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from datetime import UTC, datetime, tzinfo
from pathlib import Path
from typing import TYPE_CHECKING, Literal

from .app.pipeline import FeedResult, PublishResult
from .config.settings import Config
from .errors import ExitCode, PublisherError
from .feeds.plan import FORMAT_NAMES, Feed
from .files import output_error
from .incremental.shortcut import Line
from .store.seen import Archived
from .store.state import driver_error

if TYPE_CHECKING:
    from .app.check import CheckResult
    from .store.mailqueue import Unconfirmed

KIND_NAMES = {"category": "Category", "tag": "Tag"}


def as_publisher_error(exc: BaseException) -> PublisherError | None:
    """A failure of the machine rather than of publisher, in words: the last
    net under the command line and the service's jobs, so that a full disk,
    a read-only folder or no memory never ends in a traceback. None for
    anything else (a bug, which deserves its traceback)."""
    stored = driver_error(exc)
    if stored is not None:
        return stored
    if isinstance(exc, OSError):
        where = Path(exc.filename) if exc.filename else Path(".")
        return output_error(where, exc, "cannot read or write")
    if isinstance(exc, MemoryError):
        return PublisherError(
            "out of memory", hint="free some memory, or run it on a machine with more"
        )
    return None


def error_lines(exc: PublisherError) -> list[str]:
    """`error: …` for each line of the message, then `hint: …` if there is one."""
    lines = [f"error: {line}" for line in exc.message.splitlines()]
    if exc.hint:
        lines.append(f"hint: {exc.hint}")
    return lines


def error_line(exc: PublisherError) -> str:
    """The error on one line, for a log: `message; more (hint)`."""
    hint = f" ({exc.hint})" if exc.hint else ""
    return "; ".join(exc.message.splitlines()) + hint


def summary_lines(result: PublishResult, config: Config) -> list[str]:
    """What a publish did, one line per step, ending with the time taken."""
    site = result.summary
    parts = [f"{site.published} published"]
    if site.scheduled and site.next_due is not None:
        nxt = site.next_due.astimezone(config.tz)
        parts.append(f"{site.scheduled} scheduled (next {nxt:%Y-%m-%d %H:%M})")
    if site.hidden:
        parts.append(f"{site.hidden} drafts/unpublished")
    if site.errors:
        parts.append(f"{len(site.errors)} skipped for errors")
    unread = sum(1 for p in site.problems if p.unread)
    if unread:
        parts.append(f"{unread} not read as posts")
    read = "files checked, none changed" if result.unchanged else "files read"
    lines = [f"Posts: {site.files_read} {read}; " + ", ".join(parts) + "."]
    lines.extend(feed_lines(result.feeds))
    if result.websub is not None:
        ping = result.websub
        total = len(ping.pinged) + len(ping.failed)
        lines.append(
            f"WebSub: {len(ping.pinged)} of {total} changed feeds announced to {ping.hub}."
        )
    if result.digest is not None:
        d = result.digest
        if d.record is None:
            lines.append(f"Digest: none issued ({d.reason}).")
        else:
            more = f" and {d.more} more linked" if d.more else ""
            # lazy: only after a digest was issued, so a replayed run never loads digest/
            from .digest.selection import digest_paths  # noqa: PLC0415

            public = digest_paths(config, d.record.slug)[0]
            lines.append(f"Digest: {d.record.slug} issued with {d.posts} posts{more}: {public}")
    if result.delivery is not None:
        lines.append(result.delivery.line())
    lines.append(f"Done in {result.seconds:.2f} s.")
    return lines


def publish_lines(result: PublishResult, config: Config, now: datetime) -> list[Line]:
    """What publish prints, in order, as (to stderr, text); the text of the
    "Done in" line, which changes every run, is None."""
    lines: list[Line] = [(True, str(problem)) for problem in result.summary.problems]
    summary = summary_lines(result, config)
    lines += [(False, line) for line in summary[:-1]]
    lines.append((False, None))
    # On stderr, so even `--quiet` under cron says which posts are not mailed.
    lines += [(True, f"note: {line}") for line in archive_lines(result.archived, config, now)]
    lines += [(True, line) for line in warning_lines(result)]
    note = skipped_note(result)
    if note:
        lines.append((True, note))
    return lines


def feed_lines(feeds: tuple[FeedResult, ...]) -> list[str]:
    """A line per main feed and for the page; one per kind for the (many)
    category and tag feeds, with counts."""
    lines = []
    for feed in feeds:
        state = "written" if feed.written else "unchanged"
        if feed.kind == "main":
            lines.append(f"Feed: {feed.path} {state} ({feed.entries} entries).")
        elif feed.kind == "page":
            lines.append(f"Feed page: {feed.path} {state} ({feed.entries} feeds listed).")
    for kind, label in KIND_NAMES.items():
        group = [f for f in feeds if f.kind == kind]
        if group:
            written = sum(f.written for f in group)
            folder = group[0].path.parent
            lines.append(
                f"{label} feeds: {len(group)} in {folder}/: "
                f"{written} written, {len(group) - written} unchanged."
            )
    return lines


def feed_list_lines(feeds: Sequence[Feed], config: Config) -> list[str]:
    """`publisher feeds`: format, kind, file, URL and entries of each feed."""
    lines = []
    for feed in feeds:
        what = feed.kind if feed.kind == "main" else f"{feed.kind} {feed.name!r}"
        lines.append(
            f"{FORMAT_NAMES[feed.format]:<9}  {what}  {config.out_dir / feed.path}  "
            f"{feed.url}  ({len(feed.posts)} entries)"
        )
    return lines


def warning_lines(result: PublishResult) -> list[str]:
    """Warnings about the run that are no post's fault (the WebSub hub), for stderr."""
    if result.websub is None:
        return []
    return [f"warning: {text}" for text in result.websub.warnings]


def skipped_note(result: PublishResult) -> str:
    """The closing warning when posts were skipped, or ""."""
    errors = len(result.summary.errors)
    if not errors:
        return ""
    return (
        f"{errors} post(s) were skipped; fix them and run again "
        f"(exit status {int(ExitCode.SKIPPED)})."
    )


def rebuild_line(result: PublishResult) -> str:
    """The service's one log line per rebuild. Log watchers count this wording."""
    site = result.summary
    feeds = ", ".join(
        f"{f.name} {'written' if f.written else 'unchanged'}"
        for f in result.feeds
        if f.kind in ("main", "page")
    )
    for kind in KIND_NAMES:
        group = [f for f in result.feeds if f.kind == kind]
        if group:
            feeds += f", {len(group)} {kind} feeds ({sum(f.written for f in group)} written)"
    return (
        f"rebuilt feeds in {round(result.seconds * 1000)} ms: {site.published} posts, "
        f"{site.scheduled} scheduled, {len(site.errors)} errors; {feeds}"
    )


# Up to this many archive imports are named one per line; more are one line.
ARCHIVE_NAMED = 3


def archive_lines(archived: Sequence[Archived], config: Config, now: datetime) -> list[str]:
    """Why posts are not mailed, by name: each archive import, or one line for many.

    A post set aside silently would look like a digest that lost it.
    """
    if not archived:
        return []
    fix = "set [digest] backdated_days or run `publisher digest --include {file}`"
    if len(archived) <= ARCHIVE_NAMED:
        lines = []
        for item in archived:
            path = include_path(config, item.file)
            why = " by the first run" if item.first_run else ""
            lines.append(
                f"{path}: not mailed: dated {_day(item.dated, config)}, first seen "
                f"{_when(item.seen_at, config, now)}{why}; " + fix.format(file=path)
            )
        return lines
    oldest, newest = archived[0].dated, archived[-1].dated
    seen_at = max(a.seen_at for a in archived)
    why = " by the first run" if all(a.first_run for a in archived) else ""
    return [
        f"{len(archived)} posts not mailed, an archive import: dated {_day(oldest, config)} "
        f"to {_day(newest, config)}, first seen {_when(seen_at, config, now)}{why}; "
        + fix.format(file="FILE") + " for any of them"
    ]


def include_path(config: Config, name: str) -> str:
    """A post's file as `digest --include` takes it: relative to publisher.toml's folder."""
    return os.path.relpath(config.posts_dir / name, config.root)


def _day(when: datetime, config: Config) -> str:
    return f"{when.astimezone(config.tz):%Y-%m-%d}"


def _when(when: datetime, config: Config, now: datetime) -> str:
    local, today = when.astimezone(config.tz), now.astimezone(config.tz)
    return "today" if local.date() == today.date() else f"{local:%Y-%m-%d %H:%M}"


# Where a line goes: stderr, stdout, or stdout unless --quiet.
Channel = Literal["err", "out", "say"]


def check_lines(
    result: CheckResult, config: Config, now: datetime, compared: str
) -> tuple[list[tuple[Channel, str]], int]:
    """What `check` prints, in order, and how many warnings that makes (each
    line about posts the next run sets aside counts as one). `compared` is the
    file name of the --compare-with feed."""
    lines: list[tuple[Channel, str]] = [("err", str(p)) for p in result.problems]
    site = result.site
    lines += [
        ("say", f"{post.name}: not published: published: false or draft: true")
        for post in site.skipped
    ]
    lines += [
        ("say", f"{post.name}: not published yet: dated {post.date:%Y-%m-%d %H:%M} UTC")
        for post in result.unpublished(now)
    ]
    differences = 0
    if result.comparison is not None:
        differences = result.comparison.differences
        where: Channel = "err" if differences else "out"
        lines += [(where, line) for line in result.comparison.lines(compared)]
    # Posts the next digest leaves out: a warning for the ones the next run
    # will set aside (still time to fix a date), a note for those already set.
    coming = archive_lines(result.late, config, now)
    lines += [("err", f"warning: {line}") for line in coming]
    lines += [("err", f"note: {line}") for line in archive_lines(result.set_aside, config, now)]
    errors = result.errors
    warnings = len(result.problems) - errors + len(coming) + differences
    lines.append((
        "say",
        f"Checked {config.file.name} and {site.files_read} files: {len(site.posts)} posts, "
        f"{errors} errors, {warnings} warnings.",
    ))
    return lines, warnings


PENDING_COLUMNS = ("email", "signed up", "confirmation", "tries", "next try", "link expires",
                   "last error")


def pending_lines(rows: Sequence[Unconfirmed], tz: tzinfo) -> list[str]:
    """`subscribers list --status pending`: one line per pending sign-up, times
    in the site's timezone, columns two spaces apart ("-" for nothing); no
    lines (not even the header) for none."""

    def when(seconds: float | None) -> str:
        if seconds is None:
            return "-"
        return f"{datetime.fromtimestamp(seconds, UTC).astimezone(tz):%Y-%m-%d %H:%M:%S}"

    table = [list(PENDING_COLUMNS)]
    for row in rows:
        try:
            signed_up = f"{datetime.fromisoformat(row.signed_up).astimezone(tz):%Y-%m-%d %H:%M:%S}"
        except ValueError:
            signed_up = row.signed_up
        mail = row.confirmation
        if mail is None:
            table.append([row.email, signed_up, "none", "-", "-", "-", "-"])
            continue
        state = mail.state if mail.state != "sent" else f"sent {when(mail.sent_at)}"
        table.append([
            row.email, signed_up, state, str(mail.attempts),
            when(mail.next_try) if mail.state == "waiting" else "-",
            when(mail.expires_at), " ".join(mail.last_error.split()) or "-",
        ])
    if len(table) == 1:
        return []
    widths = [max(len(line[i]) for line in table) for i in range(len(PENDING_COLUMNS) - 1)]
    lines = []
    for line in table:
        cells = [cell.ljust(width) for cell, width in zip(line, widths, strict=False)]
        lines.append("  ".join([*cells, line[-1]]).rstrip())
    return lines
