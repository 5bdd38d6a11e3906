"""Words for results and errors: the one place that formats them.

The command line prints these lines; `publisher run` logs them. Both read the
same result objects, so a run reads the same whichever way it was started.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from datetime import datetime
from pathlib import Path

from .config.settings import Config
from .errors import ExitCode, PublisherError
from .pipeline import FeedResult, PublishResult
from .store.seen import Archived

KIND_NAMES = {"category": "Category", "tag": "Tag"}


def as_publisher_error(exc: BaseException) -> PublisherError | None:
    """A failure of the machine rather than of publisher, in words: the last
    net under the command line and the service's jobs, so that a full disk,
    a read-only folder or no memory never ends in a traceback. None for
    anything else (a bug, which deserves its traceback)."""
    from .files import output_error
    from .store.state import driver_error

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
            from .digest.selection import digest_paths  # only now: it imports the templating stack

            public = digest_paths(config, d.record.slug)[0]
            lines.append(f"Digest: {d.record.slug} issued with {d.posts} posts{more}: {public}")
    if result.delivery is not None:
        lines.append(result.delivery.line())
    lines.append(f"Done in {result.seconds:.2f} s.")
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
