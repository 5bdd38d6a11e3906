"""The list's web app, as a real `publisher serve` process talked to over HTTP."""

from __future__ import annotations

import base64
import email
import email.policy
import hashlib
import hmac
import http.client
import json
import os
import select
import socket
import stat
import subprocess
import time
from collections.abc import Iterator
from html.parser import HTMLParser
from pathlib import Path
from urllib.parse import parse_qs, quote, urlencode, urlsplit

import pytest

from publisher.mail import tokens
from publisher.store.subscribers import email_key, normalise

from .delivery_support import Server, smtp_table
from .web_support import (
    CLI,
    FORM,
    JSON,
    SECRET,
    Reply,
    Served,
    body_text,
    confirmations,
    env,
    free_port,
    links,
    local,
    message,
    publish,
    request,
    snapshot,
    status_of,
    wait_for_files,
    write_post,
    write_site,
)

KEY = SECRET.encode()
# Another list that shares PUBLISHER_SECRET: its own state store, its own salt.
OTHER_LIST = tokens.bind(KEY, "f" * 32)
SECURITY_HEADERS = {
    "x-content-type-options": "nosniff",
    "x-frame-options": "DENY",
    "referrer-policy": "same-origin",
}


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Served]:
    root = tmp_path_factory.mktemp("web")
    port = free_port()
    write_site(root, port)
    server = Served(root, port)
    yield server
    assert server.stop() == 0, server.log()


def subscribe(server: Served, address: str, name: str = "") -> str:
    """Subscribe through the form; returns the confirmation link from the mail."""
    before = len(confirmations(server.root))
    reply = server.post("/subscribe", urlencode({"email": address, "name": name}))
    assert reply.status == 200, reply.text
    found = wait_for_files(server.root, before + 1)
    assert len(found) == before + 1, "no confirmation mail"
    newest = max(found, key=lambda p: p.stat().st_mtime_ns)
    msg = message(newest)
    assert msg["To"].addresses[0].addr_spec.lower() == normalise(address).lower()
    (link,) = links(body_text(msg), "/confirm")
    return link


def confirm(server: Served, link: str) -> None:
    reply = server.post(local(link), "")
    assert reply.status == 200, reply.text
    assert "You are subscribed" in reply.text


def list_keys(server: Served) -> tokens.ListKeys:
    """The served list's own keys (PUBLISHER_SECRET bound to its store's salt)."""
    return tokens.for_store(server.root / ".publisher" / "state.db", {"PUBLISHER_SECRET": SECRET})


def unsubscribe_token(server: Served, address: str) -> str:
    return tokens.make(list_keys(server), email_key(address))


class Forms(HTMLParser):
    """Every form on a page: its action and its fields."""

    def __init__(self) -> None:
        super().__init__()
        self.forms: list[dict[str, object]] = []
        self.labels: set[str] = set()
        self.inputs: list[dict[str, str | None]] = []
        self.scripts = 0

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        found = dict(attrs)
        if tag == "form":
            self.forms.append({"action": found.get("action"), "method": found.get("method")})
        elif tag == "label" and found.get("for"):
            self.labels.add(str(found["for"]))
        elif tag == "input":
            self.inputs.append(found)
        elif tag == "script":
            self.scripts += 1


def parse_page(html: str) -> Forms:
    parser = Forms()
    parser.feed(html)
    return parser


# -- the journey over HTTP ---------------------------------------------------------


def test_subscribe_confirm_then_active_and_idempotent(served: Served) -> None:
    page = served.get("/")
    assert page.status == 200 and page.headers["content-type"] == "text/html; charset=utf-8"
    form = parse_page(page.text)
    assert form.forms == [{"action": "/subscribe", "method": "post"}]
    assert form.scripts == 0
    # Every visible field has a label (the honeypot too, for screen readers told to skip it).
    assert {i["id"] for i in form.inputs} <= form.labels

    link = subscribe(served, "ann@example.com", "Ann Example")
    assert status_of(served.root, "ann@example.com") == "pending"
    # GET shows a button and changes nothing: mail scanners prefetch links.
    before = snapshot(served.root)
    shown = served.get(local(link))
    assert shown.status == 200 and "Confirm subscription" in shown.text
    assert "a•••@example.com" in shown.text and "ann@example.com" not in shown.text
    assert snapshot(served.root) == before
    (action,) = [f["action"] for f in parse_page(shown.text).forms]
    assert isinstance(action, str) and action.startswith("/confirm?token=")
    confirm(served, link)
    assert status_of(served.root, "ann@example.com") == "active"
    confirmed = snapshot(served.root)
    confirm(served, link)  # idempotent
    assert snapshot(served.root) == confirmed
    assert "already subscribed" in served.get(local(link)).text


def test_the_answer_is_the_same_whether_or_not_the_address_is_known(served: Served) -> None:
    confirm(served, subscribe(served, "known@example.com"))
    known = served.post("/subscribe", urlencode({"email": "known@example.com"}))
    fresh = served.post("/subscribe", urlencode({"email": "fresh@example.com"}))
    assert known.status == fresh.status == 200
    assert known.body == fresh.body
    # The known one stays active: a stranger typing it in changes nothing.
    assert status_of(served.root, "known@example.com") == "active"


