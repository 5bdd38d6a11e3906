"""Response headers, the Origin check and the client's address.

Pages load nothing but their own stylesheet and run no script: the
Content-Security-Policy says exactly that, and that no other site may frame
them. Token links must never leak through a Referer header to another site:
the policy is `same-origin`. (Not `no-referrer`: with it, browsers send
`Origin: null` on the pages' own form posts, and the Origin check refuses them.)
"""

from __future__ import annotations

import ipaddress
from collections.abc import Iterable
from urllib.parse import urlsplit

from starlette.datastructures import MutableHeaders
from starlette.requests import Request
from starlette.types import ASGIApp, Message, Receive, Scope, Send

CSP = (
    "default-src 'none'; style-src 'self'; img-src 'self' data:; form-action 'self'; "
    "base-uri 'none'; frame-ancestors 'none'"
)
# out/ preview: the site's own pages and digest copies, with their inline styles
# and remote images, but still no script and no framing.
PREVIEW_CSP = (
    "default-src 'none'; style-src 'unsafe-inline' https: http:; img-src https: http: data:; "
    "font-src https: http:; media-src https: http:; base-uri 'none'; form-action 'none'; "
    "frame-ancestors 'none'; sandbox"
)
HEADERS = {
    "content-security-policy": CSP,
    "x-content-type-options": "nosniff",
    "x-frame-options": "DENY",
    "referrer-policy": "same-origin",
    "cross-origin-opener-policy": "same-origin",
    "cross-origin-resource-policy": "same-origin",
    "permissions-policy": "interest-cohort=(), camera=(), microphone=(), geolocation=()",
}


class SecurityHeaders:
    """Adds HEADERS to every response that does not set its own."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return

        async def with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = MutableHeaders(scope=message)
                for name, value in HEADERS.items():
                    if name not in headers:
                        headers[name] = value
            await send(message)

        await self.app(scope, receive, with_headers)


def origin_of(url: str) -> str:
    parts = urlsplit(url)
    return f"{parts.scheme}://{parts.netloc}".lower() if parts.scheme and parts.netloc else ""


def origin_allowed(request: Request, allowed: frozenset[str]) -> bool:
    """A browser says where a POST comes from. Mail clients' one-click POSTs,
    curl and other programs send no Origin: they are not a cross-site risk.
    `null` (a sandboxed frame, a file: page) is refused."""
    origin = request.headers.get("origin")
    if origin is None:
        return True
    return origin.strip().lower() in allowed


Network = ipaddress.IPv4Network | ipaddress.IPv6Network


def networks(values: Iterable[str]) -> tuple[Network, ...]:
    return tuple(ipaddress.ip_network(v, strict=False) for v in values)


def _in(address: str, trusted: tuple[Network, ...]) -> bool:
    try:
        ip = ipaddress.ip_address(address.strip())
    except ValueError:
        return False
    return any(ip in net for net in trusted)


def client_ip(request: Request, trusted: tuple[Network, ...]) -> str:
    """The peer, or, when the peer is a trusted proxy, the nearest address in
    X-Forwarded-For that is not one (the left ones are the client's to invent)."""
    peer = request.client.host if request.client else ""
    if not trusted or not _in(peer, trusted):
        return peer
    forwarded = ",".join(request.headers.getlist("x-forwarded-for"))
    hops = [h.strip() for h in forwarded.split(",") if h.strip()]
    for hop in reversed(hops):
        if not _in(hop, trusted):
            return hop[:64]
    return hops[0][:64] if hops else peer
