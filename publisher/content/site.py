"""Read the posts folder into the immutable Site model.

One bad post never stops the others: `posts` turns each file into a Post or
a Problem, and this module gathers them, from the cache where it can, in
parallel when there are many, then sorts and de-duplicates.
"""

from __future__ import annotations

import hashlib
import logging
import operator
import os
import re
import threading
import time as clock
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import datetime
from fnmatch import fnmatch
from pathlib import Path
from typing import TYPE_CHECKING, Any, NamedTuple

from ..config.settings import Config, JekyllSite
from ..errors import ContentError
from ..incremental.cache import RACY_NS, decode_post, encode_post, problem_row
from ..jekyll.rules import settings
from ..model import Post, Problem, Site
from . import posts as post_files
from . import scan
from .readers.values import FORMATS

if TYPE_CHECKING:
    from ..incremental.cache import PostCache

log = logging.getLogger(__name__)

SUFFIXES = tuple(FORMATS)
POSTS_FOLDER = scan.PostsFolder(SUFFIXES)
# Below this many files to parse, starting worker processes costs more than it saves.
PARALLEL_MIN = 2000


def walk(
    posts_dir: Path,
    jekyll: JekyllSite | None = None,
    follow_symlinks: bool = False,
    problems: list[Problem] | None = None,
) -> Iterator[tuple[str, str, os.stat_result]]:
    """(name relative to posts_dir, absolute path, stat) of every candidate post
    file, in a stable order. Plain strings: this runs on every file, every run.
    For a Jekyll site (`jekyll`), the files in its `_posts` folders instead.
    Links, loops and odd names: see `scan`.

    ContentError if `posts_dir` exists but cannot be listed; a subfolder or
    file that cannot be is skipped with a warning (in `problems`, if given)."""
    rules = JekyllRules(jekyll) if jekyll is not None else POSTS_FOLDER
    try:
        yield from scan.walk(posts_dir, rules, follow_symlinks, problems)
    except OSError as exc:
        # Going on would publish empty feeds over the real ones. (A missing
        # folder is no files: check_posts_dir reports it.)
        what = "Jekyll site folder" if jekyll is not None else "posts folder"
        raise ContentError(
            f"{what} {posts_dir / rules.start} cannot be read: {exc.strerror}",
            hint="check that it is a folder and that this user may read it",
        ) from exc


# Files in _posts that Jekyll would try to read but that are never posts.
MEDIA = (".png", ".jpg", ".jpeg", ".gif", ".svg", ".webp", ".avif", ".ico", ".pdf", ".mp3",
         ".mp4", ".m4a", ".ogg", ".webm", ".mov", ".zip", ".gz", ".woff", ".woff2", ".css",
         ".js", ".json", ".yml", ".yaml")


class JekyllRules:
    """The post files of a Jekyll site, as its Reader finds them: every `_posts`
    folder (and `_drafts` with [jekyll] drafts) under any folder Jekyll reads,
    skipping `.x`, `_x`, `#x`, `x~`, `exclude` (unless `include`d) and `_site`.
    Names are relative to the site. (`scan.Rules`, for `scan.walk`.)"""

    def __init__(self, site: JekyllSite) -> None:
        jekyll = settings(site)
        self.special = {"_posts"} | ({"_drafts"} if site.drafts else set())
        self.include = set(jekyll.include)
        self.exclude = [e.strip("/") for e in jekyll.exclude if e.strip("/")]
        self.destination = jekyll.destination.strip("/")
        self.known = tuple(jekyll.markdown_exts) + tuple(SUFFIXES)
        start = jekyll.collections_dir
        self.start = f"{start}/" if start else ""

    def _read(self, rel: str, name: str, inside: bool) -> bool:
        return name in self.include or not (
            name[0] in ".#~" or name.endswith("~")
            or (name[0] == "_" and not (name in self.special and not inside))
            or rel == self.destination
            or any(rel == e or rel.startswith(e + "/") or fnmatch(rel, e) for e in self.exclude)
        )

    def folder(self, rel: str, name: str, inside: bool) -> bool | None:
        if not self._read(rel, name, inside):
            return None
        return inside or name in self.special

    def post(self, rel: str, name: str, inside: bool) -> bool:
        if not inside or not self._read(rel, name, inside):
            return False
        lower = name.lower()
        return lower.endswith(self.known) or (
            not lower.endswith(MEDIA) and _DATED.match(name) is not None
        )


_DATED = re.compile(r"^\d{2,4}-\d{1,2}-\d{1,2}-")


_date = operator.attrgetter("date")


def discover(
    posts_dir: Path, jekyll: JekyllSite | None = None, follow_symlinks: bool = False
) -> Iterator[tuple[Path, os.stat_result]]:
    """Every candidate post file under `posts_dir`, with its stat, in a stable order.

    Files the walk skips are not reported here: the load that follows a
    change reports them once, not every scan."""
    for _name, path, st in walk(posts_dir, jekyll, follow_symlinks, problems=[]):
        yield Path(path), st


