"""Tokens: signed, stateless, single-purpose, bound to one list, and spelled
one way only."""

from __future__ import annotations

import base64
import hashlib
import hmac
from pathlib import Path

import pytest

from publisher.config.settings import Config
from publisher.errors import SecretMissing, SubscriberError
from publisher.mail import tokens
from publisher.store.store import Store

from .delivery_support import SECRET, add_subscribers, env, make_site, run_cli
from .report_support import legacy_store

SALT = "0123456789abcdef0123456789abcdef"
KEYS = tokens.bind(SECRET.encode(), SALT)
# Another list that shares PUBLISHER_SECRET (another state store, another salt).
OTHER_LIST = tokens.bind(SECRET.encode(), "f" * 32)
# This list, as a store that made tokens before lists had keys sees it.
LEGACY = tokens.bind(SECRET.encode(), SALT, legacy=True)


def b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def old_unsubscribe(secret: bytes, address: str) -> str:
    """The unsubscribe token every digest carried before lists had keys."""
    mac = hmac.new(secret, b"publisher-unsubscribe-v1\x00" + address.encode(),
                   hashlib.sha256).digest()[:16]
    return f"{b64(address.encode())}.{b64(mac)}"


def old_purpose(secret: bytes, purpose: str, payload: bytes) -> str:
    """A confirm or manage token as made before lists had keys."""
    material = b"publisher-token-v2\x00" + purpose.encode() + b"\x00" + payload
    mac = hmac.new(secret, material, hashlib.sha256).digest()[:16]
    return f"{purpose[0]}.{b64(payload)}.{b64(mac)}"


def test_round_trip() -> None:
    token = tokens.make(KEYS, "Ann@example.com")
    assert tokens.verify(KEYS, token) == "Ann@example.com"


def test_not_derivable_without_the_secret() -> None:
    token = tokens.make(KEYS, "ann@example.com")
    other = tokens.make(tokens.bind(b"another-secret-of-enough-length", SALT), "ann@example.com")
    assert token != other
    letter, tag, encoded, mac = token.split(".")
    assert (letter, tag) == ("u", KEYS.tag)
    assert base64.urlsafe_b64decode(encoded + "==") == b"ann@example.com"
    assert len(base64.urlsafe_b64decode(mac + "==")) == 16
    with pytest.raises(SubscriberError, match="does not verify"):
        tokens.verify(KEYS, other)


@pytest.mark.parametrize(
    "mangle",
    [
        lambda t: t[:-2] + ("AA" if not t.endswith("AA") else "BB"),
        lambda t: ".".join([*t.split(".")[:2], b64(b"bob@example.com"), t.split(".")[3]]),
        lambda t: t.rpartition(".")[0],
        lambda t: "u." + KEYS.tag + ".!!!." + t.split(".")[3],
        lambda t: "",
    ],
)
def test_tampered_tokens_are_refused(mangle) -> None:  # type: ignore[no-untyped-def]
    token = tokens.make(KEYS, "ann@example.com")
    with pytest.raises(SubscriberError):
        tokens.verify(KEYS, mangle(token))


def test_secret_must_be_set_and_long() -> None:
    with pytest.raises(SecretMissing, match="PUBLISHER_SECRET is not set"):
        tokens.secret_from_env({})
    with pytest.raises(SecretMissing, match="too short"):
        tokens.secret_from_env({"PUBLISHER_SECRET": "short"})
    assert tokens.secret_from_env({"PUBLISHER_SECRET": SECRET}) == SECRET.encode()


def test_url_forms() -> None:
    token = tokens.make(KEYS, "a+b@example.com")
    plain = tokens.unsubscribe_url("https://x.example/u", token)
    assert plain == f"https://x.example/u?token={token}"
    query = tokens.unsubscribe_url("https://x.example/u?list=1", token)
    assert query == f"https://x.example/u?list=1&token={token}"
    assert tokens.verify(KEYS, query) == "a+b@example.com"
    assert tokens.verify(KEYS, plain) == "a+b@example.com"
    assert tokens.verify(KEYS, f"https://x.example/u/{token}") == "a+b@example.com"


