"""What earlier runs learned, kept in the state folder so later runs do less.

Three things, all disposable (delete the files and the next run rebuilds them):

- the post cache: each post file's parsed front matter, keyed by its path,
  size and mtime, so only new or edited files are parsed again;
- the render cache: the HTML of the posts the last run put in a feed or digest;
- the run guard: a record of everything the last full run's output depended
  on and what it reported, so a run with nothing changed can stop after a
  directory scan and report the same again.

Each is a memo (`memo`): stored and read back by one protocol, declined on
any mismatch or damage. Cache rows are tuples of plain values stored with
marshal: loading 10,000 of them takes milliseconds, where pickled dataclasses
take ~150 ms.
"""

from __future__ import annotations

import contextlib
import hashlib
import time
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime
from functools import lru_cache
from pathlib import Path
from typing import Any, Protocol

from .. import __version__
from ..config.settings import Config
from ..model import Enclosure, Image, Person, Post, Problem, Summary
from . import memo, shortcut

# Of the post and render caches; 2: posts carry an enclosure and a banner image;
# 3: and excerpt_only and own_id; 4: a permalink with a scheme and dot segments
# stays under the site (posts cached before could hold a `javascript:` URL);
# 5: problems carry `unread`, and a file that looks like a post in a format not
# read (TOML front matter) is named, where a row from before holds nothing.
FORMAT = 5
POSTS_FILE = "posts.cache"
RENDER_FILE = "rendered.cache"
RUN_FILE = "last-run.json"
# Layout of RUN_FILE. Format 1 (unnumbered) kept one combined signature; a
# record of any other format is ignored and the run does the full work.
RUN_FORMAT = 2
# A file changed within this window could change again without its mtime
# moving on a coarse-grained filesystem, so it is never trusted as cached:
# the memo's window (named here too, for the modules that read it from here).
RACY_NS = memo.RACY_NS


def config_fingerprint(config: Config) -> str:
    """Changes whenever any setting changes (every field of every table)."""
    parts = repr((FORMAT, __version__, config))
    return hashlib.sha256(parts.encode()).hexdigest()


# -- post cache --------------------------------------------------------------


def encode_post(post: Post) -> tuple[Any, ...]:
    """The Post as a row of plain values. What posts repeat is one object in
    the rows too (see `decode_post`): pickle and marshal then store it once,
    and the rows a worker sends back share it after loading as well."""
    date = post.date.isoformat()
    author = post.author
    author_row = _shared((author.name, author.email, author.uri)) if author else None
    image = (post.image.url, post.image.alt) if post.image else None
    return (
        post.url if post.key == post.url else post.key,
        post.url,
        post.title,
        date,
        date if post.updated == post.date else post.updated.isoformat(),
        author_row,
        _shared(post.categories),
        _shared(post.tags),
        post.excerpt,
        post.excerpt_separator,
        image,
        post.format,
        post.visible,
        (post.enclosure.url, post.enclosure.length, post.enclosure.type)
        if post.enclosure
        else None,
        post.banner,
        post.excerpt_only,
        post.own_id,
    )


def decode_post(row: tuple[Any, ...], path: str, name: str, size: int) -> Post:
    """The Post of a cache or worker row. What posts repeat (the author, the
    category and tag lists, a key that is the URL, an `updated` that is the
    date) becomes one shared object, not one per post."""
    (key, url, title, date, updated, author, cats, tags, excerpt, sep, image, fmt, visible,
     enclosure, banner, excerpt_only, own_id) = row
    published = datetime.fromisoformat(date)
    return Post(
        path=path,
        name=name,
        key=url if key == url else key,
        url=url,
        title=title,
        date=published,
        updated=published if updated == date else datetime.fromisoformat(updated),
        author=_person(*author) if author else None,
        categories=_shared(cats),
        tags=_shared(tags),
        excerpt=excerpt,
        excerpt_separator=sep,
        image=Image(*image) if image else None,
        format=fmt,
        size=size,
        visible=visible,
        enclosure=Enclosure(*enclosure) if enclosure else None,
        banner=banner,
        excerpt_only=excerpt_only,
        own_id=own_id,
    )


def problem_row(problem: Problem) -> tuple[Any, ...]:
    """A Problem as plain values, for the caches and worker processes
    (`Problem(*row)` makes it again)."""
    return (problem.file, problem.message, problem.line, problem.severity, problem.unread)


@lru_cache(maxsize=1024)
def _person(name: str, email: str, uri: str) -> Person:
    return Person(name, email, uri)


@lru_cache(maxsize=4096)
def _shared(value: tuple[str, ...]) -> tuple[str, ...]:
    """The first tuple seen equal to `value`: lru_cache returns the object it
    cached, so equal lists across posts end up one object (bounded: a site
    with more distinct lists only shares less)."""
    return value


