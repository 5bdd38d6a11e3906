"""What the web app accepts from a form or JSON body, field by field."""

from __future__ import annotations

import json

import pytest

from publisher.web.forms import FormError, one_click, parse_form, parse_json, signup


def test_form_fields() -> None:
    assert parse_form(b"email=a%40example.com&name=A+B") == {"email": "a@example.com",
                                                              "name": "A B"}
    with pytest.raises(FormError, match="twice"):
        parse_form(b"email=a&email=b")
    with pytest.raises(FormError):
        parse_form(b"email=%ff")
    with pytest.raises(FormError):
        parse_form(b"&".join(b"f%d=x" % i for i in range(50)))


def test_json_fields_must_be_strings() -> None:
    assert parse_json(json.dumps({"email": "a@example.com", "name": None}).encode()) == {
        "email": "a@example.com"
    }
    for bad in ([], "x", 3, {"email": 3}, {"email": True}, {"name": ["x"]}, {"website": {}}):
        with pytest.raises(FormError) as refused:
            parse_json(json.dumps(bad).encode())
        assert refused.value.status == 400
    with pytest.raises(FormError):
        parse_json(b"\xff")


def test_json_that_breaks_the_decoder_or_the_text_is_a_400() -> None:
    """Nested past the decoder's stack (RecursionError), or a lone surrogate
    written as an escape (text that cannot be stored or mailed)."""
    for body in (b"[" * 15_000, b'{"email": ' + b"[" * 15_000, b'{"a": ' * 15_000,
                 b'{"email": "a@example.org", "name": "\\ud800"}',
                 b'{"email": "a\\udfff@example.org"}'):
        with pytest.raises(FormError) as refused:
            parse_json(body)
        assert refused.value.status == 400, body[:40]


def test_signup_checks() -> None:
    ok = signup({"email": " Ann@Example.ORG ", "name": "Ann  Smith"})
    assert (ok.email, ok.name, ok.bot) == ("Ann@example.org", "Ann Smith", False)
    assert signup({"email": "b@bücher.example"}).email == "b@xn--bcher-kva.example"
    assert signup({"email": "a@example.org", "website": " "}).bot
    for fields, words in (
        ({"email": ""}, "enter your email"),
        ({"email": "a@example.org\r\nBcc: x@example.org"}, "line breaks"),
        ({"email": "a@example.org", "name": "x\ny"}, "line breaks"),
        ({"email": "a@example.org", "name": "x" * 201}, "too long"),
        ({"email": "no-at-sign"}, "exactly one @"),
        ({"email": "jöhn@example.org"}, "before the @"),
        ({"email": "a@nodot"}, "after the @"),
        ({"email": "x" * 400 + "@example.org"}, "too long"),
    ):
        with pytest.raises(FormError) as refused:
            signup(fields)
        assert refused.value.status == 400
        assert words in refused.value.message, (fields, refused.value.message)


def test_one_click_bodies() -> None:
    assert one_click(b"List-Unsubscribe=One-Click")
    assert one_click(b"List-Unsubscribe=One-Click\r\n")
    assert one_click(b"x=1&List-Unsubscribe=One-Click")
    assert one_click(
        b'--b\r\nContent-Disposition: form-data; name="List-Unsubscribe"\r\n\r\nOne-Click\r\n--b--'
    )
    assert not one_click(b"")
    assert not one_click(b"List-Unsubscribe=Two-Clicks")
