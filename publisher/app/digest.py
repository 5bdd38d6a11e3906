"""`digest`: preview the next digest, mail a test copy of it, or put a post
into it (`--include`)."""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import datetime
from pathlib import Path

from ..config.settings import Config
from ..digest.letter import Letter, compose, public_copy, with_web_url
from ..errors import ContentError
from ..incremental.cache import RunGuard
from ..mail.delivery import send_test as run_send_test
from ..model import Post, Site
from ..store.store import Store
from .site import load, next_selection, renderer_for


def preview(config: Config, now: datetime) -> tuple[Site, Letter | None]:
    """The next digest's letter, rendered but not recorded; None if nothing is new."""
    site, selection = next_selection(config, now)
    if not selection.posts:
        return site, None
    shown = selection.posts[: config.digest.max_posts]
    letter = compose(config, renderer_for(config, site, now)(shown), now,
                     total=len(selection.posts))
    # Not issued, so it has no page of its own yet: link to the latest one.
    html, text = with_web_url(config, letter.html, letter.text, "latest")
    return site, replace(letter, html=html, text=text)


def public_body(config: Config, letter: Letter, fmt: str) -> str:
    """The letter as the web copy shows it (nobody's name, no token): "html" or "text"."""
    html, text = public_copy(config, letter.html, letter.text)
    return html if fmt == "html" else text


@dataclass(frozen=True)
class TestCopy:
    """Where `digest --test-to` sent its copy, and of which digest; `which`
    is "" when there was nothing to send."""

    which: str
    where: str = ""


def send_test(config: Config, address: str, now: datetime, letter: Letter | None) -> TestCopy:
    """One copy of `letter` (the next digest, from `preview`), else of the
    last digest issued, to `address`; nothing recorded."""
    if letter is not None:
        subject, html, text = letter.subject, letter.html, letter.text
        which = "the next digest"
    else:
        with Store.open(config.state_file) as state:
            record = state.digests.last()
        if record is None:
            return TestCopy("")
        subject, html, text = record.subject, record.html, record.text
        which = f"digest {record.slug} (no new posts for a next one)"
    return TestCopy(which, run_send_test(config, address, subject, html, text, now))


@dataclass(frozen=True)
class Included:
    """A post `digest --include` put into the next digest; `changed` is False
    when it was going there already."""

    post: Post
    changed: bool


def include(config: Config, now: datetime, files: tuple[Path, ...]) -> tuple[Included, ...]:
    """`digest --include FILE`: mark each post pending for the next digest.

    Raises `ContentError`, changing nothing, for a file that is not a published
    post or a post already mailed."""
    site = load(config, now, include_future=True)
    by_path = {Path(p.path).resolve(): p for p in site.posts}
    posts = [_post_of(config, by_path, file) for file in files]
    with Store.open(config.state_file) as state:
        for post in posts:
            slug = state.digests.first_with(post.key)
            if slug is not None:
                raise ContentError(
                    f"{post.name}: already mailed in digest {slug}",
                    hint="a post goes into one digest only; nothing was changed",
                )
        with state.transaction():
            changed = [state.seen.include(post, now) for post in posts]
    # The unchanged-run shortcut would otherwise replay "no new posts".
    RunGuard.forget(config)
    return tuple(Included(p, c) for p, c in zip(posts, changed, strict=True))


def _post_of(config: Config, by_path: dict[Path, Post], file: Path) -> Post:
    for candidate in (file, config.posts_dir / file, config.root / file):
        post = by_path.get(candidate.resolve())
        if post is not None:
            return post
    raise ContentError(
        f"{file}: not a published post under {config.posts_dir}",
        hint="give the post's file, as `publish` and `check` name it; a draft or a "
        "post with `published: false` cannot be mailed",
    )
