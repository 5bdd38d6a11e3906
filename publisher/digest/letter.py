"""Render the digest email: Jinja2 templates, CSS inlined once, size-budgeted.

Personal parts (the subscriber's name, their unsubscribe link) are rendered as
marker strings and swapped in afterwards by `personalise`, so premailer runs
once per digest and not once per subscriber.
"""

from __future__ import annotations

import html as htmllib
import logging
import unicodedata
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime
from email import quoprimime
from pathlib import Path
from typing import Any

import jinja2
from markupsafe import Markup

from ..config.settings import Config
from ..content.render import Rendered, for_email
from ..errors import TemplateError
from ..feeds.atom_rss import feed_url
from ..files import reason

PACKAGE_TEMPLATES = Path(__file__).parents[1] / "templates" / "email"
# HTML templates are escaped, the plain-text ones are not.
EMAIL_AUTOESCAPE = jinja2.select_autoescape(["html", "htm"], default_for_string=True)
HTML_TEMPLATE = "digest.html"
TEXT_TEMPLATE = "digest.txt"

# Letters, digits and hyphens only: they survive HTML escaping, URL escaping in
# attributes and CSS inlining unchanged.
NAME_MARK = "PUBLISHER-SUBSCRIBER-NAME-2f8c"
UNSUBSCRIBE_MARK = "PUBLISHER-UNSUBSCRIBE-URL-2f8c"
# The public copy's URL ("View in browser"): known only once the digest's slug
# is, when it is issued (`with_web_url`).
WEB_MARK = "PUBLISHER-WEB-COPY-URL-2f8c"
# What a personal link may add to the HTML once swapped in, per occurrence.
PERSONAL_SLACK = 600
# A name is at most 200 characters (subscribers.py), up to ~6 bytes each escaped.
NAME_SLACK = 1200
FRONT_MATTER_EXCERPT_LIMIT = 1000
DEFAULT_NAME = "there"  # "Hi there," when a subscriber gave no name
PREHEADER_LIMIT = 110  # characters inbox previews show, at most
TEXT_WIDTH = 72  # columns of the plain-text part


@dataclass(frozen=True)
class Letter:
    subject: str
    html: str  # CSS inlined, with markers
    text: str  # with markers
    posts: tuple[Rendered, ...]
    more: int


def subject_line(config: Config, posts: Sequence[Rendered], total: int, when: datetime) -> str:
    first = posts[0].post.title if posts else ""
    raw = config.digest.subject.format(
        site=config.site.title,
        first_title=first,
        count=total,
        new_posts=new_posts(total),
        date=when.strftime("%Y-%m-%d"),
    )
    # Never let a newline from a title reach a mail header.
    return " ".join(raw.split())


def new_posts(count: int) -> str:
    """"1 new post", "3 new posts": by the total, the ones behind "N more" too."""
    return f"{count} new {'post' if count == 1 else 'posts'}"


def cut(text: str, limit: int) -> str:
    """`text` shortened to at most `limit` characters at a word boundary, with
    "…"; text without spaces (Chinese, Japanese) is cut between characters."""
    text = " ".join(text.split())
    if len(text) <= limit:
        return text
    head = text[: limit - 1]
    space = head.rfind(" ")
    if space > limit // 2:
        head = head[:space]
    return head.rstrip(" ,;:.—–-") + "…"


def display_width(text: str) -> int:
    """Columns `text` takes in a terminal or a monospaced mail reader: East Asian
    wide and fullwidth characters take two, combining marks none."""
    return sum(_char_width(c) for c in text)


def _char_width(char: str) -> int:
    if unicodedata.combining(char) or char in "\u200b\u200c\u200d\ufeff":
        return 0
    return 2 if unicodedata.east_asian_width(char) in ("W", "F") else 1


# A line should not start with these (Japanese line breaking, kinsoku).
_NO_LINE_START = set(
    "、。，．,.!?！？：；:;)）]］｝」』〉》】〕・ー々ゝゞ" "ぁぃぅぇぉっゃゅょァィゥェォッャュョ"
)


def wrap(text: str, width: int = TEXT_WIDTH) -> str:
    """Wrap `text` to `width` columns by display width, breaking at spaces or
    between wide characters (CJK has no spaces); a word longer than a line
    (a URL) stays whole on its own line."""
    lines: list[str] = []
    for paragraph in text.split("\n"):
        lines.extend(_wrap_line(paragraph, width) or [""])
    return "\n".join(lines)


