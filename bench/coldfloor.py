"""The least a cold publish written in Python with publisher's libraries can cost.

    python bench/coldfloor.py POSTS_FOLDER

Run by bench.run as the "coldfloor" scenario, with the interpreter of the
command measured (so the same installed libraries). It does only what every
cold build must do before it can decide anything, and nothing else:

- start Python and import the libraries a cold `publish` uses (the CLI's,
  the feeds', Markdown's, the templates' and the CSS inliner's);
- list the posts folder;
- on every core (worker processes, as publisher does), read each post and
  parse its front matter with publisher's own fast reader (`plainyaml`;
  libyaml for the few it declines). The front matter must be read: it may
  change the post's date, address or visibility, so which posts a feed shows
  is unknown until every post has been read.

No post model, feed, digest, state or cache is built, so a real cold publish
costs more than this; the bench shows it beside Hugo to tell which share of
Hugo's time is left for those. Self-contained on purpose: it imports nothing
from bench/ and only `plainyaml` from publisher.
"""

from __future__ import annotations

import os
import sys
from concurrent.futures import ProcessPoolExecutor

# What a cold publish imports besides publisher's own modules.
import click  # noqa: F401
import feedgen.feed  # noqa: F401
import jinja2  # noqa: F401
import markdown_it  # noqa: F401
import premailer  # noqa: F401
import yaml

from publisher.content.plainyaml import parse


def front_matter(paths: list[str]) -> int:
    """Read each file and parse its front matter; how many keys were read in all
    (returned so that the work cannot be skipped)."""
    loader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
    keys = 0
    for path in paths:
        fd = os.open(path, os.O_RDONLY)
        try:
            data = os.read(fd, 1 << 20)
        finally:
            os.close(fd)
        text = data.decode("utf-8")
        end = text.find("\n---", 3)
        if not text.startswith("---") or end < 0:
            continue
        fm = text[4:end]
        meta = parse(fm)
        if meta is None:
            meta = yaml.load(fm, Loader=loader)  # noqa: S506 (a safe loader)
        keys += len(meta) if isinstance(meta, dict) else 0
    return keys


def main(folder: str) -> int:
    paths = sorted(e.path for e in os.scandir(folder) if e.name.endswith(".md"))
    workers = min(os.cpu_count() or 1, 8)
    size = max(200, len(paths) // (workers * 4) + 1)  # the chunking publisher uses
    chunks = [paths[i : i + size] for i in range(0, len(paths), size)]
    with ProcessPoolExecutor(workers) as pool:
        keys = sum(pool.map(front_matter, chunks))
    print(f"{len(paths)} posts, {keys} front matter keys read")
    return 0 if paths else 1


if __name__ == "__main__":
    sys.exit(main(sys.argv[1]))
