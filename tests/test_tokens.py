"""Unsubscribe tokens: signed, stateless, not derivable from the address."""

from __future__ import annotations

import base64
from pathlib import Path

import pytest

from publisher.errors import SecretMissing, SubscriberError
from publisher.mail import tokens
from publisher.store import subscribers as subs
from publisher.store.state import open_state

from .delivery_support import SECRET, add_subscribers, env, make_site, run_cli

KEY = SECRET.encode()


def test_round_trip() -> None:
    token = tokens.make(KEY, "Ann@example.com")
    assert tokens.verify(KEY, token) == "Ann@example.com"


def test_not_derivable_without_the_secret() -> None:
    token = tokens.make(KEY, "ann@example.com")
    other = tokens.make(b"another-secret-of-enough-length", "ann@example.com")
    assert token != other
    encoded, _, mac = token.partition(".")
    assert base64.urlsafe_b64decode(encoded + "==") == b"ann@example.com"
    assert len(base64.urlsafe_b64decode(mac + "==")) == 16
    with pytest.raises(SubscriberError, match="does not verify"):
        tokens.verify(KEY, other)


@pytest.mark.parametrize(
    "mangle",
    [
        lambda t: t[:-2] + ("AA" if not t.endswith("AA") else "BB"),
        lambda t: base64.urlsafe_b64encode(b"bob@example.com").decode().rstrip("=")
        + "."
        + t.partition(".")[2],
        lambda t: t.partition(".")[0],
        lambda t: "!!!." + t.partition(".")[2],
        lambda t: "",
    ],
)
def test_tampered_tokens_are_refused(mangle) -> None:  # type: ignore[no-untyped-def]
    token = tokens.make(KEY, "ann@example.com")
    with pytest.raises(SubscriberError):
        tokens.verify(KEY, mangle(token))


def test_secret_must_be_set_and_long() -> None:
    with pytest.raises(SecretMissing, match="PUBLISHER_SECRET is not set"):
        tokens.secret_from_env({})
    with pytest.raises(SecretMissing, match="too short"):
        tokens.secret_from_env({"PUBLISHER_SECRET": "short"})
    assert tokens.secret_from_env({"PUBLISHER_SECRET": SECRET}) == KEY


def test_url_forms() -> None:
    token = tokens.make(KEY, "a+b@example.com")
    plain = tokens.unsubscribe_url("https://x.example/u", token)
    assert plain == f"https://x.example/u?token={token}"
    query = tokens.unsubscribe_url("https://x.example/u?list=1", token)
    assert query == f"https://x.example/u?list=1&token={token}"
    assert tokens.verify(KEY, query) == "a+b@example.com"
    assert tokens.verify(KEY, plain) == "a+b@example.com"
    assert tokens.verify(KEY, f"https://x.example/u/{token}") == "a+b@example.com"


def test_cli_unsubscribe_by_token_link_and_address(tmp_path: Path) -> None:
    config = make_site(tmp_path)
    add_subscribers(config, ["ann@example.com", "bob@example.com", "cy@example.com"])
    link = tokens.unsubscribe_url(
        config.delivery.unsubscribe_url, tokens.make(KEY, "ann@example.com")
    )
    assert run_cli(tmp_path, "unsubscribe", link, check=True).stdout.startswith("Unsubscribed")
    token = tokens.make(KEY, "bob@example.com")
    run_cli(tmp_path, "unsubscribe", token, check=True)
    run_cli(tmp_path, "unsubscribe", "cy@EXAMPLE.COM", check=True)
    again = run_cli(tmp_path, "unsubscribe", "cy@example.com", check=True)
    assert again.stdout.startswith("Already unsubscribed")
    forged = run_cli(tmp_path, "unsubscribe", tokens.make(b"x" * 20, "ann@example.com"))
    assert forged.returncode == 1 and "does not verify" in forged.stderr
    no_secret = run_cli(tmp_path, "unsubscribe", token, environ=env(PUBLISHER_SECRET=""))
    assert no_secret.returncode == 1 and "PUBLISHER_SECRET" in no_secret.stderr
    state = open_state(config.state_file)
    try:
        assert {s.status for s in subs.listing(state.conn)} == {"unsubscribed"}
    finally:
        state.close()