class FileStat(NamedTuple):
    """What a run keeps of a post file's stat: a tenth of an `os.stat_result`'s
    memory (~50 MB less at 100,000 posts), under the same names."""

    st_size: int
    st_mtime_ns: int


@dataclass(frozen=True)
class Listing:
    """One scan of the posts folder, shared by the run guard and the load."""

    entries: list[tuple[str, str, FileStat]]  # as `walk` yields them
    settled: bool  # no file changed so recently that its mtime could lie (cache.RACY_NS)
    problems: tuple[Problem, ...] = ()  # files the walk skipped (links, odd names)
    folders: tuple[tuple[str, int], ...] = ()  # every folder listed and its mtime_ns

    @property
    def fingerprint(self) -> str:
        """Changes when a post file is added, removed, renamed, resized or touched."""
        digest = hashlib.sha256()
        for name, _path, st in self.entries:
            digest.update(f"{name}\0{st.st_size}\0{st.st_mtime_ns}\n".encode())
        return digest.hexdigest()


def listing(
    posts_dir: Path, jekyll: JekyllSite | None = None, follow_symlinks: bool = False
) -> Listing:
    """Scan `posts_dir` once: every candidate post file with its stat."""
    skipped: list[Problem] = []
    folders: list[tuple[str, int]] = []
    # `walk`, without its generator in between: this is every file, every run.
    rules = JekyllRules(jekyll) if jekyll is not None else POSTS_FOLDER
    try:
        found = list(scan.walk(posts_dir, rules, follow_symlinks, skipped, folders))
    except OSError:
        found = list(walk(posts_dir, jekyll, follow_symlinks, skipped))  # the ContentError
    entries = [(n, p, FileStat(st.st_size, st.st_mtime_ns)) for n, p, st in found]
    del found
    racy_after = clock.time_ns() - RACY_NS
    settled = all(st.st_mtime_ns < racy_after for _n, _p, st in entries)
    return Listing(entries, settled, tuple(skipped), tuple(folders))


def check_posts_dir(config: Config) -> Path:
    posts_dir = config.posts_dir
    if not posts_dir.is_dir():
        raise ContentError(
            f"posts folder {posts_dir} does not exist",
            hint=f"create it, or set [content] posts in {config.file.name}",
        )
    return posts_dir


def load_site(
    config: Config,
    now: datetime,
    include_future: bool = False,
    cache: PostCache | None = None,
    scanned: Listing | None = None,
    meanwhile: Callable[[], object] | None = None,
) -> Site:
    """Read every post under `config.posts_dir` into the Site as it stands at `now`.

    `include_future` puts posts dated after `now` among the published ones (the
    feeds show them). `cache`, if given, supplies the files unchanged since it
    was filled and receives the ones parsed now (the caller saves it).
    `scanned` is a listing of the folder already made for this run; without it
    the folder is scanned here. `meanwhile` is called while worker processes
    parse, if they do (the caller's chance to use the otherwise idle wait).

    A bad post never raises: it becomes a `Problem` in `Site.problems` and the
    others load. Raises `ContentError` only if the posts folder does not exist.

    Cost: one scan of the folder (unless `scanned`), then a read and a front
    matter parse of each file the cache does not hold, on every core when there
    are PARALLEL_MIN or more; bodies are rendered later, and only for the posts
    a feed or a digest shows.
    """
    posts_dir = check_posts_dir(config)
    if scanned is None:
        scanned = listing(posts_dir, config.jekyll_site, config.content.follow_symlinks)
    entries = scanned.entries
    racy_after = clock.time_ns() - RACY_NS
    results: dict[str, tuple[Post | None, list[Problem]]] = {}
    todo: list[tuple[str, str, int]] = []
    stats: dict[str, FileStat] = {}
    for name, path_str, st in entries:
        cached = cache.get(name, st.st_size, st.st_mtime_ns, path_str) if cache else None
        if cached is not None:
            results[name] = cached
        else:
            todo.append((name, path_str, st.st_size))
            stats[name] = st
    for name, post, found, row in parse_many(todo, posts_dir, config, meanwhile):
        results[name] = (post, found)
        st = stats[name]
        if cache is not None and st.st_mtime_ns < racy_after:
            cache.put(name, st.st_size, st.st_mtime_ns, post, found, row)
    problems: list[Problem] = list(scanned.problems)
    posts: list[Post] = []
    for name, _path, _st in entries:
        post, found = results[name]
        problems.extend(found)
        if post is not None:
            posts.append(post)
    if cache is not None:
        cache.prune(results)
    return assemble(posts, problems, len(entries), now, include_future)