def test_json_subscribe_and_wrong_types(served: Served) -> None:
    ok = served.post("/subscribe", json.dumps({"email": "jay@example.com", "name": "Jay"}), JSON)
    assert ok.status == 200 and ok.headers["content-type"].startswith("application/json")
    assert json.loads(ok.body)["ok"] is True
    assert status_of(served.root, "jay@example.com") == "pending"
    before = snapshot(served.root)
    for body in (
        {"email": 42},
        {"email": ["a@example.com"]},
        {"email": "kay@example.com", "name": {"first": "Kay"}},
        {"email": None},
        {"email": "kay@example.com", "website": 1},
        ["kay@example.com"],
        "kay@example.com",
    ):
        reply = served.post("/subscribe", json.dumps(body), JSON)
        assert reply.status == 400, (body, reply.text)
        assert json.loads(reply.body)["ok"] is False and json.loads(reply.body)["error"]
    bad_json = served.post("/subscribe", b'{"email": ', JSON)
    assert bad_json.status == 400
    assert snapshot(served.root) == before


def test_honeypot_gets_the_same_page_and_changes_nothing(served: Served) -> None:
    before, mails = snapshot(served.root), len(confirmations(served.root))
    normal = served.post("/subscribe", urlencode({"email": "someone@example.com"}))
    wait_for_files(served.root, mails + 1)
    before, mails = snapshot(served.root), len(confirmations(served.root))
    bot = served.post(
        "/subscribe", urlencode({"email": "bot@example.com", "website": "http://spam.example"})
    )
    assert bot.status == 200 and bot.body == normal.body
    time.sleep(0.3)
    assert snapshot(served.root) == before and len(confirmations(served.root)) == mails


# -- RFC 8058 one-click -------------------------------------------------------------


def test_rfc8058_one_click_exact_request(served: Served) -> None:
    confirm(served, subscribe(served, "gmail-user@example.com"))
    token = unsubscribe_token(served, "gmail-user@example.com")
    # What Gmail and Yahoo send: POST, form-encoded, this exact body, no cookie, no Origin.
    headers = {
        "Content-Type": "application/x-www-form-urlencoded",
        "User-Agent": "curl/8.5.0",
        "Accept": "*/*",
    }
    reply = served.post(f"/unsubscribe?token={token}", "List-Unsubscribe=One-Click", headers)
    assert reply.status == 200, reply.text
    assert reply.seconds < 2
    assert "location" not in reply.headers and "set-cookie" not in reply.headers
    assert status_of(served.root, "gmail-user@example.com") == "unsubscribed"
    after = snapshot(served.root)
    again = served.post(f"/unsubscribe?token={token}", "List-Unsubscribe=One-Click", headers)
    assert again.status == 200 and snapshot(served.root) == after


def test_one_click_as_multipart_form_data(served: Served) -> None:
    confirm(served, subscribe(served, "multi@example.com"))
    token = unsubscribe_token(served, "multi@example.com")
    body = (
        "--XyZ\r\nContent-Disposition: form-data; name=\"List-Unsubscribe\"\r\n\r\n"
        "One-Click\r\n--XyZ--\r\n"
    )
    reply = served.post(
        f"/unsubscribe?token={token}", body,
        {"Content-Type": "multipart/form-data; boundary=XyZ"},
    )
    assert reply.status == 200 and reply.text == "Unsubscribed.\n"
    assert status_of(served.root, "multi@example.com") == "unsubscribed"


def test_unsubscribe_page_button_and_manage(served: Served) -> None:
    confirm(served, subscribe(served, "bea@example.com"))
    token = unsubscribe_token(served, "bea@example.com")
    before = snapshot(served.root)
    page = served.get(f"/unsubscribe?token={token}")
    assert page.status == 200 and "b•••@example.com" in page.text
    assert "bea@example.com" not in page.text
    assert snapshot(served.root) == before  # GET changes nothing
    forms = parse_page(page.text).forms
    assert forms == [{"action": f"/unsubscribe?token={quote(token, safe='')}", "method": "post"}]
    done = served.post(str(forms[0]["action"]), "")
    assert done.status == 200 and "You are unsubscribed" in done.text
    assert status_of(served.root, "bea@example.com") == "unsubscribed"
    # From there, the manage page: resubscribe, then unsubscribe again.
    (manage,) = [a for a in _hrefs(done.text) if a.startswith("/manage?")]
    shown = served.get(manage)
    assert shown.status == 200 and "unsubscribed" in shown.text
    again = served.post(manage, urlencode({"action": "resubscribe"}))
    assert again.status == 200 and "subscribed again" in again.text
    assert status_of(served.root, "bea@example.com") == "active"
    out = served.post(manage, urlencode({"action": "unsubscribe"}))
    assert out.status == 200 and status_of(served.root, "bea@example.com") == "unsubscribed"
    before = snapshot(served.root)
    assert served.post(manage, urlencode({"action": "delete-everything"})).status == 400
    assert snapshot(served.root) == before


