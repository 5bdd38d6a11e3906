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


def test_a_port_or_another_spelling_is_the_same_client() -> None:
    """Some proxies write the client's port too: one client, one rate bucket."""
    trusted = networks(["127.0.0.1", "10.0.0.0/8"])

    def seen(headers: dict[str, str], peer: str = "127.0.0.1") -> str:
        return client_ip(make_request(peer, headers), trusted)

    for value in ("203.0.113.10", "203.0.113.10:4711", " 203.0.113.10:80 ",
                  "::ffff:203.0.113.10", "6.6.6.6, 203.0.113.10:1, 10.0.0.1:3128"):
        assert seen({"X-Forwarded-For": value}) == "203.0.113.10", value
    for value in ("2001:db8::1", "[2001:db8::1]:443", "[2001:DB8:0::1]", "2001:0db8::0001"):
        assert seen({"X-Forwarded-For": value}) == "2001:db8::1", value
    # RFC 7239 Forwarded, from a proxy that sends only that.
    for value in ('for="203.0.113.10:4711"', "For=203.0.113.10;proto=https",
                  'for=6.6.6.6, for="203.0.113.10";by=10.0.0.1, for="[::ffff:10.0.0.2]:80"'):
        assert seen({"Forwarded": value}) == "203.0.113.10", value
    assert seen({"Forwarded": 'for="[2001:db8::1]:443"'}) == "2001:db8::1"
    # X-Forwarded-For wins; neither is believed from an untrusted peer.
    assert seen({"X-Forwarded-For": "198.51.100.1",
                 "Forwarded": "for=203.0.113.10"}) == "198.51.100.1"
    assert seen({"Forwarded": "for=203.0.113.10"}, peer="198.51.100.9") == "198.51.100.9"
    # A trusted proxy at a dual-stack socket's mapped address is still trusted.
    assert seen({"X-Forwarded-For": "203.0.113.10"}, peer="::ffff:127.0.0.1") == "203.0.113.10"


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