def parse_many(
    todo: list[tuple[str, str, int]],
    posts_dir: Path,
    config: Config,
    meanwhile: Callable[[], object] | None = None,
) -> Iterator[tuple[str, Post | None, list[Problem], tuple[Any, ...] | None]]:
    """Parse files, on every core when there are enough to repay the processes.

    Each file's name, Post, problems and, from a worker, the Post as the cache
    row it travelled as (so the cache need not encode it again), else None."""
    workers = min(os.cpu_count() or 1, 8)
    if workers < 2 or len(todo) < PARALLEL_MIN:
        for name, path, size in todo:
            found: list[Problem] = []
            post = post_files.read_post(path, posts_dir, config, found, size=size, name=name)
            yield name, post, found, None
        return
    # lazy: process pools, only for a cold parse of many files
    import multiprocessing  # noqa: PLC0415
    from concurrent.futures import ProcessPoolExecutor  # noqa: PLC0415

    # fork is fast and safe from a single-threaded process; with threads about
    # (the scheduler) a forked child could inherit a held lock, so spawn.
    method = "fork" if threading.active_count() == 1 else "spawn"
    size = max(200, len(todo) // (workers * 4) + 1)
    chunks = [todo[i : i + size] for i in range(0, len(todo), size)]
    context = multiprocessing.get_context(method)
    # Either way the workers hold no lock (lock.py closes held locks' files in
    # a forked child) and die with this process, even on SIGKILL.
    with ProcessPoolExecutor(
        workers, mp_context=context, initializer=die_with_parent, initargs=(os.getpid(),)
    ) as pool:
        parsed = pool.map(_parse_chunk, [(c, posts_dir, config) for c in chunks])
        if meanwhile is not None:
            meanwhile()  # the workers have their chunks; the parent would only wait
        for chunk, rows in zip(chunks, parsed, strict=True):
            for (name, path_str, size_), (row, found_rows) in zip(chunk, rows, strict=True):
                post = decode_post(row, path_str, name, size_) if row else None
                yield name, post, [Problem(*p) for p in found_rows], row


def die_with_parent(parent: int) -> None:
    """In a worker process: be killed when `parent` dies, however it dies.

    Linux's PR_SET_PDEATHSIG does it in the kernel; elsewhere a thread polls
    the parent pid. Either way, a worker whose parent is already gone exits.
    """
    # lazy: a worker's needs, not the parent's (signal loads only with the pool)
    import signal  # noqa: PLC0415

    try:
        import ctypes  # noqa: PLC0415

        libc = ctypes.CDLL(None, use_errno=True)
        pr_set_pdeathsig = 1
        armed = libc.prctl(pr_set_pdeathsig, signal.SIGKILL, 0, 0, 0) == 0
    except (OSError, AttributeError):
        armed = False
    if os.getppid() != parent:
        os._exit(1)  # orphaned before the signal was armed
    if not armed:

        def watch() -> None:
            while os.getppid() == parent:
                clock.sleep(0.5)
            os._exit(1)

        threading.Thread(target=watch, name="publisher-parent-watch", daemon=True).start()


def _parse_chunk(
    job: tuple[list[tuple[str, str, int]], Path, Config],
) -> list[tuple[Any, tuple[tuple[Any, ...], ...]]]:
    """Worker side of parse_many: for each file of the chunk, in order, its cache
    row and problems as plain tuples, not dataclasses. The names and paths the
    parent already has do not travel back: at 100,000 posts a second copy of
    each is ~25 MB of the parent's peak."""
    chunk, posts_dir, config = job
    out = []
    for name, path_str, size in chunk:
        found: list[Problem] = []
        post = post_files.read_post(path_str, posts_dir, config, found, size=size, name=name)
        row = encode_post(post) if post is not None else None
        out.append((row, tuple(problem_row(p) for p in found)))
    return out


def assemble(
    posts: list[Post],
    problems: list[Problem],
    files: int,
    now: datetime,
    include_future: bool = False,
) -> Site:
    """Sort posts, drop duplicates and split them by visibility at `now`."""
    posts = sorted(posts, key=operator.attrgetter("date", "name"))
    by_key: dict[str, Post] = {}
    by_url: dict[str, Post] = {}
    kept: list[Post] = []
    # The older post keeps its identity: it is the one readers already have.
    for post in posts:
        clash = by_key.get(post.key) or by_url.get(post.url)
        if clash is not None:
            # Without a front matter id the key is the URL: call it a permalink.
            what = "id" if clash.key == post.key and post.key != post.url else "permalink"
            value = post.key if what == "id" else post.url
            problems.append(
                Problem(
                    post.name,
                    f"{what} {value!r} is already used by {clash.name}; "
                    f"give this post its own {what} (skipped)",
                )
            )
            continue
        by_key[post.key] = post
        by_url[post.url] = post
        kept.append(post)
    shown = [p for p in kept if p.visible]
    skipped = tuple(p for p in kept if not p.visible)
    due = [p for p in shown if include_future or p.date <= now]
    scheduled = [p for p in shown if not include_future and p.date > now]
    due.sort(key=operator.attrgetter("date", "key"), reverse=True)
    # Even with --future (already in the feeds) a post coming due matters:
    # from then on the digest may mail it.
    upcoming = min((p for p in shown if p.date > now), key=_date, default=None)
    return Site(
        now=now,
        posts=tuple(due),
        scheduled=tuple(scheduled),
        upcoming=upcoming,
        hidden=len(kept) - len(shown),
        skipped=skipped,
        files_read=files,
        problems=tuple(sorted(problems, key=lambda p: (p.file, p.line or 0))),
    )