def _hrefs(html: str) -> list[str]:
    class Links(HTMLParser):
        found: list[str] = []

        def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
            if tag == "a":
                self.found.append(str(dict(attrs).get("href")))

    parser = Links()
    parser.found = []
    parser.feed(html)
    return parser.found


# -- bad tokens ---------------------------------------------------------------------


def _bad_tokens(server: Served, address: str) -> dict[str, dict[str, str]]:
    key = email_key(address)
    keys = list_keys(server)
    good_unsub = tokens.make(keys, key)
    good_confirm = tokens.make_for(keys, "confirm", key, time.time() + 3600)
    good_manage = tokens.make_for(keys, "manage", key)
    other = tokens.bind(b"another-secret-that-is-long-enough", "0" * 32)
    return {
        "/unsubscribe": {
            "forged": tokens.make(other, key),
            "truncated": good_unsub[:-6],
            "cut at the dot": good_unsub.partition(".")[0],
            "cross-purpose confirm": good_confirm,
            "cross-purpose manage": good_manage,
            "empty": "",
            "garbage": "%00%0d%0a<script>",
            "huge": "A" * 5000,
        },
        "/confirm": {
            "forged": tokens.make_for(other, "confirm", key, time.time() + 3600),
            "truncated": good_confirm[:-4],
            "expired": tokens.make_for(keys, "confirm", key, time.time() - 1),
            "cross-purpose unsubscribe": good_unsub,
            "cross-purpose manage": good_manage,
            "relabelled manage": "c" + good_manage[1:],
        },
        "/manage": {
            "forged": tokens.make_for(other, "manage", key),
            "truncated": good_manage[:-3],
            "cross-purpose unsubscribe": good_unsub,
            "cross-purpose confirm": good_confirm,
            "relabelled confirm": "m" + good_confirm[1:],
        },
    }


def test_bad_tokens_get_a_clear_page_and_change_nothing(served: Served) -> None:
    confirm(served, subscribe(served, "target@example.com"))
    # Pending too, so a wrong confirm would have something to change.
    subscribe(served, "waiting@example.com")
    for address in ("target@example.com", "waiting@example.com"):
        before = snapshot(served.root)
        for path, cases in _bad_tokens(served, address).items():
            for case, token in cases.items():
                query = f"{path}?token={token}" if "%" in token else (
                    f"{path}?token={quote(token, safe='')}"
                )
                for method, body in (("GET", None), ("POST", "List-Unsubscribe=One-Click"),
                                     ("POST", "action=unsubscribe")):
                    reply = (served.get(query) if method == "GET"
                             else served.post(query, body or ""))
                    assert 400 <= reply.status < 500, (path, case, method, reply.status)
                    if reply.headers["content-type"].startswith("text/html"):
                        assert "<h1>" in reply.text and "Traceback" not in reply.text
                    if case == "expired" and method == "GET":
                        assert reply.status == 410 and "expired" in reply.text
        assert snapshot(served.root) == before, address
    assert status_of(served.root, "target@example.com") == "active"
    assert status_of(served.root, "waiting@example.com") == "pending"


def test_another_lists_tokens_get_a_clear_page_and_change_nothing(served: Served) -> None:
    """Two lists that share PUBLISHER_SECRET: the other list's links (and links
    signed with the bare secret, which this list, made since, never made)
    are refused as another list's."""
    confirm(served, subscribe(served, "shared@example.com"))
    key = email_key("shared@example.com")
    old_mac = hmac.new(KEY, b"publisher-unsubscribe-v1\x00" + key.encode(),
                       hashlib.sha256).digest()[:16]
    old_unsubscribe = ".".join(
        base64.urlsafe_b64encode(part).rstrip(b"=").decode() for part in (key.encode(), old_mac)
    )
    cases = {
        "/unsubscribe": [tokens.make(OTHER_LIST, key), old_unsubscribe],
        "/confirm": [tokens.make_for(OTHER_LIST, "confirm", key, time.time() + 3600)],
        "/manage": [tokens.make_for(OTHER_LIST, "manage", key)],
    }
    before = snapshot(served.root)
    for path, found in cases.items():
        for token in found:
            query = f"{path}?token={quote(token, safe='')}"
            page = served.get(query)
            assert page.status == 400 and "This link is for another list" in page.text, path
            posted = served.post(query, "action=unsubscribe")
            assert posted.status == 400 and "another list" in posted.text, path
    one_click = served.post(f"/unsubscribe?token={quote(cases['/unsubscribe'][0], safe='')}",
                           "List-Unsubscribe=One-Click")
    assert one_click.status == 400
    assert snapshot(served.root) == before
    assert status_of(served.root, "shared@example.com") == "active"


# -- bad input ----------------------------------------------------------------------


