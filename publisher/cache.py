"""What earlier runs learned, kept in the state folder so later runs do less.

Two things, both disposable (delete the files and the next run rebuilds them):

- the post cache: each post file's parsed front matter, keyed by its path,
  size and mtime, so only new or edited files are parsed again;
- the run record: a fingerprint of everything the last run's output depended
  on (the folder listing, the configuration, the output files), so a run with
  nothing changed can stop after a directory scan.

Rows are tuples of plain values stored with marshal: loading 10,000 of them
takes milliseconds, where pickled dataclasses take ~150 ms.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import marshal
import os
import time
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

from . import __version__
from .config import Config
from .files import write_atomic
from .model import Enclosure, Image, Person, Post, Problem

FORMAT = 2  # 2: posts carry an enclosure and a banner image
POSTS_FILE = "posts.cache"
RENDER_FILE = "rendered.cache"
# A file changed within this window could change again without its mtime
# moving on a coarse-grained filesystem, so it is never trusted as cached.
RACY_NS = 2_000_000_000
RUN_FILE = "last-run.json"

Listing = list[tuple[str, int, int]]  # (name relative to the posts folder, size, mtime_ns)


def config_fingerprint(config: Config) -> str:
    """Changes whenever a setting that shapes a parsed post or an output changes."""
    parts = repr((FORMAT, __version__, config))
    return hashlib.sha256(parts.encode()).hexdigest()


def listing_fingerprint(listing: Listing) -> str:
    digest = hashlib.sha256()
    for name, size, mtime in listing:
        digest.update(f"{name}\0{size}\0{mtime}\n".encode())
    return digest.hexdigest()


# -- post cache --------------------------------------------------------------


def encode_post(post: Post) -> tuple[Any, ...]:
    author = (post.author.name, post.author.email, post.author.uri) if post.author else None
    image = (post.image.url, post.image.alt) if post.image else None
    return (
        post.key,
        post.url,
        post.title,
        post.date.isoformat(),
        post.updated.isoformat(),
        author,
        post.categories,
        post.tags,
        post.excerpt,
        post.excerpt_separator,
        image,
        post.format,
        post.visible,
        (post.enclosure.url, post.enclosure.length, post.enclosure.type)
        if post.enclosure
        else None,
        post.banner,
    )


def decode_post(row: tuple[Any, ...], path: str, name: str, size: int) -> Post:
    (key, url, title, date, updated, author, cats, tags, excerpt, sep, image, fmt, visible,
     enclosure, banner) = row
    return Post(
        path=path,
        name=name,
        key=key,
        url=url,
        title=title,
        date=datetime.fromisoformat(date),
        updated=datetime.fromisoformat(updated),
        author=Person(*author) if author else None,
        categories=cats,
        tags=tags,
        excerpt=excerpt,
        excerpt_separator=sep,
        image=Image(*image) if image else None,
        format=fmt,
        size=size,
        visible=visible,
        enclosure=Enclosure(*enclosure) if enclosure else None,
        banner=banner,
    )


@dataclass
class PostCache:
    file: Path
    fingerprint: str
    rows: dict[str, tuple[Any, ...]]
    dirty: bool = False

    @classmethod
    def load(cls, state_dir: Path, fingerprint: str) -> PostCache:
        file = state_dir / POSTS_FILE
        rows: dict[str, tuple[Any, ...]] = {}
        try:
            stored_fp, stored = marshal.loads(file.read_bytes())
            if stored_fp == fingerprint:
                rows = stored
        except (OSError, EOFError, ValueError, TypeError):
            pass  # missing or unreadable: start empty, it is only a cache
        return cls(file, fingerprint, rows)

    def get(
        self, name: str, size: int, mtime_ns: int, path: str
    ) -> tuple[Post | None, list[Problem]] | None:
        row = self.rows.get(name)
        if row is None or row[0] != size or row[1] != mtime_ns:
            return None
        post = decode_post(row[2], path, name, size) if row[2] is not None else None
        return post, [Problem(*p) for p in row[3]]

    def put(
        self, name: str, size: int, mtime_ns: int, post: Post | None, problems: list[Problem]
    ) -> None:
        encoded = encode_post(post) if post is not None else None
        self.rows[name] = (
            size,
            mtime_ns,
            encoded,
            tuple((p.file, p.message, p.line, p.severity) for p in problems),
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
            write_atomic(self.file, marshal.dumps((self.fingerprint, self.rows)))
            self.dirty = False


# -- run record --------------------------------------------------------------


@dataclass(frozen=True)
class RunRecord:
    """The inputs and results of the last full run, enough to skip an identical one."""

    signature: str  # config + mode + folder listing
    next_due: str | None  # ISO time of the next future post
    outputs: dict[str, tuple[int, int]]  # output path -> (size, mtime_ns)
    digest_id: int | None  # the newest digest when the run ended
    digest_reason: str  # why no digest was issued ("" if one was)
    summary: dict[str, Any]  # counts and problems, to report again

    def still_valid(self, signature: str, now: datetime, digest_id: int | None) -> bool:
        if signature != self.signature or digest_id != self.digest_id:
            return False
        if self.next_due is not None and now >= datetime.fromisoformat(self.next_due):
            return False
        return all(_stat(Path(p)) == tuple(s) for p, s in self.outputs.items())


def _stat(path: Path) -> tuple[int, int] | None:
    try:
        st = os.stat(path)
    except OSError:
        return None
    return (st.st_size, st.st_mtime_ns)


def output_stats(paths: Iterable[Path]) -> dict[str, tuple[int, int]]:
    stats = {}
    for path in paths:
        st = _stat(path)
        if st is not None:
            stats[str(path)] = st
    return stats


def load_run(state_dir: Path) -> RunRecord | None:
    try:
        data = json.loads((state_dir / RUN_FILE).read_text(encoding="utf-8"))
        return RunRecord(
            signature=data["signature"],
            next_due=data["next_due"],
            outputs={k: (v[0], v[1]) for k, v in data["outputs"].items()},
            digest_id=data["digest_id"],
            digest_reason=data["digest_reason"],
            summary=data["summary"],
        )
    except (OSError, ValueError, KeyError, TypeError):
        return None


def save_run(state_dir: Path, record: RunRecord) -> None:
    data = {
        "signature": record.signature,
        "next_due": record.next_due,
        "outputs": record.outputs,
        "digest_id": record.digest_id,
        "digest_reason": record.digest_reason,
        "summary": record.summary,
    }
    write_atomic(state_dir / RUN_FILE, json.dumps(data, ensure_ascii=False).encode("utf-8"))


def forget_run(state_dir: Path) -> None:
    with contextlib.suppress(FileNotFoundError):
        (state_dir / RUN_FILE).unlink()


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
        rows: dict[str, tuple[int, int, str, str, str]] = {}
        try:
            stored_fp, stored = marshal.loads(file.read_bytes())
            if stored_fp == fingerprint:
                rows = stored
        except (OSError, EOFError, ValueError, TypeError):
            pass
        return cls(file, fingerprint, rows, set())

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
            write_atomic(self.file, marshal.dumps((self.fingerprint, self.rows)))
            self.dirty = False
