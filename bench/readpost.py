"""Time `posts.read_post` per post, stage by stage, on generated posts (a few seconds).

    python -m bench.readpost                      # 2,000 real-size posts in a temporary folder
    python -m bench.readpost --count 500 --profile short
    python -m bench.readpost --folder DIR         # posts already written (read only)

Each stage is timed over all the posts, several passes, and the best pass is
kept (the files are in the page cache after the first one): read_text, the
front matter split, the YAML load (safeyaml.Handler.load_with_notes) and the
whole read_post. "build" is read_post minus the other three: building the Post.
"""

from __future__ import annotations

import argparse
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

from publisher.config import settings as config_module
from publisher.content import posts, safeyaml

from . import generate, run


def best_pass(files: list[Path], work: Callable[[Path], object], passes: int) -> float:
    """Microseconds per file of the fastest of `passes` passes over `files`."""
    best = float("inf")
    for _ in range(passes):
        started = time.perf_counter()
        for path in files:
            work(path)
        best = min(best, time.perf_counter() - started)
    return best / len(files) * 1e6


def measure(folder: Path, passes: int) -> dict[str, float]:
    files = sorted(folder.glob("*.md"))
    with tempfile.TemporaryDirectory(prefix="readpost-site-") as site:
        (Path(site) / "publisher.toml").write_text(run.site_config(), encoding="utf-8")
        config = config_module.load(Path(site) / "publisher.toml")
    handler = safeyaml.Handler()
    texts = {}
    fronts = {}

    def read(path: Path) -> None:
        result = posts.read_text(path, path.name)
        assert isinstance(result, posts._Text)
        texts[path] = result.text

    def split(path: Path) -> None:
        parts = posts.split_front_matter(texts[path])
        assert parts is not None
        fronts[path] = parts[0]

    def load(path: Path) -> None:
        handler.load_with_notes(fronts[path])

    def whole(path: Path) -> None:
        posts.read_post(path, folder, config, [], size=1, name=path.name)

    stages = {
        "read_text": best_pass(files, read, passes),
        "split": best_pass(files, split, passes),
        "yaml": best_pass(files, load, passes),
        "read_post": best_pass(files, whole, passes),
    }
    stages["build"] = stages["read_post"] - stages["read_text"] - stages["split"] - stages["yaml"]
    return stages


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.readpost", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--count", type=int, default=2000)
    parser.add_argument("--profile", choices=generate.PROFILES, default="real")
    parser.add_argument("--folder", type=Path, help="read these posts instead of generating")
    parser.add_argument("--passes", type=int, default=5)
    args = parser.parse_args(argv)
    if args.folder is not None:
        stages = measure(args.folder, args.passes)
    else:
        with tempfile.TemporaryDirectory(prefix="readpost-posts-") as temp:
            generate.write_posts(Path(temp), args.count, profile=args.profile)
            stages = measure(Path(temp), args.passes)
    for stage in ("read_text", "split", "yaml", "build", "read_post"):
        print(f"{stage:>10} {stages[stage]:7.1f} µs/post")


if __name__ == "__main__":
    main()