@dataclass
class PostCache:
    file: Path
    fingerprint: str
    rows: dict[str, tuple[Any, ...]]
    dirty: bool = False

    @classmethod
    def load(cls, state_dir: Path, fingerprint: str) -> PostCache:
        file = state_dir / POSTS_FILE
        # Missing, unreadable or of other settings: start empty, it is only a cache.
        return cls(file, fingerprint, _rows(memo.load(file, FORMAT, fingerprint)))

    def get(
        self, name: str, size: int, mtime_ns: int, path: str
    ) -> tuple[Post | None, list[Problem]] | None:
        row = self.rows.get(name)
        if row is None or row[0] != size or row[1] != mtime_ns:
            return None
        post = decode_post(row[2], path, name, size) if row[2] is not None else None
        return post, [Problem(*p) for p in row[3]]

    def put(
        self,
        name: str,
        size: int,
        mtime_ns: int,
        post: Post | None,
        problems: list[Problem],
        encoded: tuple[Any, ...] | None = None,
    ) -> None:
        """Keep `post` (already as `encode_post` makes it, if `encoded`)."""
        if encoded is None and post is not None:
            encoded = encode_post(post)
        self.rows[name] = (
            size,
            mtime_ns,
            encoded,
            tuple(problem_row(p) for p in problems),
        )
        self.dirty = True

    def prune(self, names: Iterable[str]) -> None:
        """Forget files that are gone."""
        keep = set(names)
        for name in [n for n in self.rows if n not in keep]:
            del self.rows[name]
            self.dirty = True

    def save(self) -> None:
        if self.dirty:
            memo.save(self.file, FORMAT, {"rows": self.rows}, self.fingerprint)
            self.dirty = False


def _rows(data: dict[str, Any] | None) -> dict[str, Any]:
    """A cache memo's rows; none if it was declined or is not of this shape."""
    rows = data.get("rows") if data is not None else None
    return rows if isinstance(rows, dict) else {}


# -- run guard ---------------------------------------------------------------


class FolderScan(Protocol):
    """What the guard reads of a scan of the posts folder (a `content.Listing`).

    A protocol, not an import: content builds on this module, not the reverse.
    """

    @property
    def fingerprint(self) -> str: ...

    @property
    def settled(self) -> bool: ...


@dataclass(frozen=True)
class Replay:
    """What a full run reported: enough to report it again without redoing it."""

    summary: Summary
    entries: int  # items in each feed
    digest_reason: str  # why an identical run issues no digest; "" without a digest


@dataclass(frozen=True)
class Watched:
    """Every file a replayed run's answer depended on, with the stat the run
    saw before reading it: what `shortcut` checks before answering again."""

    files: tuple[tuple[str, tuple[int, int]], ...]  # state files and outputs; (-1, -1): none
    folders: tuple[tuple[str, int], ...]  # the folders listed, with their mtimes
    posts: tuple[tuple[str, int, int], ...]  # post files: path, size, mtime
    observed_ns: int  # every stat above was taken after this moment
    # Files a full run wrote, stat'ed again when recorded (after the run),
    # with the stat each must still have then (None: any).
    written: tuple[tuple[str, tuple[int, int] | None], ...] = ()


@dataclass(frozen=True)
class _Record:
    inputs: dict[str, Any]  # see RunGuard.inputs
    outputs: dict[str, tuple[int, int]]  # path of each file written -> (size, mtime_ns)
    replay: Replay


@dataclass(frozen=True)
class RunGuard:
    """The unchanged-run shortcut, in one place.

    A full run's output depends on: every configuration setting; the mode
    (--future, with or without the digest); the folder listing (name, size and
    mtime of every post file); the clock only through the next future post
    coming due; the state only through the newest digest; and nobody having
    edited or removed the files it wrote. `remember` keeps all of that after a
    full run, with what the run reported; `replay` gives the report back while
    all of it still holds, and None as soon as any of it changed.
    """

    file: Path
    # JSON-shaped, so it compares equal to what the record read back:
    # config fingerprint, mode, listing fingerprint, newest digest id.
    inputs: dict[str, Any]
    settled: bool  # the listing has no file so fresh that its mtime could lie
    last: _Record | None  # what the last full run remembered, if it is readable

    @classmethod
    def load(
        cls,
        config: Config,
        listing: FolderScan,
        *,
        include_future: bool,
        with_digest: bool,
        last_digest_id: int | None,
    ) -> RunGuard:
        """The guard for a run on `listing` now that the newest digest is `last_digest_id`."""
        inputs = {
            "config": config_fingerprint(config),
            "mode": [include_future, with_digest],
            "listing": listing.fingerprint,
            "digest_id": last_digest_id,
        }
        file = config.state_dir / RUN_FILE
        return cls(file, inputs, listing.settled, _read_record(file))

    @staticmethod
    def forget(config: Config) -> None:
        """Drop the last run's record, so the next run does the full work: for a
        change the record cannot see (`digest --include` marking a post)."""
        with contextlib.suppress(FileNotFoundError):
            (config.state_dir / RUN_FILE).unlink()
        shortcut.forget(str(config.state_dir))

    @property
    def outputs(self) -> dict[str, tuple[int, int]]:
        """The files the last full run wrote, with the stats `replay` checked."""
        return self.last.outputs if self.last is not None else {}

    def replay(self, now: datetime) -> Replay | None:
        """The last full run's report if this run would produce the same; else None."""
        last = self.last
        if last is None or last.inputs != self.inputs:
            return None
        due = last.replay.summary.next_due
        if due is not None and now >= due:
            return None
        if any(_stat(Path(path)) != stat for path, stat in last.outputs.items()):
            return None
        return last.replay

    def remember(
        self,
        summary: Summary,
        *,
        entries: int,
        digest_reason: str,
        outputs: Iterable[Path],
        last_digest_id: int | None,
    ) -> Replay | None:
        """After a full run: keep its inputs, the files it wrote and what it
        reported; that report, as the next unchanged run replays it.

        `last_digest_id` is the newest digest once the run is over (it may have
        issued one). A listing that is not settled is never remembered, since a
        file could still change without its mtime moving: the last record is
        forgotten instead, so the next run does the full work (None).
        """
        if not self.settled:
            with contextlib.suppress(FileNotFoundError):
                self.file.unlink()
            return None
        replay = Replay(summary, entries, digest_reason)
        data = {
            "inputs": {**self.inputs, "digest_id": last_digest_id},
            "outputs": _output_stats(outputs),
            "entries": entries,
            "digest_reason": digest_reason,
            "summary": _summary_to_json(summary),
        }
        memo.save_json(self.file, RUN_FORMAT, data)
        return replay


