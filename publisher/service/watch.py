"""Notice changes in the posts folder by polling a stat cache.

Polling stats (size, mtime, inode) works on every filesystem, network mounts
and containers included, where inotify-style events do not; for 10,000 posts
an unchanged scan is one `scandir` per folder and costs milliseconds.

A burst of saves (an editor writing temp files, a `git pull` of 100 posts)
should give one rebuild: `settle` keeps rescanning at a short interval until a
scan finds nothing new, and stops waiting after a bound so a folder that never
goes quiet is still published.
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from ..app.service import post_files
from ..config.settings import JekyllSite

Kind = Literal["added", "modified", "removed"]
Signature = tuple[int, int, int]  # size, mtime_ns, inode


def is_temp(name: str) -> bool:
    """Editor temp and swap files: Emacs `.#x` and `#x#`, backup `x~`, Vim `.x.swp`."""
    if name.startswith((".#", "#")) or name.endswith("~"):
        return True
    return name.startswith(".") and name.endswith((".swp", ".swo", ".swx", ".tmp"))


@dataclass(frozen=True)
class Changes:
    """What changed between two scans, by path."""

    added: tuple[Path, ...] = ()
    modified: tuple[Path, ...] = ()
    removed: tuple[Path, ...] = ()

    def __len__(self) -> int:
        return len(self.added) + len(self.modified) + len(self.removed)

    def __bool__(self) -> bool:
        return len(self) > 0

    def __str__(self) -> str:
        return (
            f"{len(self)} changes ({len(self.added)} added, {len(self.modified)} modified, "
            f"{len(self.removed)} removed)"
        )

    def by_path(self) -> dict[Path, Kind]:
        out: dict[Path, Kind] = {}
        out.update(dict.fromkeys(self.added, "added"))
        out.update(dict.fromkeys(self.modified, "modified"))
        out.update(dict.fromkeys(self.removed, "removed"))
        return out

    def then(self, later: Changes) -> Changes:
        """These changes followed by `later`, as one change set."""
        merged = self.by_path()
        for path, kind in later.by_path().items():
            before = merged.get(path)
            if before == "added" and kind == "removed":
                del merged[path]  # came and went between two rebuilds
            elif before == "added":
                merged[path] = "added"
            elif before == "removed" and kind == "added":
                merged[path] = "modified"
            else:
                merged[path] = kind
        return _from_kinds(merged.items())


def _from_kinds(items: Iterable[tuple[Path, Kind]]) -> Changes:
    groups: dict[Kind, list[Path]] = {"added": [], "modified": [], "removed": []}
    for path, kind in items:
        groups[kind].append(path)
    return Changes(
        tuple(sorted(groups["added"])),
        tuple(sorted(groups["modified"])),
        tuple(sorted(groups["removed"])),
    )


def signature(st: os.stat_result) -> Signature:
    # The inode catches editors that save by renaming a new file into place
    # within the same mtime tick and size.
    return (st.st_size, st.st_mtime_ns, st.st_ino)


class Watcher:
    """Remembers the last scan of `posts_dir` and reports the difference."""

    def __init__(
        self, posts_dir: Path, jekyll: JekyllSite | None = None, follow_symlinks: bool = False
    ) -> None:
        self.posts_dir = posts_dir
        self.jekyll = jekyll  # a Jekyll site: only its _posts folders are watched
        self.follow_symlinks = follow_symlinks
        # Keyed by str: hashing and comparing Path objects costs several times
        # more, and an unchanged scan of a big folder is mostly dict lookups.
        self._cache: dict[str, Signature] = {}

    def __len__(self) -> int:
        return len(self._cache)

    def scan(self) -> Changes:
        current: dict[str, Signature] = {}
        for path, st in post_files(self.posts_dir, self.jekyll, self.follow_symlinks):
            name = os.fspath(path)
            if not is_temp(os.path.basename(name)):
                current[name] = signature(st)
        old = self._cache
        self._cache = current
        kinds: list[tuple[Path, Kind]] = [(Path(p), "added") for p in current if p not in old]
        kinds += [
            (Path(p), "modified") for p, sig in current.items() if p in old and old[p] != sig
        ]
        kinds += [(Path(p), "removed") for p in old if p not in current]
        return _from_kinds(kinds)

    def settle(
        self,
        first: Changes,
        quiet: float,
        max_wait: float,
        stop: Callable[[], bool] = lambda: False,
        sleep: Callable[[float], None] = time.sleep,
        clock: Callable[[], float] = time.monotonic,
    ) -> Changes:
        """Rescan every `quiet` seconds until a rescan finds nothing new.

        Returns `first` merged with everything seen meanwhile. Gives up waiting
        after `max_wait` seconds, or at once when `stop()` says so.
        """
        merged = first
        deadline = clock() + max_wait
        while not stop() and clock() < deadline:
            sleep(min(quiet, max(deadline - clock(), 0.0)))
            more = self.scan()
            if not more:
                break
            merged = merged.then(more)
        return merged
