"""The list's web application: subscribe, confirm, unsubscribe, manage, archive.

Routes (under `[web] base_url`):

    GET  /              the subscribe form
    POST /subscribe     form or JSON; always the same "check your inbox" answer
    GET  /confirm       a Confirm button; changes nothing (mail scanners follow links)
    POST /confirm       activates the subscription; idempotent
    GET  /unsubscribe   an Unsubscribe button, the address masked; changes nothing
    POST /unsubscribe   unsubscribes; `List-Unsubscribe=One-Click` (RFC 8058) answers 200
    GET  /manage        status, with resubscribe and unsubscribe buttons
    POST /manage        does what the button says
    GET  /archive/      every issued digest, newest first
    GET  /site/...      out/, for local preview (ETag, Last-Modified, 304)
    GET  /style.css     the pages' stylesheet; GET /health answers "ok"

A request never changes the store unless everything about it checked out,
and every error, expected or not, is a page (or JSON for a JSON request),
never a traceback. Logs show addresses masked and never a token.
"""

from __future__ import annotations

import hashlib
import logging
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from urllib.parse import quote, urlsplit

from starlette.applications import Starlette
from starlette.background import BackgroundTask
from starlette.exceptions import HTTPException
from starlette.middleware import Middleware
from starlette.requests import Request
from starlette.responses import JSONResponse, PlainTextResponse, Response
from starlette.routing import Route
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from ..app import signups
from ..app.mailer import MailWorker, mail_worker
from ..app.signups import ListKeys, Purpose, Standing, TokenError
from ..config.rules import raise_problems, web_problems
from ..config.settings import Config
from ..errors import PublisherError
from .db import Database
from .forms import (
    FormError,
    one_click,
    parse_form,
    read_body,
    read_fields,
    signup,
    token_from,
    wants_json,
)
from .limits import RateLimit
from .pages import Pages, fallback_error
from .security import SecurityHeaders, client_ip, networks, origin_allowed, origin_of
from .static import SitePreview

log = logging.getLogger(__name__)
Endpoint = Callable[[Request], Awaitable[Response]]

CHECK_INBOX = (
    "If the address can receive mail, a confirmation link is on its way. "
    "Nothing is sent until you confirm."
)
TOKEN_PAGES = {
    "malformed": (
        "This link is damaged",
        "The link is incomplete: part of it may have been cut off.",
        "Copy the whole link from the email into the address bar.",
    ),
    "forged": (
        "This link is not valid",
        "The link was changed, or it was not made for this list.",
        "Use the link exactly as it came in the email.",
    ),
    "expired": (
        "This link has expired",
        "Confirmation links work for a limited time, and this one is too old.",
        "Subscribe again to get a new link.",
    ),
    "purpose": (
        "This link is for something else",
        "This link does not do what this page does.",
        "Use the link for this from the right email.",
    ),
    "list": (
        "This link is for another list",
        "The link was made by another list, not by this one. Nothing was changed here.",
        "Use the link in an email from this list, or the page of the list that sent it.",
    ),
}

# The manage page's buttons: what each does, and what the page then says.
MANAGE = {
    "unsubscribe": (signups.unsubscribe, "You are unsubscribed. You will get no more digests."),
    "resubscribe": (signups.confirm, "You are subscribed again."),
}


@dataclass(frozen=True)
class Settings:
    base: str  # the public URL of the app, no trailing slash
    prefix: str  # its path ("" or "/list"): links in pages start with it
    origins: frozenset[str]  # what a browser POST may come from


def settings(config: Config, listen_base: str) -> Settings:
    base = (config.web.base_url or listen_base).rstrip("/")
    prefix = urlsplit(base).path.rstrip("/")
    origins = {origin_of(base), origin_of(config.site.url)} - {""}
    return Settings(base, prefix, frozenset(origins))


def create_app(
    config: Config,
    *,
    listen_base: str = "http://127.0.0.1:8080",
    environ: Mapping[str, str] | None = None,
    clock: Callable[[], float] = time.time,
) -> Starlette:
    """The application; raises PublisherError now if a setting or secret it needs is missing."""
    raise_problems(web_problems(config, urlsplit(listen_base).netloc))
    # Its message says what the secret is for; then this list's own keys.
    secret = signups.signing_keys(config, environ)
    where = settings(config, listen_base)
    pages = Pages(config, where.base, where.prefix)
    db = Database(config.state_file)
    # Sends what sign-ups queue, from its own thread; raises now if the
    # transport's settings or password are missing.
    mailer = mail_worker(config, environ, clock)
    handlers = Handlers(config, secret, where, pages, db, clock, mailer.wake)
    app = Starlette(
        routes=routes(handlers),
        middleware=[Middleware(AccessLog), Middleware(SecurityHeaders)],
        exception_handlers={
            HTTPException: handlers.http_error,
            Exception: handlers.server_error,
        },
        lifespan=lifespan(config, where, db, mailer),
    )
    app.router.redirect_slashes = False  # a redirect is one more thing to get wrong
    return app


