"""Which files under the posts folder are candidate posts: a safe folder walk.

Posts folders come from anywhere (a git checkout, a shared drive), so the walk
trusts nothing in them:

- **Symbolic links** are followed only when their target stays inside the
  posts folder, unless `[content] follow_symlinks = true`: a link to
  `/etc/passwd.md` or to a private notes folder publishes nothing.
- **One file is published once**, whichever names reach it (a link to a post,
  a link to a folder of posts, a hard link): the first name found keeps it,
  and real names are found before names through links.
- **Loops** (`loop -> .`, `self -> self`) are a warning, never a hang or an
  `OSError`.
- **File names that are not UTF-8** (a byte 0xff) cannot become a URL or a
  message: the file is skipped with an error naming it escaped (`a\\xff.md`).

Which names are posts and which folders are read is the `Rules`' business:
`PostsFolder` for a plain posts folder, `content.JekyllRules` for a Jekyll
site. Problems go to the caller's list when one is given, else to the log.
"""

from __future__ import annotations

import errno
import logging
import os
import stat
from collections.abc import Iterator
from typing import Protocol

from ..model import Problem, printable

log = logging.getLogger(__name__)

# Jekyll keeps posts in `_posts`; every other `_x` or `.x` is private.
UNDERSCORE_ALLOWED = {"_posts"}

Entry = tuple[str, str, os.stat_result]  # name relative to the folder, path, stat


class Rules(Protocol):
    """What the walk reads. `inside` is carried down from folder to folder
    (for Jekyll: inside a `_posts` folder); `rel` is the name relative to the
    root, `name` its last part."""

    start: str  # the folder the walk starts in, relative to the root: "" or "x/"

    def folder(self, rel: str, name: str, inside: bool) -> bool | None:
        """None to skip the folder, else `inside` for what is in it."""
        ...

    def post(self, rel: str, name: str, inside: bool) -> bool:
        """True if the file is a candidate post."""
        ...


class PostsFolder:
    """A plain posts folder: every file with one of `suffixes` (lower case, as
    `.md`) but those in `.x` and `_x` (not `_posts`) folders, or named so."""

    start = ""

    def __init__(self, suffixes: tuple[str, ...]) -> None:
        self.suffixes = suffixes

    def folder(self, rel: str, name: str, inside: bool) -> bool | None:
        return None if _hidden(name) else inside

    def post(self, rel: str, name: str, inside: bool) -> bool:
        # Inlined `_hidden`: this runs on every file of every run.
        first = name[0]
        if first == "." or (first == "_" and name not in UNDERSCORE_ALLOWED):
            return False
        return name.lower().endswith(self.suffixes)


def _hidden(name: str) -> bool:
    return name[0] == "." or (name[0] == "_" and name not in UNDERSCORE_ALLOWED)


def walk(
    posts_dir: os.PathLike[str] | str,
    rules: Rules,
    follow_symlinks: bool = False,
    problems: list[Problem] | None = None,
    folders: list[tuple[str, int]] | None = None,
) -> Iterator[Entry]:
    """(name relative to posts_dir, absolute path, stat) of every candidate post
    file, in a stable order: the folder's own files depth-first by name, then
    those reached through symbolic links. Plain strings: this runs on every
    file, every run.

    Raises OSError only if the folder the walk starts in cannot be listed (a
    missing folder is no files); a subfolder or file that cannot be is a warning.
    `folders`, when given, receives the path and mtime of every folder listed,
    the mtime taken before the listing: a file added, removed or renamed in
    the folder moves it (`shortcut`).
    """
    root = os.fspath(posts_dir)
    walker = _Walk(root, follow_symlinks, problems, rules, folders)
    yield from walker.folder(rules.start, os.path.join(root, rules.start), False, top=True)
    # Links last, so that a file's real name wins over a name through a link.
    while walker.links:
        name, path, inside = walker.links.pop(0)
        yield from walker.link(name, path, inside)


