"""The digest archive: every issued digest, newest first, linking to its public copy.

The same list is a page of `publisher serve` (`/archive/`) and a static file,
`out/digest/index.html`, rewritten when a digest is issued, so a site on a
static host has its archive too. Both are rendered from `[web] templates`
(each file falling back to the one shipped in the package).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import jinja2

from ..config.settings import Config
from ..errors import TemplateError
from ..files import write_if_changed
from ..store.store import Store
from .letter import template_environment, web_url

PACKAGE_TEMPLATES = Path(__file__).parents[1] / "templates" / "web"
INDEX_TEMPLATE = "archive-index.html"


@dataclass(frozen=True)
class Entry:
    slug: str
    subject: str
    date_text: str  # in the site timezone, e.g. "2 March 2026"
    iso_date: str
    posts: int
    url: str  # the public copy, absolute
    file: str  # its name next to out/digest/index.html


def web_environment(config: Config) -> jinja2.Environment:
    """Jinja for the list's pages: `[web] templates` first, then the package's own."""
    return template_environment(
        config.resolve(config.web.templates), PACKAGE_TEMPLATES, autoescape=True
    )


def entries(config: Config, state: Store) -> list[Entry]:
    result = []
    for issued in state.digests.issued():
        local = issued.issued_at.astimezone(config.tz)
        result.append(
            Entry(
                slug=issued.slug,
                subject=issued.subject,
                date_text=f"{local:%-d %B %Y}",
                iso_date=f"{local:%Y-%m-%d}",
                posts=issued.posts,
                url=web_url(config, issued.slug),
                file=f"{issued.slug}.html",
            )
        )
    return result


def site_context(config: Config) -> dict[str, str]:
    return {
        "title": config.site.title,
        "url": config.site_url,
        "description": config.site.description,
        "language": config.site.language,
    }


def render_index(config: Config, items: list[Entry]) -> str:
    """The static out/digest/index.html: self-contained, relative links."""
    try:
        template = web_environment(config).get_template(INDEX_TEMPLATE)
        return template.render(site=site_context(config), entries=items)
    except jinja2.TemplateError as exc:
        raise TemplateError(f"{INDEX_TEMPLATE}: {exc}") from exc


def write_index(config: Config, state: Store) -> bool:
    """Rewrite out/digest/index.html if its bytes change. True when written."""
    html = render_index(config, entries(config, state))
    return write_if_changed(config.out_dir / "digest" / "index.html", html.encode("utf-8"))