def test_cli_unsubscribe_by_token_link_and_address(tmp_path: Path) -> None:
    config = make_site(tmp_path)
    add_subscribers(config, ["ann@example.com", "bob@example.com", "cy@example.com"])
    keys = tokens.for_store(config.state_file, env())
    link = tokens.unsubscribe_url(
        config.delivery.unsubscribe_url, tokens.make(keys, "ann@example.com")
    )
    assert run_cli(tmp_path, "unsubscribe", link, check=True).stdout.startswith("Unsubscribed")
    token = tokens.make(keys, "bob@example.com")
    run_cli(tmp_path, "unsubscribe", token, check=True)
    run_cli(tmp_path, "unsubscribe", "cy@EXAMPLE.COM", check=True)
    again = run_cli(tmp_path, "unsubscribe", "cy@example.com", check=True)
    assert again.stdout.startswith("Already unsubscribed")
    forged = run_cli(tmp_path, "unsubscribe", tokens.make(
        tokens.bind(b"x" * 20, "0" * 32), "ann@example.com"))
    assert forged.returncode == 1 and "another list" in forged.stderr
    forged = run_cli(tmp_path, "unsubscribe", tokens.make(
        tokens.bind(b"x" * 20, keys_salt(config)), "ann@example.com"))
    assert forged.returncode == 1 and "does not verify" in forged.stderr
    no_secret = run_cli(tmp_path, "unsubscribe", token, environ=env(PUBLISHER_SECRET=""))
    assert no_secret.returncode == 1 and "PUBLISHER_SECRET" in no_secret.stderr
    state = Store.open(config.state_file)
    try:
        assert {s.status for s in state.subscribers.listing()} == {"unsubscribed"}
    finally:
        state.close()


def keys_salt(config: Config) -> str:
    state = Store.open(config.state_file)
    try:
        return state.meta.install_salt()
    finally:
        state.close()


# -- single-purpose tokens: confirm (expiring), manage, unsubscribe ------------------


def test_purpose_tokens_round_trip_and_expire() -> None:
    confirm = tokens.make_for(KEYS, "confirm", "ann@example.com", expires=2_000)
    assert tokens.verify_for(KEYS, "confirm", confirm, now=1_999) == "ann@example.com"
    with pytest.raises(tokens.TokenError) as expired:
        tokens.verify_for(KEYS, "confirm", confirm, now=2_000)
    assert expired.value.reason == "expired"
    manage = tokens.make_for(KEYS, "manage", "ann@example.com")
    assert tokens.verify_for(KEYS, "manage", manage) == "ann@example.com"
    assert tokens.make_for(KEYS, "unsubscribe", "ann@example.com") == tokens.make(
        KEYS, "ann@example.com"
    )
    assert tokens.verify_for(KEYS, "unsubscribe", tokens.make(KEYS, "ann@example.com")) == (
        "ann@example.com"
    )


def test_a_token_is_good_for_its_own_purpose_only() -> None:
    made = {
        "confirm": tokens.make_for(KEYS, "confirm", "ann@example.com", expires=10**12),
        "manage": tokens.make_for(KEYS, "manage", "ann@example.com"),
        "unsubscribe": tokens.make(KEYS, "ann@example.com"),
    }
    for purpose in made:
        for other, token in made.items():
            if other == purpose:
                continue
            with pytest.raises(tokens.TokenError) as refused:
                tokens.verify_for(KEYS, purpose, token)  # type: ignore[arg-type]
            assert refused.value.reason == "purpose", (purpose, other)
    # Relabelling a token does not help: the purpose is inside the MAC.
    for relabelled in ("m" + made["confirm"][1:], "u" + made["manage"][1:]):
        with pytest.raises(tokens.TokenError) as forged:
            tokens.verify_for(KEYS, "manage" if relabelled[0] == "m" else "unsubscribe",
                              relabelled)
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
        (f"c.{KEYS.tag}.!!!.AAAA", "malformed"),
        (f"x.{KEYS.tag}.YW5u.AAAA", "malformed"),
        ("c.a.b.c.d", "malformed"),
    ],
)
def test_damaged_purpose_tokens(token: str, reason: str) -> None:
    with pytest.raises(tokens.TokenError) as refused:
        tokens.verify_for(LEGACY, "confirm", token)
    assert refused.value.reason == reason


def test_forged_and_truncated_purpose_tokens() -> None:
    good = tokens.make_for(KEYS, "confirm", "ann@example.com", expires=10**12)
    other = tokens.make_for(tokens.bind(b"another-secret-of-enough-length", SALT), "confirm",
                            "ann@example.com", expires=10**12)
    letter, tag, payload, mac = good.split(".")
    bob = b64(b"bob@example.com\x00" + str(10**12).encode())
    for token in (other, good[:-3], f"{letter}.{tag}.{bob}.{mac}"):
        with pytest.raises(tokens.TokenError) as refused:
            tokens.verify_for(KEYS, "confirm", token)
        assert refused.value.reason in ("forged", "malformed")
    # A confirm token without its expiry cannot be made without the secret either.
    no_expiry = tokens.make_for(KEYS, "confirm", "ann@example.com")
    with pytest.raises(tokens.TokenError) as refused:
        tokens.verify_for(KEYS, "confirm", no_expiry)
    assert refused.value.reason == "malformed"


# -- issue 20: one list's tokens, one spelling ---------------------------------------


