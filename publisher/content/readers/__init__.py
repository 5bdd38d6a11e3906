"""Post readers, one per dialect of site, behind one interface.

`posts.read_post` does what every dialect does alike (read the file, split and
parse its front matter), looks up the site's reader once with `reader_for`, asks
it for the post's `Core` (what that dialect decides its own way: title, date,
URL, id, visibility), then finishes the Post with the step they all share.

- `values`: what readers share: file formats, front matter keys, dates, site URLs
- `finish`: `Core` and `finish`, the Post from a Core
- `plain`: a plain posts folder (`[content] posts`)
- `jekyll`: a Jekyll site's posts (`[jekyll] site`), by `publisher.jekyll.document`

A new dialect is one new module with the names `Reader` lists, and one entry in
READERS and in `reader_for`. (A reader is a module: it keeps no state.)
"""

from __future__ import annotations

from typing import Any, Protocol

from ...config.settings import Config
from ...model import Problem
from . import jekyll, plain
from .finish import Core


class Reader(Protocol):
    """What a reader module provides (mypy checks each one against this)."""

    # Front matter keys whose miscased spelling the reader notes itself,
    # with what it did instead (`read_post` notes the others).
    NOTES_MISCASED: frozenset[str]

    def without_front_matter(
        self, name: str, text: str, problems: list[Problem]
    ) -> tuple[str, str, int] | None:
        """A file with no front matter: the (front matter, body, body line) to
        read it with, or None when it is not a post (`problems` says why, if it
        looked like one)."""
        ...

    def core(
        self,
        path: str,
        name: str,
        meta: dict[str, Any],
        fm_text: str,
        body: str,
        body_line: int,
        config: Config,
        problems: list[Problem],
    ) -> Core | None:
        """What this dialect makes of the post, or None when it is not
        published (`problems` says why). Raises `values.Invalid` on a front
        matter value that cannot be published."""
        ...


READERS: dict[str, Reader] = {"plain": plain, "jekyll": jekyll}


def reader_for(config: Config) -> Reader:
    """The reader for the dialect of the site `config` publishes: the one
    place that is decided (once per post, so one lookup)."""
    return READERS["jekyll" if config.jekyll_site is not None else "plain"]