def lifespan(
    config: Config, where: Settings, db: Database, mailer: MailWorker
) -> Callable[[Starlette], AbstractAsyncContextManager[None]]:
    """What runs while the app serves: the store's thread and the mail worker."""

    @asynccontextmanager
    async def serving(app: Starlette) -> AsyncIterator[None]:
        db.open()
        mailer.start()
        log.info("list pages at %s", where.base + "/")
        if not config.web.base_url:
            log.warning(
                "no [web] base_url: confirmation links point at %s/, which only this "
                "machine can open; set [web] base_url to the URL readers reach these "
                "pages at", where.base,
            )
        try:
            yield
        finally:
            mailer.stop()
            db.close()

    return serving


def routes(h: Handlers) -> list[Route]:
    return [
        Route(path, h.guard(endpoint), methods=[method])
        for path, method, endpoint in (
            ("/", "GET", h.home),
            ("/subscribe", "POST", h.subscribe),
            ("/confirm", "GET", h.confirm_page),
            ("/confirm", "POST", h.confirm),
            ("/unsubscribe", "GET", h.unsubscribe_page),
            ("/unsubscribe", "POST", h.unsubscribe),
            ("/manage", "GET", h.manage_page),
            ("/manage", "POST", h.manage),
            ("/archive", "GET", h.archive),
            ("/archive/", "GET", h.archive),
            ("/style.css", "GET", h.stylesheet),
            ("/health", "GET", h.health),
            ("/site", "GET", h.site),
            ("/site/{path:path}", "GET", h.site),
        )
    ]