# -- single-purpose tokens: confirm (expiring), manage, unsubscribe ------------------


def test_purpose_tokens_round_trip_and_expire() -> None:
    confirm = tokens.make_for(KEY, "confirm", "ann@example.com", expires=2_000)
    assert tokens.verify_for(KEY, "confirm", confirm, now=1_999) == "ann@example.com"
    with pytest.raises(tokens.TokenError) as expired:
        tokens.verify_for(KEY, "confirm", confirm, now=2_000)
    assert expired.value.reason == "expired"
    manage = tokens.make_for(KEY, "manage", "ann@example.com")
    assert tokens.verify_for(KEY, "manage", manage) == "ann@example.com"
    # Unsubscribe tokens are the ones mail already carries: old links keep working.
    assert tokens.make_for(KEY, "unsubscribe", "ann@example.com") == tokens.make(
        KEY, "ann@example.com"
    )
    assert tokens.verify_for(KEY, "unsubscribe", tokens.make(KEY, "ann@example.com")) == (
        "ann@example.com"
    )


def test_a_token_is_good_for_its_own_purpose_only() -> None:
    made = {
        "confirm": tokens.make_for(KEY, "confirm", "ann@example.com", expires=10**12),
        "manage": tokens.make_for(KEY, "manage", "ann@example.com"),
        "unsubscribe": tokens.make(KEY, "ann@example.com"),
    }
    for purpose in made:
        for other, token in made.items():
            if other == purpose:
                continue
            with pytest.raises(tokens.TokenError) as refused:
                tokens.verify_for(KEY, purpose, token)  # type: ignore[arg-type]
            assert refused.value.reason == "purpose", (purpose, other)
    # Relabelling a token does not help: the purpose is inside the MAC.
    relabelled = "m" + made["confirm"][1:]
    with pytest.raises(tokens.TokenError) as forged:
        tokens.verify_for(KEY, "manage", relabelled)
    assert forged.value.reason == "forged"


@pytest.mark.parametrize(
    ("token", "reason"),
    [
        ("", "malformed"),
        ("c..", "forged"),
        ("c.!!!.AAAA", "malformed"),
        ("c." + "A" * 700 + ".AAAA", "malformed"),
        ("c.YW5u.é", "malformed"),
        ("c.a.b.c", "malformed"),
    ],
)
def test_damaged_purpose_tokens(token: str, reason: str) -> None:
    with pytest.raises(tokens.TokenError) as refused:
        tokens.verify_for(KEY, "confirm", token)
    assert refused.value.reason == reason


def test_forged_and_truncated_purpose_tokens() -> None:
    good = tokens.make_for(KEY, "confirm", "ann@example.com", expires=10**12)
    other = tokens.make_for(b"another-secret-of-enough-length", "confirm", "ann@example.com",
                            expires=10**12)
    tag, payload, mac = good.split(".")
    bob = base64.urlsafe_b64encode(b"bob@example.com\x00" + str(10**12).encode())
    for token in (other, good[:-3], f"{tag}.{bob.decode().rstrip('=')}.{mac}"):
        with pytest.raises(tokens.TokenError) as refused:
            tokens.verify_for(KEY, "confirm", token)
        assert refused.value.reason in ("forged", "malformed")
    # A confirm token without its expiry cannot be made without the secret either.
    no_expiry = tokens.make_for(KEY, "confirm", "ann@example.com")
    with pytest.raises(tokens.TokenError) as refused:
        tokens.verify_for(KEY, "confirm", no_expiry)
    assert refused.value.reason == "malformed"