def test_bad_input_gets_a_clear_page_and_changes_nothing(served: Served) -> None:
    confirm(served, subscribe(served, "ok@example.com"))
    before, mails = snapshot(served.root), len(confirmations(served.root))
    cases = {
        "10 kB name": {"email": "long@example.com", "name": "N" * 10_000},
        "201-character name": {"email": "long@example.com", "name": "N" * 201},
        "CRLF in email": {"email": "crlf@example.com\r\nBcc: victim@example.org"},
        "LF in email": {"email": "crlf@example.com\nX: y"},
        "CRLF in name": {"email": "crlf@example.com", "name": "Eve\r\nBcc: victim@example.org"},
        "tab in name": {"email": "crlf@example.com", "name": "Eve\tEvil"},
        "unicode local part": {"email": "jöhn@example.com"},
        "no at": {"email": "not-an-address"},
        "two ats": {"email": "a@b@example.com"},
        "bad domain": {"email": "x@-bad-.example"},
        "empty": {"email": ""},
        "spaces only": {"email": "   "},
        "huge email": {"email": "a" * 400 + "@example.com"},
    }
    for case, fields in cases.items():
        reply = served.post("/subscribe", urlencode(fields))
        assert reply.status == 400, (case, reply.status)
        assert 'role="alert"' in reply.text and "Traceback" not in reply.text, case
        # The form again, with the field filled as typed and escaped.
        assert "<form" in reply.text
        as_json = served.post("/subscribe", json.dumps(fields), JSON)
        assert as_json.status == 400 and json.loads(as_json.body)["error"], case
    # CRLF in every other field too: the honeypot and unknown fields.
    crlf = served.post("/subscribe", "email=ok2%40example.com&website=%0d%0a")
    assert crlf.status == 200  # a filled honeypot: the usual answer, nothing done
    dup = served.post("/subscribe", "email=a%40example.com&email=b%40example.com")
    assert dup.status == 400
    bad_utf8 = served.post("/subscribe", b"email=%ff%fe%40example.com")
    assert bad_utf8.status == 400
    too_big = served.post("/subscribe", "email=x%40example.com&name=" + "a" * 20_000)
    assert too_big.status == 413 and "too large" in too_big.text
    wrong_type = served.post("/subscribe", "<x/>", {"Content-Type": "text/xml"})
    assert wrong_type.status == 415
    time.sleep(0.3)
    assert snapshot(served.root) == before
    assert len(confirmations(served.root)) == mails


def test_input_that_used_to_crash_gets_a_4xx_page(served: Served) -> None:
    """Deeply nested JSON (RecursionError) on every JSON-reading route and /site/
    paths the file system refuses (ENAMETOOLONG) are the client's mistake: a 4xx
    page, nothing changed, nothing logged as a failure."""
    confirm(served, subscribe(served, "deep@example.com"))
    (served.root / "out" / "folder").mkdir(parents=True, exist_ok=True)
    before, mails = snapshot(served.root), len(confirmations(served.root))
    deep = "[" * 15_000
    for path in ("/subscribe", "/confirm", "/manage"):
        for body in (deep, '{"email": ' + deep):
            reply = served.post(path, body, JSON)
            assert reply.status == 400, (path, reply.status, reply.text)
            assert json.loads(reply.body)["error"] == "The request body is not valid JSON."
    # A lone surrogate, written as a JSON escape: not text that can be stored.
    for body in ('{"email": "s@example.com", "name": "\\ud800"}',
                 '{"email": "s\\udfff@example.com"}'):
        reply = served.post("/subscribe", body, JSON)
        assert reply.status == 400, (body, reply.status, reply.text)
    for path in ("/site/" + "a" * 256, "/site/folder/" + "b" * 300 + ".xml",
                 "/site/" + "c" * 255 + "/x", "/site/" + "d/" * 2100 + "e"):
        reply = served.get(path)
        assert reply.status == 404, (len(path), reply.status)
        assert "<h1>Not found</h1>" in reply.text and 'href="/"' in reply.text
    time.sleep(0.2)
    assert snapshot(served.root) == before
    assert len(confirmations(served.root)) == mails
    log = served.log()
    assert "failed" not in log and "Error" not in log and "Traceback" not in log


def test_unicode_and_idn_addresses(served: Served) -> None:
    link = subscribe(served, "Marie@Exämple.COM", "Marie Curie-Skłodowska 🧪")
    confirm(served, link)
    assert status_of(served.root, "Marie@xn--exmple-cua.com") == "active"
    # The page shows the domain as people write it.
    token = unsubscribe_token(served, "Marie@xn--exmple-cua.com")
    assert "M•••@exämple.com" in served.get(f"/unsubscribe?token={token}").text
    subscribers, _ = snapshot(served.root)
    (row,) = [r for r in subscribers if r[1] == "Marie@xn--exmple-cua.com"]
    assert row[3] == "Marie Curie-Skłodowska 🧪"


# -- cross-site, headers, errors ------------------------------------------------------