def _wrap_line(text: str, width: int) -> list[str]:
    # Tokens: runs of narrow non-space characters, single wide characters, spaces.
    tokens: list[str] = []
    for char in text:
        wide = _char_width(char) == 2
        if char == " " or wide or not tokens or tokens[-1] == " " or \
                _char_width(tokens[-1][-1]) == 2:
            tokens.append(char)
        else:
            tokens[-1] += char
    lines: list[list[str]] = []
    line: list[str] = []
    for token in tokens:
        if token == " ":
            if line:
                line.append(token)
            continue
        if display_width("".join(line) + token) > width and "".join(line).strip():
            carried: list[str] = []
            if token[0] in _NO_LINE_START and len(line) > 1:
                # Kinsoku: punctuation may not start a line; take the character
                # before it along instead of letting the line run over.
                carried = [line.pop()]
            lines.append(line)
            line = carried
        line.append(token)
    if "".join(line).strip():
        lines.append(line)
    return ["".join(tokens).rstrip() for tokens in lines]


def template_environment(
    site_folder: Path,
    package_folder: Path,
    autoescape: bool | Callable[[str | None], bool] = EMAIL_AUTOESCAPE,
) -> jinja2.Environment:
    """Jinja with the site's templates first, each file falling back to the
    package's own; a missing variable is an error, never an empty string."""
    loaders: list[jinja2.BaseLoader] = []
    if site_folder.is_dir():
        loaders.append(jinja2.FileSystemLoader(site_folder))
    loaders.append(jinja2.FileSystemLoader(package_folder))
    return jinja2.Environment(
        loader=jinja2.ChoiceLoader(loaders),
        autoescape=autoescape,
        undefined=jinja2.StrictUndefined,
        keep_trailing_newline=True,
    )


def _environment(config: Config) -> jinja2.Environment:
    env = template_environment(config.resolve(config.digest.templates), PACKAGE_TEMPLATES)
    env.filters["wrap"] = wrap
    return env


def _post_context(item: Rendered, config: Config) -> dict[str, Any]:
    post = item.post
    excerpt = item.excerpt
    if len(excerpt) > FRONT_MATTER_EXCERPT_LIMIT:
        excerpt = excerpt[:FRONT_MATTER_EXCERPT_LIMIT].rsplit(" ", 1)[0] + "…"
    local = post.date.astimezone(config.tz)
    return {
        "title": post.title,
        "url": post.url,
        "date": local,
        "date_text": f"{local:%-d %B %Y}",
        "author": post.author.name if post.author else "",
        "image_url": post.image.url if post.image else "",
        "image_alt": post.image.alt if post.image else "",
        "excerpt": excerpt,
        "categories": post.categories,
        "tags": post.tags,
        # Available to custom templates; the default one shows excerpts only.
        "content_html": Markup(for_email(item.html)),
    }


def _render_once(
    env: jinja2.Environment,
    config: Config,
    posts: Sequence[Rendered],
    more: int,
    subject: str,
    when: datetime,
) -> tuple[str, str]:
    context = {
        "site": {
            "title": config.site.title,
            "url": config.site_url,
            "description": config.site.description,
            "language": config.site.language,
        },
        "subject": subject,
        "issue_date": when,
        "posts": [_post_context(p, config) for p in posts],
        "more": more,
        "total": len(posts) + more,
        "new_posts": new_posts(len(posts) + more),
        # The archive lists every digest; the posts behind "N more" are in this one's.
        "more_url": archive_url(config),
        "preheader": _preheader(posts),
        "postal_address": config.digest.postal_address.strip(),
        "atom_url": feed_url(config, config.feeds.atom),
        "rss_url": feed_url(config, config.feeds.rss),
        "unsubscribe_url": UNSUBSCRIBE_MARK,
        "subscriber_name": NAME_MARK,
        "web_url": WEB_MARK,
    }
    try:
        html = env.get_template(HTML_TEMPLATE).render(context)
        text = env.get_template(TEXT_TEMPLATE).render(context)
    except jinja2.TemplateSyntaxError as exc:
        raise TemplateError(
            f"{exc.filename or exc.name}:{exc.lineno}: template syntax error: {exc.message}"
        ) from exc
    except jinja2.TemplateError as exc:
        raise TemplateError(f"email template failed: {exc}") from exc
    except OSError as exc:
        # A site template that is there but cannot be read (jinja2 skips missing ones).
        where = exc.filename or config.resolve(config.digest.templates)
        raise TemplateError(
            f"{where}: cannot read the email template: {reason(exc)}",
            hint="check that this user may read it, or remove it to use the built-in one",
        ) from exc
    except UnicodeDecodeError as exc:
        raise TemplateError(
            f"{config.resolve(config.digest.templates)}: an email template is not UTF-8: "
            f"byte 0x{exc.object[exc.start]:02x} cannot be decoded",
            hint="save the templates as UTF-8",
        ) from exc
    return inline_css(html), text


