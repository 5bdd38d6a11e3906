"""Client addresses behind proxies, the Origin rule, rate limits, masking, validators."""

from __future__ import annotations

from starlette.requests import Request

from publisher.web.limits import RateLimit
from publisher.web.pages import mask
from publisher.web.security import client_ip, networks, origin_allowed
from publisher.web.static import not_modified


def make_request(peer: str, headers: dict[str, str]) -> Request:
    return Request({
        "type": "http", "method": "GET", "path": "/", "query_string": b"",
        "headers": [(k.lower().encode(), v.encode()) for k, v in headers.items()],
        "client": (peer, 1234),
    })


def test_forwarded_for_only_from_trusted_proxies() -> None:
    trusted = networks(["127.0.0.1", "10.0.0.0/8"])
    spoof = {"X-Forwarded-For": "1.2.3.4"}
    assert client_ip(make_request("203.0.113.5", spoof), trusted) == "203.0.113.5"
    assert client_ip(make_request("127.0.0.1", spoof), ()) == "127.0.0.1"
    # The nearest untrusted hop: what the client wrote on the left is ignored.
    chain = {"X-Forwarded-For": "6.6.6.6, 198.51.100.2, 10.1.1.1"}
    assert client_ip(make_request("127.0.0.1", chain), trusted) == "198.51.100.2"
    assert client_ip(make_request("127.0.0.1", {}), trusted) == "127.0.0.1"


def test_origin_rule() -> None:
    allowed = frozenset({"https://news.example.org", "https://list.example.org"})
    assert origin_allowed(make_request("1.1.1.1", {}), allowed)  # mail clients, curl
    assert origin_allowed(make_request("1.1.1.1", {"Origin": "https://News.Example.org"}),
                          allowed)
    for origin in ("null", "https://evil.example", "http://news.example.org"):
        assert not origin_allowed(make_request("1.1.1.1", {"Origin": origin}), allowed)


def test_rate_limit_window() -> None:
    now = [1000.0]
    limit = RateLimit(2, window=60, clock=lambda: now[0])
    assert limit.allow("a") and limit.allow("a") and not limit.allow("a")
    assert limit.allow("b")
    assert 1 <= limit.retry_after("a") <= 61
    now[0] += 61
    assert limit.allow("a")
    assert RateLimit(0).allow("x")  # 0 = no limit


def test_mask() -> None:
    assert mask("ann@example.org") == "a•••@example.org"
    assert mask("b@xn--bcher-kva.example") == "b•••@bücher.example"


def test_conditional_get_rules() -> None:
    etag = '"abc"'
    assert not_modified(make_request("x", {"If-None-Match": '"abc"'}), etag, 100.0)
    assert not_modified(make_request("x", {"If-None-Match": 'W/"abc", "d"'}), etag, 100.0)
    assert not_modified(make_request("x", {"If-None-Match": "*"}), etag, 100.0)
    assert not not_modified(make_request("x", {"If-None-Match": '"zzz"'}), etag, 100.0)
    assert not_modified(
        make_request("x", {"If-Modified-Since": "Thu, 01 Jan 1970 00:01:40 GMT"}), etag, 100.9
    )
    assert not not_modified(
        make_request("x", {"If-Modified-Since": "Thu, 01 Jan 1970 00:01:39 GMT"}), etag, 100.0
    )
    assert not not_modified(make_request("x", {"If-Modified-Since": "garbage"}), etag, 100.0)