def test_origin_check(served: Served) -> None:
    before = snapshot(served.root)
    for origin in ("https://evil.example", "null", "https://news.example.org.evil.example"):
        reply = served.post("/subscribe", "email=x%40example.com",
                            {**FORM, "Origin": origin})
        assert reply.status == 403, origin
    assert snapshot(served.root) == before
    # The site itself (the embedded form) and the app's own pages may post.
    for origin in ("https://news.example.org", served.base):
        reply = served.post("/subscribe", "email=embedded%40example.com",
                            {**FORM, "Origin": origin})
        assert reply.status == 200, origin


def test_every_answer_has_the_security_headers_and_no_traceback(served: Served) -> None:
    replies = [
        served.get("/"),
        served.get("/archive/"),
        served.get("/no-such-page"),
        served.get("/unsubscribe?token=x"),
        request_method(served, "PUT", "/subscribe"),
        served.post("/subscribe", "email=bad"),
        served.get("/style.css"),
    ]
    for reply in replies:
        for name, value in SECURITY_HEADERS.items():
            assert reply.headers.get(name) == value, (reply.status, name)
        csp = reply.headers["content-security-policy"]
        assert "frame-ancestors 'none'" in csp and "default-src 'none'" in csp
        assert "script-src" not in csp  # so scripts fall back to default-src 'none'
        assert "Traceback" not in reply.text and "File \"" not in reply.text
        assert "location" not in reply.headers  # nothing here redirects, so nothing opens one
    assert replies[2].status == 404 and "<h1>Not found</h1>" in replies[2].text
    assert replies[4].status == 405 and "<h1>" in replies[4].text


def request_method(served: Served, method: str, path: str) -> Reply:
    return request(served.base, method, path, b"x", FORM)


def test_no_open_redirect(served: Served) -> None:
    for path in ("//evil.example/", "/archive", "/site", "/\\evil.example",
                 "/unsubscribe?token=x&next=https://evil.example",
                 "/confirm?token=x&redirect=//evil.example"):
        reply = served.get(path)
        assert "location" not in reply.headers, path
        assert reply.status in (200, 400, 404), (path, reply.status)


def test_logs_never_hold_an_address_or_a_token(served: Served) -> None:
    link = subscribe(served, "private.person@example.com", "Private Person")
    confirm(served, link)
    token = unsubscribe_token(served, "private.person@example.com")
    served.get(f"/unsubscribe?token={token}")
    served.post(f"/unsubscribe?token={token}", "List-Unsubscribe=One-Click")
    time.sleep(0.2)
    log = served.log()
    assert "p•••@example.com" in log  # it does log, masked
    confirm_token = parse_qs(urlsplit(link).query)["token"][0]
    for secret_thing in ("private.person@example.com", token, confirm_token, SECRET,
                         "Private Person"):
        assert secret_thing not in log
    assert "?token=" not in log


def test_state_file_is_private(served: Served) -> None:
    path = served.root / ".publisher" / "state.db"
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    for extra in (path.with_name("state.db-wal"), path.with_name("state.db-shm")):
        if extra.exists():
            assert stat.S_IMODE(extra.stat().st_mode) & 0o077 == 0


# -- archive and the out/ preview -----------------------------------------------------


def test_archive_lists_digests_newest_first_and_publish_writes_it(served: Served) -> None:
    root = served.root
    assert "No digest has been sent yet" in served.get("/archive/").text
    write_post(root, "first", "First news", "2026-03-01T08:00:00")
    assert publish(root, "--now", "2026-03-02T08:00:00+00:00").returncode == 0
    write_post(root, "second", "Second news", "2026-03-05T08:00:00")
    assert publish(root, "--now", "2026-03-09T08:00:00+00:00").returncode == 0
    page = served.get("/archive/").text
    first = page.index("https://news.example.org/digest/2026-03-09.html")
    second = page.index("https://news.example.org/digest/2026-03-02.html")
    assert first < second
    static = (root / "out" / "digest" / "index.html").read_text(encoding="utf-8")
    assert static.index('href="2026-03-09.html"') < static.index('href="2026-03-02.html"')
    assert "Second news" in static
    # The copy it links to is there, with its "View in browser" link to itself.
    copy = (root / "out" / "digest" / "2026-03-09.html").read_text(encoding="utf-8")
    assert copy.count("View in browser") == 1
    assert 'href="https://news.example.org/digest/2026-03-09.html"' in copy


