"""The list's pages, rendered from `[web] templates` (each file overridable)."""

from __future__ import annotations

from typing import Any

import jinja2
from markupsafe import escape
from starlette.responses import HTMLResponse

from ..app.signups import mask, site_context, web_environment
from ..config.settings import Config
from ..errors import TemplateError

HTML = "text/html; charset=utf-8"
__all__ = ["HTML", "Pages", "fallback_error", "mask"]


class Pages:
    def __init__(self, config: Config, base: str, prefix: str) -> None:
        self.env = web_environment(config)
        self.common: dict[str, Any] = {
            "site": site_context(config),
            "base": base,
            "prefix": prefix,
            "confirm_hours": config.web.confirm_hours,
        }

    def text(self, template: str, /, **context: Any) -> str:
        try:
            return self.env.get_template(template).render({**self.common, **context})
        except jinja2.TemplateError as exc:
            raise TemplateError(f"page template {template} failed: {exc}") from exc

    def page(self, template: str, code: int = 200, /, **context: Any) -> HTMLResponse:
        return HTMLResponse(self.text(template, **context), status_code=code, media_type=HTML)

    def error(self, status: int, title: str, message: str, hint: str = "") -> HTMLResponse:
        return self.page("error.html", status, title=title, message=message, hint=hint)


def fallback_error(status: int, title: str) -> HTMLResponse:
    """When even the templates fail: a plain page, still never a traceback."""
    body = (
        '<!DOCTYPE html><html lang="en"><head><meta charset="utf-8">'
        f"<title>{escape(title)}</title></head><body><h1>{escape(title)}</h1>"
        "<p>Please try again later.</p></body></html>"
    )
    return HTMLResponse(body, status_code=status, media_type=HTML)