class AccessLog:
    """One DEBUG line per request: method, path, status, time; never the query (tokens)."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        status = 0

        async def watch(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = int(message["status"])
            await send(message)

        try:
            await self.app(scope, receive, watch)
        finally:
            log.debug(
                "%s %s %d %.1f ms", scope["method"], scope["path"][:200], status,
                (time.perf_counter() - started) * 1000,
            )


class Handlers:
    def __init__(
        self,
        config: Config,
        secret: ListKeys,
        where: Settings,
        pages: Pages,
        db: Database,
        clock: Callable[[], float],
        wake_mailer: Callable[[], None],
    ) -> None:
        self.config = config
        self.secret = secret
        self.where = where
        self.pages = pages
        self.db = db
        self.clock = clock
        self.wake_mailer = wake_mailer
        self.trusted = networks(config.web.trusted_proxies)
        self.per_ip = RateLimit(config.web.rate_per_ip)
        self.per_address = RateLimit(config.web.rate_per_address)
        self.preview = SitePreview(config)
        self.css = pages.text("style.css").encode("utf-8")
        self.css_etag = '"' + hashlib.sha256(self.css).hexdigest()[:32] + '"'

    # -- helpers ----------------------------------------------------------------

    def guard(self, endpoint: Endpoint) -> Endpoint:
        """Any failure inside a page becomes the error page, logged without a
        traceback (which could carry an address); -v adds the traceback."""

        async def guarded(request: Request) -> Response:
            try:
                return await endpoint(request)
            except Exception as exc:
                return await self.server_error(request, exc)

        return guarded

    def now(self) -> datetime:
        return datetime.fromtimestamp(self.clock(), UTC)

    def link(self, path: str, token: str) -> str:
        return f"{self.where.prefix}{path}?token={quote(token, safe='')}"

    def manage_link(self, key: str) -> str:
        return self.link("/manage", signups.manage_token(self.secret, key))

    def problem(self, request: Request, status: int, title: str, message: str,
                hint: str = "") -> Response:
        if wants_json(request):
            return JSONResponse({"ok": False, "error": message}, status_code=status)
        return self.pages.error(status, title, message, hint)

    def token_problem(self, request: Request, exc: TokenError) -> Response:
        title, message, hint = TOKEN_PAGES[exc.reason]
        log.info("%s %s: token refused (%s)", request.method, request.url.path, exc.reason)
        return self.problem(request, 410 if exc.reason == "expired" else 400, title, message, hint)

    def verify(self, purpose: Purpose, token: str) -> str:
        return signups.check_token(self.secret, purpose, token, self.clock())

    def forbidden_origin(self, request: Request) -> Response | None:
        if origin_allowed(request, self.where.origins):
            return None
        log.info("%s %s: refused a POST from another site", request.method, request.url.path)
        return self.problem(
            request, 403, "Not allowed from here",
            "This form was sent from a site that may not use it.",
            "Use the form on the list's own page.",
        )

    # -- pages ----------------------------------------------------------------------

    async def home(self, request: Request) -> Response:
        return self.pages.page("subscribe.html", error="", email="", name="")

    async def subscribe(self, request: Request) -> Response:
        refused = self.forbidden_origin(request)
        if refused is not None:
            return refused
        ip = client_ip(request, self.trusted)
        if not self.per_ip.allow(ip):
            response = self.problem(
                request, 429, "Too many requests",
                "There were too many sign-ups from your network in the last hour.",
                "Please try again later.",
            )
            response.headers["retry-after"] = str(self.per_ip.retry_after(ip))
            return response
        try:
            fields = await read_fields(request)
        except FormError as exc:
            return self.problem(request, exc.status, "Something is wrong", exc.message)
        try:
            form = signup(fields)
        except FormError as exc:
            if wants_json(request):
                return self.problem(request, exc.status, "Something is wrong", exc.message)
            # The form again, with what was typed and what is wrong with it.
            return self.pages.page(
                "subscribe.html", exc.status, error=exc.message,
                email=fields.get("email", "")[:320], name=fields.get("name", "")[:200],
            )
        if form.bot:
            # The same answer as everyone gets, so a bot learns nothing.
            log.info("subscribe: honeypot filled in; ignored")
            return self.inbox(request)
        # The same work whatever the address's status, and whether or not a
        # mail may go: one transaction, two statements that both write, one
        # MAC (see `signups.subscribe`).
        now = self.now()
        made = signups.confirmation(self.secret, form.email, self.clock(),
                                    self.config.web.confirm_hours)
        allowed = self.per_address.allow(made.key)
        link = f"{self.where.base}/confirm?token={quote(made.token, safe='')}"
        subscriber = await self.db.write(
            lambda state: signups.subscribe(state, form.email, form.name, link, made.expires,
                                            now, allowed)
        )
        if allowed:
            log.info("subscribe: %s (%s), confirmation queued", subscriber.address,
                     subscriber.status)
        else:
            log.info("subscribe: %s over the per-address limit; no mail", subscriber.address)
        response = self.inbox(request)
        # Once the answer has gone out, never before it.
        response.background = BackgroundTask(self.wake_mailer)
        return response

    def inbox(self, request: Request) -> Response:
        if wants_json(request):
            return JSONResponse({"ok": True, "message": CHECK_INBOX})
        return self.pages.page("check-inbox.html", message=CHECK_INBOX)

    async def lookup(
        self, request: Request, purpose: Purpose
    ) -> Response | tuple[str, str, Standing | None]:
        """A GET page's token checked for `purpose`: (token, key, subscriber), or
        the page that says what is wrong with the token. Reads only."""
        token = token_from(request)
        try:
            key = self.verify(purpose, token)
        except TokenError as exc:
            return self.token_problem(request, exc)
        subscriber = await self.db.read(lambda state: signups.standing(state, key))
        return token, key, subscriber

    async def confirm_page(self, request: Request) -> Response:
        found = await self.lookup(request, "confirm")
        if isinstance(found, Response):
            return found
        token, _key, subscriber = found
        if subscriber is None:
            return self.not_listed(request)
        return self.pages.page(
            "confirm.html", address=subscriber.address, status=subscriber.status,
            action=self.link("/confirm", token),
        )

    async def confirm(self, request: Request) -> Response:
        refused = self.forbidden_origin(request)
        if refused is not None:
            return refused
        try:
            fields = await read_fields(request)
        except FormError as exc:
            return self.problem(request, exc.status, "Something is wrong", exc.message)
        try:
            key = self.verify("confirm", token_from(request, fields))
        except TokenError as exc:
            return self.token_problem(request, exc)
        now = self.now()
        subscriber = await self.db.write(lambda state: signups.confirm(state, key, now))
        if subscriber is None:
            return self.not_listed(request)
        log.info("confirmed: %s", subscriber.address)
        return self.pages.page(
            "confirmed.html", address=subscriber.address, manage=self.manage_link(key)
        )

    def not_listed(self, request: Request) -> Response:
        return self.problem(
            request, 404, "Not on the list",
            "This address is not on the list (it may have been removed).",
            "Subscribe again from the list's front page.",
        )

    async def unsubscribe_page(self, request: Request) -> Response:
        found = await self.lookup(request, "unsubscribe")
        if isinstance(found, Response):
            return found
        token, key, subscriber = found
        return self.pages.page(
            "unsubscribe.html",
            address=subscriber.address if subscriber else "",
            status=subscriber.status if subscriber else "",
            action=self.link("/unsubscribe", token),
            manage=self.manage_link(key) if subscriber else "",
        )

    async def unsubscribe(self, request: Request) -> Response:
        refused = self.forbidden_origin(request)
        if refused is not None:
            return refused
        try:
            body = await read_body(request)
        except FormError as exc:
            return self.problem(request, exc.status, "Something is wrong", exc.message)
        rfc8058 = one_click(body)
        fields: dict[str, str] = {}
        if not rfc8058 and not request.query_params.get("token"):
            try:
                fields = parse_form(body)
            except FormError as exc:
                return self.problem(request, exc.status, "Something is wrong", exc.message)
        try:
            key = self.verify("unsubscribe", token_from(request, fields))
        except TokenError as exc:
            if rfc8058:
                log.info("one-click unsubscribe: token refused (%s)", exc.reason)
                return PlainTextResponse("Invalid unsubscribe link.\n", status_code=400)
            return self.token_problem(request, exc)
        now = self.now()
        subscriber = await self.db.write(lambda state: signups.unsubscribe(state, key, now))
        who = subscriber.address if subscriber else "an address not on the list"
        log.info("unsubscribed%s: %s", " (one-click)" if rfc8058 else "", who)
        if rfc8058:
            # RFC 8058: no redirect, no cookie, no page to read: a plain 200.
            return PlainTextResponse("Unsubscribed.\n")
        return self.pages.page(
            "unsubscribed.html",
            address=subscriber.address if subscriber else "",
            manage=self.manage_link(key) if subscriber else "",
        )

    async def manage_page(self, request: Request) -> Response:
        found = await self.lookup(request, "manage")
        if isinstance(found, Response):
            return found
        token, _key, subscriber = found
        if subscriber is None:
            return self.not_listed(request)
        return self.manage_view(subscriber, token, notice="")

    def manage_view(self, subscriber: Standing, token: str, notice: str) -> Response:
        return self.pages.page(
            "manage.html", address=subscriber.address, status=subscriber.status,
            action=self.link("/manage", token), notice=notice,
        )

    async def manage(self, request: Request) -> Response:
        refused = self.forbidden_origin(request)
        if refused is not None:
            return refused
        try:
            fields = await read_fields(request)
        except FormError as exc:
            return self.problem(request, exc.status, "Something is wrong", exc.message)
        token = token_from(request, fields)
        try:
            key = self.verify("manage", token)
        except TokenError as exc:
            return self.token_problem(request, exc)
        action = fields.get("action", "")
        if action not in MANAGE:
            return self.problem(request, 400, "Something is wrong",
                                "Choose one of the buttons on the page.")
        change, notice = MANAGE[action]
        now = self.now()
        subscriber = await self.db.write(lambda state: change(state, key, now))
        if subscriber is None:
            return self.not_listed(request)
        log.info("manage: %s %s", subscriber.address, action)
        return self.manage_view(subscriber, token, notice)

    async def archive(self, request: Request) -> Response:
        items = await self.db.read(lambda state: signups.archive(self.config, state))
        return self.pages.page("archive.html", entries=items)

    async def stylesheet(self, request: Request) -> Response:
        headers = {"etag": self.css_etag, "cache-control": "public, max-age=3600"}
        if request.headers.get("if-none-match") == self.css_etag:
            return Response(status_code=304, headers=headers)
        return Response(self.css, media_type="text/css; charset=utf-8", headers=headers)

    async def health(self, request: Request) -> Response:
        return PlainTextResponse("ok\n")

    async def site(self, request: Request) -> Response:
        relative = str(request.path_params.get("path", ""))
        response = self.preview.respond(request, relative)
        if response is None:
            return self.pages.error(404, "Not found", "There is no such file in the site.")
        return response

    # -- errors ---------------------------------------------------------------------

    async def http_error(self, request: Request, exc: Exception) -> Response:
        status = exc.status_code if isinstance(exc, HTTPException) else 500
        titles = {404: "Not found", 405: "Not allowed"}
        title = titles.get(status, "Something is wrong")
        message = {
            404: "There is no page here.",
            405: "This page does not take that kind of request.",
        }.get(status, "The request could not be handled.")
        try:
            response = self.problem(request, status, title, message)
        except Exception:
            return fallback_error(status, title)
        if status == 405 and isinstance(exc, HTTPException) and exc.headers:
            response.headers.update(exc.headers)
        return response

    async def server_error(self, request: Request, exc: Exception) -> Response:
        if isinstance(exc, PublisherError):
            log.error("%s %s failed: %s", request.method, request.url.path, exc.message)
        else:
            log.error("%s %s failed: %s", request.method, request.url.path,
                      type(exc).__name__)
            log.debug("traceback", exc_info=exc)
        try:
            return self.problem(request, 500, "Something went wrong on our side",
                                "Nothing was changed.", "Please try again in a few minutes.")
        except Exception:
            return fallback_error(500, "Something went wrong on our side")