def test_site_preview_etag_last_modified_304_and_types(served: Served) -> None:
    root = served.root
    out = root / "out"
    (out / "feed.json").parent.mkdir(parents=True, exist_ok=True)
    (out / "feed.json").write_text('{"version": "https://jsonfeed.org/version/1.1"}')
    (out / "page.html").write_text("<!DOCTYPE html><title>x</title>")
    (out / ".hidden").write_text("secret")
    write_post(root, "feedpost", "Feed post", "2026-02-01T08:00:00")
    assert publish(root, "--no-digest").returncode == 0
    types = {
        "/site/feed.xml": "application/atom+xml",
        "/site/rss.xml": "application/rss+xml",
        "/site/feed.json": "application/feed+json",
        "/site/page.html": "text/html; charset=utf-8",
    }
    for path, kind in types.items():
        reply = served.get(path)
        assert reply.status == 200, path
        assert reply.headers["content-type"].startswith(kind), (path, reply.headers)
        etag, modified = reply.headers["etag"], reply.headers["last-modified"]
        assert etag.startswith('"') and modified.endswith("GMT")
        same = served.get(path, headers={"If-None-Match": etag})
        assert same.status == 304 and same.body == b"" and same.headers["etag"] == etag
        assert served.get(path, headers={"If-None-Match": f'W/{etag}, "x"'}).status == 304
        assert served.get(path, headers={"If-Modified-Since": modified}).status == 304
        assert served.get(path, headers={"If-None-Match": '"other"'}).status == 200
        # If-None-Match wins over If-Modified-Since (RFC 9110).
        both = served.get(path, headers={"If-None-Match": '"other"',
                                         "If-Modified-Since": modified})
        assert both.status == 200
    feed = served.get("/site/feed.xml")
    assert feed.body == (out / "feed.xml").read_bytes()
    # An unchanged publish leaves the validators as they were.
    assert publish(root, "--no-digest").returncode == 0
    assert served.get("/site/feed.xml").headers["etag"] == feed.headers["etag"]
    assert served.get("/site/feed.xml").headers["last-modified"] == feed.headers["last-modified"]
    head = request_head(served, "/site/feed.xml")
    assert head.status == 200 and head.body == b""
    assert head.headers["content-length"] == str(len(feed.body))
    for path in ("/site/.hidden", "/site/../publisher.toml", "/site/%2e%2e/publisher.toml",
                 "/site/..%2fpublisher.toml", "/site/nope.xml", "/site/.publisher/state.db"):
        reply = served.get(path)
        assert reply.status == 404, path
        assert b"secret" not in reply.body and b"[site]" not in reply.body


def request_head(served: Served, path: str) -> Reply:
    return request(served.base, "HEAD", path)


def test_print_form_snippet(served: Served) -> None:
    done = subprocess.run(
        [*CLI, "--config", str(served.root / "publisher.toml"), "serve", "--print-form"],
        capture_output=True, text=True, env=env(), timeout=60,
    )
    assert done.returncode == 0, done.stderr
    page = parse_page(done.stdout)
    assert page.forms == [{"action": f"{served.base}/subscribe", "method": "post"}]
    assert {i["name"] for i in page.inputs} == {"email", "name", "website"}
    assert page.scripts == 0
    # Posting it from the site's own pages works.
    reply = served.post("/subscribe", "email=from-snippet%40example.com&name=&website=",
                        {**FORM, "Origin": "https://news.example.org"})
    assert reply.status == 200


# -- limits, proxies, SMTP, a fresh server each -----------------------------------------


def test_rate_limits_per_ip_and_per_address(tmp_path: Path) -> None:
    port = free_port()
    write_site(tmp_path, port, web={"rate_per_ip": 3, "rate_per_address": 1})
    server = Served(tmp_path, port)
    try:
        first = server.post("/subscribe", "email=rl%40example.com")
        second = server.post("/subscribe", "email=rl%40example.com")
        assert first.status == second.status == 200 and first.body == second.body
        assert len(wait_for_files(tmp_path, 1)) == 1
        time.sleep(0.3)
        assert len(confirmations(tmp_path)) == 1  # the address limit: one mail an hour
        assert server.post("/subscribe", "email=rl2%40example.com").status == 200
        before = snapshot(tmp_path)
        limited = server.post("/subscribe", "email=rl3%40example.com")
        assert limited.status == 429 and int(limited.headers["retry-after"]) > 0
        assert "Too many requests" in limited.text
        assert snapshot(tmp_path) == before
        # X-Forwarded-For is not believed from an untrusted peer.
        spoofed = server.post("/subscribe", "email=rl4%40example.com",
                              {**FORM, "X-Forwarded-For": "203.0.113.9"})
        assert spoofed.status == 429
    finally:
        server.stop()


def connect(server: Served, first: bytes = b"") -> socket.socket:
    sock = socket.create_connection(("127.0.0.1", server.port), timeout=10)
    if first:
        sock.sendall(first)
    return sock


def read_until_closed(sock: socket.socket, limit: float = 15.0) -> bytes:
    """Everything the server sends, up to its closing the connection; fails if
    it is still open after `limit` seconds (a deadline, not a measurement)."""
    sock.settimeout(limit)
    data = b""
    try:
        while chunk := sock.recv(65536):
            data += chunk
    except TimeoutError:
        raise AssertionError(f"the server left the connection open (got {data[:80]!r})") \
            from None
    finally:
        sock.close()
    return data


