"""Which feeds are already up to date, so a run builds only the ones that changed.

A feed's bytes depend on the configuration, on what the feed is (its kind,
format, name, path) and on its posts: which ones, in which order, and each
post file's size and mtime (its front matter and its body). The fingerprint
of all that is kept per feed, with the size and mtime of the file written. A
later run whose fingerprint and file still match skips the feed entirely: no
rendering, no building, no comparing. With 200 categories and one post
edited, only the feeds that hold that post are built again.

Disposable like the other caches: without the file every feed is built and
compared, as before. Stored as a memo (`incremental.memo`) that depends on the
configuration's fingerprint.
"""

from __future__ import annotations

import hashlib
import time
from dataclasses import dataclass, field
from pathlib import Path

from ..config.settings import Config
from ..incremental import memo
from ..incremental.cache import RACY_NS, config_fingerprint
from .plan import Feed

FILE = "feeds.cache"
FORMAT = 2  # 2: a memo (`incremental.memo`)

# path -> (fingerprint, size, mtime_ns, entries, kind, url), in the order written
Row = tuple[str, int, int, int, str, str]


@dataclass
class FeedCache:
    file: Path
    out_dir: Path
    config_fp: str
    rows: dict[str, Row]  # what the last run wrote
    new: dict[str, Row] = field(default_factory=dict)  # what this run wrote or kept
    stats: dict[str, tuple[int, int] | None] = field(default_factory=dict)  # post files
    racy_after: int = field(default_factory=lambda: time.time_ns() - RACY_NS)

    @classmethod
    def load(cls, config: Config) -> FeedCache:
        file = config.state_dir / FILE
        config_fp = config_fingerprint(config)
        data = memo.load(file, FORMAT, config_fp)
        rows = data.get("rows") if data is not None else None
        # Missing, unreadable or of other settings: every feed is built.
        return cls(file, config.out_dir, config_fp, rows if isinstance(rows, dict) else {})

    def fresh(self, feed: Feed) -> bool:
        """True if the file of `feed` holds what this run would write, and is untouched."""
        row = self.rows.get(feed.path)
        if row is None or row[0] != self.fingerprint(feed):
            return False
        if _stat(str(self.out_dir / feed.path)) != (row[1], row[2]):
            return False
        self.new[feed.path] = row
        return True

    def put(self, feed: Feed) -> None:
        """Remember `feed` as written now; unless a post of it changed too
        recently to trust its mtime, in which case it is built again next time."""
        fingerprint = self.fingerprint(feed)
        stat = _stat(str(self.out_dir / feed.path))
        if not fingerprint or stat is None:
            return
        self.new[feed.path] = (fingerprint, *stat, len(feed.posts), feed.kind, feed.url)

    def fingerprint(self, feed: Feed) -> str:
        """What the feed's bytes depend on; "" if a post file is missing or racy."""
        parts = [repr((FORMAT, self.config_fp, feed.kind, feed.format, feed.name, feed.slug,
                       feed.path, feed.url, feed.title, feed.description))]
        for post in feed.posts:
            if post.path in self.stats:
                stat = self.stats[post.path]
            else:
                stat = self.stats[post.path] = _stat(post.path)
            if stat is None or stat[1] > self.racy_after:
                return ""
            parts.append(f"{post.path}\0{post.key}\0{stat[0]}\0{stat[1]}")
        return hashlib.sha256("\n".join(parts).encode()).hexdigest()

    def save(self) -> None:
        """Keep this run's feeds only; written when anything differs from the last run."""
        if self.new != self.rows or list(self.new) != list(self.rows):
            memo.save(self.file, FORMAT, {"rows": self.new}, self.config_fp)
            self.rows = dict(self.new)

    def last_written(self) -> list[tuple[str, int, str, str]]:
        """(path, entries, kind, url) of every feed the last run wrote or kept, in order."""
        return [(path, row[3], row[4], row[5]) for path, row in self.rows.items()]


_stat = memo.stat_or_none
