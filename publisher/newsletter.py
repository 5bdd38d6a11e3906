"""Render the digest email: Jinja2 templates, CSS inlined once, size-budgeted.

Personal parts (the subscriber's name, their unsubscribe link) are rendered as
marker strings and swapped in afterwards by `personalise`, so premailer runs
once per digest and not once per subscriber.
"""

from __future__ import annotations

import html as htmllib
import logging
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

import jinja2
from markupsafe import Markup

from .config import Config
from .errors import TemplateError
from .feeds import feed_url
from .files import reason
from .render import Rendered, for_email

PACKAGE_TEMPLATES = Path(__file__).parent / "templates" / "email"
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
        date=when.strftime("%Y-%m-%d"),
    )
    # Never let a newline from a title reach a mail header.
    return " ".join(raw.split())


def _environment(config: Config) -> jinja2.Environment:
    loaders: list[jinja2.BaseLoader] = []
    site_templates = config.resolve(config.digest.templates)
    if site_templates.is_dir():
        loaders.append(jinja2.FileSystemLoader(site_templates))
    loaders.append(jinja2.FileSystemLoader(PACKAGE_TEMPLATES))
    return jinja2.Environment(
        loader=jinja2.ChoiceLoader(loaders),
        autoescape=jinja2.select_autoescape(["html", "htm"], default_for_string=True),
        undefined=jinja2.StrictUndefined,
        keep_trailing_newline=True,
    )


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
        "more_url": config.site_url,
        "preheader": " · ".join(p.post.title for p in posts)[:150],
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


def inline_css(html: str) -> str:
    from premailer import Premailer

    return str(
        Premailer(
            html,
            # Media-query overrides for mobile need their !important.
            strip_important=False,
            allow_network=False,
            allow_loading_external_files=False,
            disable_validation=True,
            cssutils_logging_level=logging.CRITICAL,
            cssutils_logging_handler=logging.NullHandler(),
            remove_classes=False,
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
        size = (
            len(html.encode("utf-8"))
            + PERSONAL_SLACK * html.count(UNSUBSCRIBE_MARK)
            + NAME_SLACK * html.count(NAME_MARK)
        )
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