def _read_record(file: Path) -> _Record | None:
    """The record in `file`; None if it is missing, unreadable or of another format."""
    data = memo.load_json(file, RUN_FORMAT)
    if data is None:
        return None
    try:
        outputs = {str(path): (int(s[0]), int(s[1])) for path, s in data["outputs"].items()}
        replay = Replay(
            _summary_from_json(data["summary"]), int(data["entries"]), str(data["digest_reason"])
        )
        return _Record(dict(data["inputs"]), outputs, replay)
    except (ValueError, KeyError, IndexError, TypeError, AttributeError):
        return None  # it is only a shortcut: without it the run does the full work


# The JSON shape of a Summary belongs to the record file (versioned by
# RUN_FORMAT), not to the model, so it lives here.


def _summary_to_json(summary: Summary) -> dict[str, Any]:
    return {
        "files_read": summary.files_read,
        "published": summary.published,
        "scheduled": summary.scheduled,
        "next_due": summary.next_due.isoformat() if summary.next_due else None,
        "next_title": summary.next_title,
        "hidden": summary.hidden,
        "problems": [list(problem_row(p)) for p in summary.problems],
    }


def _summary_from_json(data: dict[str, Any]) -> Summary:
    next_due = datetime.fromisoformat(data["next_due"]) if data["next_due"] else None
    if next_due is not None and next_due.tzinfo is None:
        raise ValueError("next_due has no time zone")  # could not be compared with now
    return Summary(
        files_read=data["files_read"],
        published=data["published"],
        scheduled=data["scheduled"],
        next_due=next_due,
        next_title=data["next_title"],
        hidden=data["hidden"],
        problems=tuple(Problem(*p) for p in data["problems"]),
    )


_stat = memo.stat_or_none


def _output_stats(paths: Iterable[Path]) -> dict[str, tuple[int, int]]:
    stats = {}
    for path in paths:
        st = _stat(path)
        if st is not None:
            stats[str(path)] = st
    return stats


# -- render cache ------------------------------------------------------------


@dataclass
class RenderCache:
    """Rendered HTML and excerpts of the posts the last run put in a feed or digest.

    Rendering is the costly step (~0.6 ms a post, more for long ones); after
    an edit only the edited post is rendered again. Keyed by path, size and
    mtime like the post cache, and by URL, which relative links resolve against.
    """

    file: Path
    fingerprint: str
    rows: dict[str, tuple[int, int, str, str, str]]  # path -> size, mtime, url, html, excerpt
    used: set[str]
    dirty: bool = False

    @classmethod
    def load(cls, state_dir: Path, fingerprint: str) -> RenderCache:
        file = state_dir / RENDER_FILE
        return cls(file, fingerprint, _rows(memo.load(file, FORMAT, fingerprint)), set())

    def get(self, post: Post) -> tuple[str, str] | None:
        """(html, excerpt) if the file is unchanged since it was rendered."""
        row = self.rows.get(post.path)
        st = _stat(Path(post.path))
        if row is None or st is None or (row[0], row[1], row[2]) != (*st, post.url):
            return None
        self.used.add(post.path)
        return row[3], row[4]

    def put(self, post: Post, html: str, excerpt: str) -> None:
        st = _stat(Path(post.path))
        self.used.add(post.path)
        # A file written in the last moments may change again without its
        # mtime moving; it is rendered again next time rather than trusted.
        if st is None or st[1] > time.time_ns() - RACY_NS:
            self.rows.pop(post.path, None)
            return
        self.rows[post.path] = (st[0], st[1], post.url, html, excerpt)
        self.dirty = True

    def save(self) -> None:
        """Keep only what this run used: the cache stays the size of a feed."""
        stale = set(self.rows) - self.used
        for path in stale:
            del self.rows[path]
        if self.dirty or stale:
            memo.save(self.file, FORMAT, {"rows": self.rows}, self.fingerprint)
            self.dirty = False