def dribble(socks: list[socket.socket], limit: float = 15.0) -> None:
    """Send one byte on each connection every 0.2 s until the server closes
    them all; fails if any is still open after `limit` seconds."""
    open_ = set(socks)
    deadline = time.monotonic() + limit
    while open_ and time.monotonic() < deadline:
        readable, _, _ = select.select(list(open_), [], [], 0.2)
        for sock in readable:
            try:
                data = sock.recv(65536)
            except OSError:
                data = b""
            if not data:  # closed by the server (possibly after a 408)
                open_.discard(sock)
                sock.close()
        for sock in list(open_):
            try:
                sock.send(b"a")
            except OSError:  # reset by the server
                open_.discard(sock)
                sock.close()
    for sock in open_:
        sock.close()
    assert not open_, f"{len(open_)} of {len(socks)} slow connections still open after {limit} s"


HEAD = b"GET /health HTTP/1.1\r\nHost: 127.0.0.1\r\n"
POST = (b"POST /subscribe HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Length: 1000\r\n"
        b"Content-Type: application/x-www-form-urlencoded\r\n\r\nemail=")


def test_slow_and_oversized_requests_are_cut_off(tmp_path: Path) -> None:
    port = free_port()
    write_site(tmp_path, port, web={"header_timeout": 1, "body_timeout": 1})
    server = Served(tmp_path, port)
    try:
        # Slow loris: headers, then bodies, one byte at a time.
        dribble([connect(server, HEAD + b"X-A: ") for _ in range(20)]
                + [connect(server, POST) for _ in range(20)])
        # Headers or a body that stop coming: 408, then the connection is closed.
        assert read_until_closed(connect(server, HEAD)).startswith(b"HTTP/1.1 408 ")
        assert read_until_closed(connect(server, POST)).startswith(b"HTTP/1.1 408 ")
        # A connection that sends nothing is closed, with nothing to answer.
        assert read_until_closed(connect(server)) == b""
        # A client that goes away in the middle of its body is nobody's failure.
        connect(server, POST).close()
        # Headers over 16 kB: 431, in one read or in several.
        big = HEAD + b"X-Big: " + b"a" * 60_000 + b"\r\n\r\n"
        assert read_until_closed(connect(server, big)).startswith(b"HTTP/1.1 431 ")
        sock = connect(server, big[:20_000])
        time.sleep(0.1)
        sock.sendall(big[20_000:])
        assert read_until_closed(sock).startswith(b"HTTP/1.1 431 ")
        # 10 kB is fine; and after all that, the server answers as before.
        fine = server.get("/health", headers={"X-Big": "a" * 10_000})
        assert fine.status == 200 and fine.text == "ok\n"
        assert server.post("/subscribe", "email=after%40example.com").status == 200
        time.sleep(0.3)
    finally:
        server.stop()
    log = server.log()
    assert "ERROR" not in log and "failed" not in log and "Traceback" not in log, log


def test_connections_beyond_the_cap_get_503(tmp_path: Path) -> None:
    port = free_port()
    write_site(tmp_path, port, web={"max_connections": 3, "header_timeout": 60})
    server = Served(tmp_path, port)
    held = [http.client.HTTPConnection("127.0.0.1", port, timeout=10) for _ in range(3)]
    try:
        for conn in held:  # three keep-alive connections, left open
            conn.request("GET", "/health")
            response = conn.getresponse()
            assert response.status == 200 and response.read() == b"ok\n"
        assert server.get("/health").status == 503
        held.pop().close()
        deadline = time.monotonic() + 10
        while (status := server.get("/health").status) == 503 and time.monotonic() < deadline:
            time.sleep(0.05)
        assert status == 200
    finally:
        for conn in held:
            conn.close()
        server.stop()


def test_trusted_proxy_forwarded_for_counts_per_client(tmp_path: Path) -> None:
    port = free_port()
    write_site(tmp_path, port, web={"rate_per_ip": 1, "trusted_proxies": ["127.0.0.1"]})
    server = Served(tmp_path, port)
    try:
        def from_client(ip: str, n: int) -> int:
            return server.post("/subscribe", f"email=p{n}%40example.com",
                               {**FORM, "X-Forwarded-For": f"198.51.100.7, {ip}"}).status

        assert from_client("203.0.113.1", 1) == 200
        assert from_client("203.0.113.2", 2) == 200
        assert from_client("203.0.113.1", 3) == 429
        # With a port, or spelled another way, it is the same client: one bucket.
        assert from_client("203.0.113.10:40001", 4) == 200
        assert from_client("203.0.113.10:40002", 5) == 429
        assert from_client("203.0.113.10", 6) == 429
        assert from_client("[2001:db8::1]:443", 7) == 200
        assert from_client("2001:DB8:0::1", 8) == 429
        by_forwarded = server.post("/subscribe", "email=p9%40example.com",
                                   {**FORM, "Forwarded": 'for="[2001:db8::1]:8443"'})
        assert by_forwarded.status == 429
    finally:
        server.stop()