def _preheader(posts: Sequence[Rendered]) -> str:
    """The inbox preview line: the first post's excerpt (else its title), cut at a word."""
    if not posts:
        return ""
    first = posts[0]
    return cut(first.excerpt or first.post.title, PREHEADER_LIMIT)


def archive_url(config: Config) -> str:
    """The archive of issued digests, out/digest/index.html on the site."""
    return f"{config.site_url}digest/index.html"


def encoded_size(body: str) -> int:
    """Bytes `body` takes in a message: quoted-printable or base64, whichever is
    smaller, as mail/messages.py chooses (Gmail clips on what it receives)."""
    raw = body.replace("\r\n", "\n").encode("utf-8")
    qp = len(quoprimime.body_encode(raw.decode("latin-1"), 75, "\r\n"))
    chars = 4 * ((len(raw) + 2) // 3)
    return min(qp, chars + 2 * (chars // 76))


def inline_css(html: str) -> str:
    # lazy: premailer (~0.3 s with requests and cssutils) only for a digest to issue
    from premailer import Premailer  # noqa: PLC0415

    return str(
        Premailer(
            html,
            # Media-query overrides for mobile need their !important.
            strip_important=False,
            allow_network=False,
            allow_loading_external_files=False,
            disable_validation=True,
            # `height: auto` must not become height="auto": not a valid
            # attribute value, and Outlook draws the image 0 or full height.
            disable_basic_attributes=["height"],
            cssutils_logging_level=logging.CRITICAL,
            cssutils_logging_handler=logging.NullHandler(),
            remove_classes=False,
            # It reads every image's style with cssutils' validation on, which
            # compiles cssutils' whole grammar first: ~0.5 s per process, for
            # nothing when no image floats (the built-in templates float none).
            align_floating_images="float" in html,
        ).transform()
    )


def compose(
    config: Config, posts: Sequence[Rendered], when: datetime, total: int | None = None
) -> Letter:
    """The digest letter for `posts` (newest first), within the size budget.

    `total` counts every selected post; only the first `max_posts` need to be
    rendered and passed in, the rest are only counted ("and N more").
    """
    env = _environment(config)
    total = len(posts) if total is None else total
    count = min(total, config.digest.max_posts)
    budget = config.digest.max_html_bytes
    subject = subject_line(config, posts, total, when)
    while True:
        html, text = _render_once(env, config, posts[:count], total - count, subject, when)
        # The encoded part is what a mail client receives and Gmail clips: a
        # CJK character is 3 bytes of UTF-8 but 9 quoted-printable, 4 base64.
        slack = PERSONAL_SLACK * html.count(UNSUBSCRIBE_MARK) + NAME_SLACK * html.count(
            NAME_MARK
        )
        size = encoded_size(html) + slack * 3 // 2
        if size <= budget or count <= 1:
            break
        # Shrink in proportion, but always by at least one post.
        count = max(1, min(count - 1, int(count * budget / size)))
    return Letter(
        subject=subject, html=html, text=text, posts=tuple(posts[:count]), more=total - count
    )


def personalise(html: str, text: str, name: str, unsubscribe_url: str) -> tuple[str, str]:
    """Swap the markers for one subscriber's values (plain string work)."""
    shown_name = name.strip() or DEFAULT_NAME
    html = html.replace(NAME_MARK, htmllib.escape(shown_name)).replace(
        UNSUBSCRIBE_MARK, htmllib.escape(unsubscribe_url)
    )
    text = text.replace(NAME_MARK, shown_name).replace(UNSUBSCRIBE_MARK, unsubscribe_url)
    return html, text


def public_copy(config: Config, html: str, text: str) -> tuple[str, str]:
    """The web copy in out/: nobody's name, no personal token."""
    url = config.delivery.unsubscribe_url or config.site_url
    html, text = with_web_url(config, html, text, "latest")
    return personalise(html, text, "", url)


def web_url(config: Config, slug: str) -> str:
    """Where the public copy of digest `slug` is: out/digest/<slug>.html on the site."""
    return f"{config.site_url}digest/{slug}.html"


def with_web_url(config: Config, html: str, text: str, slug: str) -> tuple[str, str]:
    """Fill in the "View in browser" link for digest `slug` (a no-op once filled)."""
    url = web_url(config, slug)
    return html.replace(WEB_MARK, htmllib.escape(url)), text.replace(WEB_MARK, url)
