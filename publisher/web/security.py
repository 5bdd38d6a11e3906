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
        ip = ipaddress.ip_address(address)
    except ValueError:
        return False
    return any(ip in net for net in trusted)


def _host(hop: str) -> str:
    """The client in one hop, as one key however it is written: without a port
    (`203.0.113.10:4711`, `[2001:db8::1]:443`), quotes or brackets, IPv4 for an
    IPv4-mapped IPv6 address, in ipaddress's canonical spelling. Otherwise each
    port would be a rate bucket of its own. Anything else ("unknown", an
    obfuscated name) is kept as written."""
    text = hop.strip().strip('"')
    if text.startswith("["):
        text = text[1:].partition("]")[0]
    elif text.count(":") == 1:
        text = text.partition(":")[0]
    try:
        ip = ipaddress.ip_address(text)
    except ValueError:
        return text[:64]
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
        return str(ip.ipv4_mapped)
    return str(ip)


def _hops(request: Request) -> list[str]:
    """The forwarded-for chain: X-Forwarded-For, or, from a proxy that sends
    only that, the `for=` values of RFC 7239's Forwarded."""
    forwarded_for = ",".join(request.headers.getlist("x-forwarded-for"))
    if forwarded_for.strip():
        return forwarded_for.split(",")
    found = []
    for element in ",".join(request.headers.getlist("forwarded")).split(","):
        for pair in element.split(";"):
            name, _, value = pair.partition("=")
            if name.strip().lower() == "for":
                found.append(value)
    return found


def client_ip(request: Request, trusted: tuple[Network, ...]) -> str:
    """The peer, or, when the peer is a trusted proxy, the nearest address in
    the forwarded-for chain that is not one (the left ones are the client's to
    invent)."""
    peer = _host(request.client.host) if request.client else ""
    if not trusted or not _in(peer, trusted):
        return peer
    hops = [host for host in map(_host, _hops(request)) if host]
    for hop in reversed(hops):
        if not _in(hop, trusted):
            return hop
    return hops[0] if hops else peer