def test_confirmation_through_smtp(tmp_path: Path) -> None:
    smtp = Server().start()
    port = free_port()
    try:
        write_site(tmp_path, port, delivery={"transport": "smtp"}, smtp=smtp_table(smtp.port))
        server = Served(tmp_path, port)
        try:
            reply = server.post("/subscribe", "email=smtp-user%40example.com&name=Sam")
            assert reply.status == 200
            smtp.wait_for(1, timeout=20)
            (rcpt, data), = smtp.recorder.messages
            assert rcpt == "smtp-user@example.com"
            msg = message_from(data)
            assert msg["Subject"] == "Confirm your subscription to Example News"
            assert msg["Auto-Submitted"] == "auto-generated" and msg["List-Unsubscribe"] is None
            (link,) = links(body_text(msg), "/confirm")
            (html_link,) = links(body_text(msg, "html"), "/confirm")
            assert html_link == link
            assert server.post(local(link), "").status == 200
            assert status_of(tmp_path, "smtp-user@example.com") == "active"
        finally:
            server.stop()
    finally:
        smtp.stop()


def message_from(data: bytes) -> email.message.EmailMessage:
    msg = email.message_from_bytes(data, policy=email.policy.default)
    assert isinstance(msg, email.message.EmailMessage)
    return msg


def test_serve_refuses_to_start_without_what_it_needs(tmp_path: Path) -> None:
    port = free_port()
    write_site(tmp_path, port)
    no_secret = subprocess.run(
        [*CLI, "--config", str(tmp_path / "publisher.toml"), "serve"],
        capture_output=True, text=True, env=env(PUBLISHER_SECRET=""), timeout=60,
    )
    assert no_secret.returncode == 1 and "PUBLISHER_SECRET" in no_secret.stderr
    # What to do is start `serve` again, not a `publisher send` that has nothing to send.
    assert "publisher send" not in no_secret.stderr
    assert "then start `publisher serve` again" in no_secret.stderr
    write_site(tmp_path, port, delivery={"from": ""})
    no_from = subprocess.run(
        [*CLI, "--config", str(tmp_path / "publisher.toml"), "serve"],
        capture_output=True, text=True, env=env(), timeout=60,
    )
    assert no_from.returncode == 1 and "[delivery] from" in no_from.stderr
    write_site(tmp_path, port)
    with socket_taken(port):
        busy = subprocess.run(
            [*CLI, "--config", str(tmp_path / "publisher.toml"), "serve"],
            capture_output=True, text=True, env=env(), timeout=60,
        )
    assert busy.returncode == 1 and f"cannot listen on http://127.0.0.1:{port}" in busy.stderr


def test_serve_without_base_url_names_it_and_warns_on_loopback(tmp_path: Path) -> None:
    port = free_port()
    # Listening on every interface: readers could reach it, so links must be right.
    write_site(tmp_path, port, base_url="", web={"listen": f"0.0.0.0:{port}"})
    refused = subprocess.run(
        [*CLI, "--config", str(tmp_path / "publisher.toml"), "serve"],
        capture_output=True, text=True, env=env(), timeout=60,
    )
    assert refused.returncode == 1, refused.stderr
    assert "[web] base_url: required" in refused.stderr
    assert "unsubscribe_url" not in refused.stderr
    # On loopback (a local test, or a proxy on this machine): it starts, and says
    # where the links point.
    write_site(tmp_path, port, base_url="")
    server = Served(tmp_path, port)
    try:
        assert server.post("/subscribe", "email=local%40example.com").status == 200
        (path,) = wait_for_files(tmp_path, 1)
        (link,) = links(body_text(message(path)), "/confirm")
        assert link.startswith(f"http://127.0.0.1:{port}/confirm?token=")
    finally:
        assert server.stop() == 0, server.log()
    assert (f"no [web] base_url: confirmation links point at http://127.0.0.1:{port}/, "
            "which only this machine can open") in server.log()


class socket_taken:  # noqa: N801 - used like a function
    def __init__(self, port: int) -> None:
        self.sock = socket.socket()
        self.sock.bind(("127.0.0.1", port))
        self.sock.listen(1)

    def __enter__(self) -> None:
        return None

    def __exit__(self, *exc: object) -> None:
        self.sock.close()


def test_publisher_run_serves_the_list_and_stops_on_sigterm(tmp_path: Path) -> None:
    port = free_port()
    write_site(tmp_path, port)
    with open(tmp_path / "publisher.toml", "a", encoding="utf-8") as handle:
        handle.write('[schedule]\npoll_seconds = 1\ndigest = ""\n')
    service = Served(tmp_path, port, command="run")
    try:
        link = subscribe(service, "runner@example.com")
        confirm(service, link)
        assert status_of(tmp_path, "runner@example.com") == "active"
        # The scheduler runs beside the web app: its first scan builds the feeds
        # (on a loaded machine, possibly after the requests above were answered).
        deadline = time.monotonic() + 30
        while not (tmp_path / "out" / "feed.xml").exists() and time.monotonic() < deadline:
            time.sleep(0.1)
    finally:
        code = service.stop()
    assert code == 0, service.log()
    assert "serving the list on" in service.log() and "stopped" in service.log()
    assert os.path.exists(tmp_path / "out" / "feed.xml"), service.log()