def test_another_lists_tokens_are_refused_as_another_lists() -> None:
    for purpose in ("unsubscribe", "confirm", "manage"):
        theirs = tokens.make_for(OTHER_LIST, purpose, "ann@example.com", expires=10**12)
        assert tokens.verify_for(OTHER_LIST, purpose, theirs) == "ann@example.com"
        with pytest.raises(tokens.TokenError) as refused:
            tokens.verify_for(KEYS, purpose, theirs)
        assert refused.value.reason == "list"
        # Relabelled with this list's tag, it is a forgery: the MAC is the other list's.
        mine = theirs.replace(f".{OTHER_LIST.tag}.", f".{KEYS.tag}.", 1)
        with pytest.raises(tokens.TokenError) as forged:
            tokens.verify_for(KEYS, purpose, mine)
        assert forged.value.reason == "forged"


def test_old_tokens_verify_only_on_a_list_that_made_them() -> None:
    secret = SECRET.encode()
    unsubscribe = old_unsubscribe(secret, "ann@example.com")
    manage = old_purpose(secret, "manage", b"ann@example.com")
    confirm = old_purpose(secret, "confirm", b"ann@example.com\x00" + str(10**12).encode())
    cases = [("unsubscribe", unsubscribe), ("manage", manage), ("confirm", confirm)]
    for purpose, token in cases:
        assert tokens.verify_for(LEGACY, purpose, token) == "ann@example.com"  # type: ignore[arg-type]
        with pytest.raises(tokens.TokenError) as refused:
            tokens.verify_for(KEYS, purpose, token)  # type: ignore[arg-type]
        assert refused.value.reason == "list"
    # Made with another secret, they are forgeries everywhere.
    with pytest.raises(tokens.TokenError) as forged:
        tokens.verify_for(LEGACY, "unsubscribe", old_unsubscribe(b"x" * 20, "ann@example.com"))
    assert forged.value.reason == "forged"
    # The old purpose rules hold: an old unsubscribe token does not manage.
    with pytest.raises(tokens.TokenError) as wrong:
        tokens.verify_for(LEGACY, "manage", unsubscribe)
    assert wrong.value.reason == "purpose"


def spellings(part: str) -> list[str]:
    """Every base64url spelling of the same bytes as `part` (unpadded): the
    last character's unused low bits set every way."""
    alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"
    unused = {2: 4, 3: 2}.get(len(part) % 4, 0)  # 1 or 2 bytes in the last group
    index = alphabet.index(part[-1])
    return [part[:-1] + alphabet[index | low] for low in range(1 << unused)
            if index | low != index or low == 0]


@pytest.mark.parametrize("purpose", ["unsubscribe", "confirm", "manage"])
def test_only_the_canonical_base64_spelling_verifies(purpose: str) -> None:
    token = tokens.make_for(KEYS, purpose, "ann@example.com", expires=10**12)  # type: ignore[arg-type]
    letter, tag, payload, mac = token.split(".")
    macs = spellings(mac)
    assert len(macs) == 16 and macs[0] == mac  # 16 bytes: 22 characters, 4 bits spare
    assert len({base64.urlsafe_b64decode(m + "==") for m in macs}) == 1
    others = [f"{letter}.{tag}.{payload}.{m}" for m in macs[1:]]
    others += [f"{letter}.{tag}.{p}.{mac}" for p in spellings(payload)[1:]]
    others += [f"{letter}.{tag}.{payload}.{mac}=", f"{letter}.{tag}.{payload}.{mac[:5]}\n{mac[5:]}"]
    assert others
    assert tokens.verify_for(KEYS, purpose, token) == "ann@example.com"  # type: ignore[arg-type]
    for other in others:
        with pytest.raises(tokens.TokenError):
            tokens.verify_for(KEYS, purpose, other)  # type: ignore[arg-type]


def test_old_unsubscribe_tokens_have_one_spelling_too(tmp_path: Path) -> None:
    """Through the command line, on a list that made old tokens: 15 other
    spellings of one MAC used to unsubscribe as well as the real one."""
    config = make_site(tmp_path)
    legacy_store(config, ["ann@example.com"])
    token = old_unsubscribe(SECRET.encode(), "ann@example.com")
    address, mac = token.split(".")
    others = [f"{address}.{m}" for m in spellings(mac)[1:]]
    assert len(others) == 15
    for other in others:
        proc = run_cli(tmp_path, "unsubscribe", other)
        assert proc.returncode == 1 and "damaged" in proc.stderr, other
    state = Store.open(config.state_file)
    try:
        assert [s.status for s in state.subscribers.listing()] == ["active"]
    finally:
        state.close()
    assert run_cli(tmp_path, "unsubscribe", token, check=True).stdout.startswith("Unsubscribed")