class _Walk:
    def __init__(
        self,
        root: str,
        follow: bool,
        problems: list[Problem] | None,
        rules: Rules,
        folders: list[tuple[str, int]] | None = None,
    ) -> None:
        self.root = root
        self.listed = folders
        self.real_root = os.path.realpath(root)
        self.follow = follow
        self.problems = problems
        self.rules = rules
        # Files by (device, inode) that could be met again: hard-linked ones,
        # and those reached through links. A file with one name is met again
        # only through a link, which `link` recognises by its real path.
        self.seen_files: dict[tuple[int, int], str] = {}
        self.seen_dirs: set[tuple[int, int]] = set()
        self.links: list[tuple[str, str, bool]] = []
        try:
            st = os.stat(os.path.join(root, rules.start))
            self.seen_dirs.add((st.st_dev, st.st_ino))
        except OSError:
            pass

    def problem(self, name: str, message: str, severity: str = "warning") -> None:
        shown = printable(name)
        if self.problems is not None:
            self.problems.append(Problem(shown, message, severity=severity))  # type: ignore[arg-type]
        elif severity == "error":
            log.error("%s: %s", shown, message)
        else:
            log.warning("%s: %s", shown, message)

    def folder(
        self, prefix: str, folder: str, inside: bool, top: bool = False, linked: bool = False
    ) -> Iterator[Entry]:
        """The files under `folder`; `linked` when it was reached through a
        link, where every file is checked against those already met."""
        rules = self.rules
        is_post = rules.post
        stack = [(prefix, folder, inside)]
        while stack:
            prefix, folder, inside = stack.pop()
            entries = self.entries(prefix, folder, top)
            if entries is None:
                continue
            subfolders = []
            for entry in entries:
                name = entry.name
                rel = f"{prefix}{name}"
                try:
                    # d_type answers these without a system call; a symbolic
                    # link is neither a file nor a folder for them.
                    if entry.is_file(follow_symlinks=False):
                        if not is_post(rel, name, inside):
                            continue
                        if not name.isascii() and not _utf8(rel, self):
                            continue
                        st = entry.stat(follow_symlinks=False)
                        # Only a hard-linked file can be met again under a real name.
                        if (st.st_nlink == 1 and not linked) or self.first_name(rel, st):
                            yield rel, entry.path, st
                    elif entry.is_dir(follow_symlinks=False):
                        into = rules.folder(rel, name, inside)
                        if into is None:
                            continue
                        if not name.isascii() and not _utf8(rel, self, folder=True):
                            continue
                        st = entry.stat(follow_symlinks=False)
                        if (st.st_dev, st.st_ino) not in self.seen_dirs:
                            self.seen_dirs.add((st.st_dev, st.st_ino))
                            subfolders.append((f"{rel}/", entry.path, into))
                    elif entry.is_symlink() and (
                        rules.post(rel, name, inside) or rules.folder(rel, name, inside)
                        is not None
                    ):
                        self.links.append((rel, entry.path, inside))
                except FileNotFoundError:
                    continue  # removed while we looked
                except OSError as exc:
                    self.problem(rel, f"skipped: {exc.strerror}")
            stack.extend(reversed(subfolders))

    def entries(self, prefix: str, folder: str, top: bool) -> list[os.DirEntry[str]] | None:
        """The folder's entries in name order, noting its mtime when asked to
        (`listed`); None when it cannot be listed (a warning says so) or, at
        the top, does not exist (no files). Once per folder, not per file."""
        mtime = -1
        try:
            if self.listed is not None:
                mtime = os.stat(folder).st_mtime_ns
            entries = sorted(os.scandir(folder), key=_name)
        except OSError as exc:
            if top and prefix == self.rules.start:
                if isinstance(exc, FileNotFoundError):
                    return None  # (the top folder is the only one on the stack)
                raise
            self.problem(prefix.rstrip("/") or folder,
                         f"cannot list folder: {exc.strerror}; skipped")
            if self.listed is not None:
                self.listed.append((folder, -1))  # no mtime to trust: never "unchanged"
            return None
        if self.listed is not None:
            self.listed.append((folder, mtime))
        return entries

    def link(self, name: str, path: str, inside: bool) -> Iterator[Entry]:
        """A symbolic link met by the walk: followed if it may be, once."""
        base = name.rpartition("/")[2]
        is_post = self.rules.post(name, base, inside)
        try:
            st = os.stat(path)
            real = os.path.realpath(path)
        except OSError as exc:
            if exc.errno == errno.ELOOP:
                self.problem(name, "symbolic link loop: skipped")
            elif is_post:
                self.problem(name, f"symbolic link to nothing ({exc.strerror}): skipped")
            return
        into = self.rules.folder(name, base, inside) if stat.S_ISDIR(st.st_mode) else None
        if not self.follow and not _inside(real, self.real_root):
            if is_post or into is not None:
                self.problem(
                    name,
                    "symbolic link to a file outside the posts folder: not followed "
                    "(set [content] follow_symlinks = true in publisher.toml to publish it)",
                )
            return
        if stat.S_ISDIR(st.st_mode):
            if into is None or not _utf8(name, self, folder=True):
                return
            if (st.st_dev, st.st_ino) in self.seen_dirs:
                self.problem(
                    name, "symbolic link to a folder already read (a loop?): not followed"
                )
                return
            self.seen_dirs.add((st.st_dev, st.st_ino))
            yield from self.folder(f"{name}/", path, into, linked=True)
        elif stat.S_ISREG(st.st_mode) and is_post and _utf8(name, self):
            walked = self.walked_name(real)
            if walked is not None:
                self.problem(name, f"the same file as {printable(walked)}: published once, "
                                   "under that name")
            elif self.first_name(name, st):
                yield name, path, st

    def walked_name(self, real: str) -> str | None:
        """The name under which the walk itself (no links) met the file at the
        real path `real`, or None if it did not: the rules, folder by folder."""
        if not _inside(real, self.real_root) or real == self.real_root:
            return None
        relative = os.path.relpath(real, self.real_root).replace(os.sep, "/")
        start = self.rules.start
        if not relative.startswith(start):
            return None
        *folders, name = relative[len(start):].split("/")
        prefix, inside = start, False
        for part in folders:
            into = self.rules.folder(f"{prefix}{part}", part, inside)
            if into is None:
                return None
            prefix, inside = f"{prefix}{part}/", into
        return relative if self.rules.post(f"{prefix}{name}", name, inside) else None

    def first_name(self, name: str, st: os.stat_result) -> bool:
        """True the first time this file is met; a warning when it is met again."""
        key = (st.st_dev, st.st_ino)
        first = self.seen_files.setdefault(key, name)
        if first != name:
            self.problem(name, f"the same file as {printable(first)}: published once, "
                               "under that name")
            return False
        return True


def _inside(real: str, real_root: str) -> bool:
    return real == real_root or real.startswith(real_root.rstrip(os.sep) + os.sep)


def _utf8(name: str, walk: _Walk, folder: bool = False) -> bool:
    """False, with an error, for a name with bytes that are not UTF-8."""
    try:
        name.encode("utf-8")
    except UnicodeEncodeError:
        what = "folder" if folder else "file"
        then = "its posts are skipped" if folder else "skipped"
        walk.problem(name, f"the {what} name is not valid UTF-8: {then}; rename it",
                     severity="error")
        return False
    return True


def _name(entry: os.DirEntry[str]) -> str:
    return entry.name
