"""DKIM signatures on real messages, verified with dkimpy's own verifier
against the DNS TXT record a site would publish (handed to it through its
`dnsfunc`, so no network is involved)."""

from __future__ import annotations

import base64
import os
import shutil
import subprocess
from pathlib import Path

import dkim
import pytest

from publisher.app import pipeline
from publisher.config.rules import dkim_problems
from publisher.config.settings import Config
from publisher.errors import ConfigError
from publisher.mail.dkim import signer_from_config

from .delivery_support import NOW, SECRET, add_subscribers, make_site, parse, run_cli


@pytest.fixture(autouse=True)
def secret(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PUBLISHER_SECRET", SECRET)


def _need_openssl() -> None:
    if shutil.which("openssl") is None:
        if os.environ.get("CI") == "true":
            pytest.fail("openssl is needed to make the test key; CI installs it (.ci/run)")
        pytest.skip("openssl is needed to make the test key")


def make_key(folder: Path) -> tuple[Path, bytes]:
    """A fresh 2048-bit RSA key (mode 0600) and its DNS TXT record."""
    _need_openssl()
    key = folder / "dkim.pem"
    subprocess.run(["openssl", "genrsa", "-out", str(key), "2048"], check=True,
                   capture_output=True)
    key.chmod(0o600)
    der = subprocess.run(["openssl", "rsa", "-in", str(key), "-pubout", "-outform", "DER"],
                         check=True, capture_output=True).stdout
    return key, b"v=DKIM1; k=rsa; p=" + base64.b64encode(der)


def dns(record: bytes, name: bytes = b"s2026._domainkey.news.example.org."):
    def lookup(query: bytes, timeout: int = 5) -> bytes | None:
        return record if query == name else None

    return lookup


def signed_site(tmp_path: Path, people: list[str], **extra: object) -> tuple[Config, bytes]:
    key, record = make_key(tmp_path)
    config = make_site(tmp_path, {
        "dkim_key": key.name, "dkim_selector": "s2026", "dkim_domain": "news.example.org",
        "return_path": "bounces@news.example.org", **extra,
    })
    add_subscribers(config, people)
    return config, record


def test_every_message_is_signed_and_verifies(tmp_path: Path) -> None:
    people = ["ann@example.com", "Bob.Jones@example.net"]
    config, record = signed_site(tmp_path, people)
    result = pipeline.publish(config, NOW)
    assert result.delivery is not None and result.delivery.sent == 2
    files = sorted(config.resolve(".publisher/outbox").glob("*.eml"))
    assert len(files) == 2
    (tmp_path / "other").mkdir()
    _, other = make_key(tmp_path / "other")
    for file in files:
        raw = file.read_bytes()
        assert raw.startswith(b"DKIM-Signature: v=1; a=rsa-sha256; c=relaxed/relaxed;")
        assert dkim.verify(raw, dnsfunc=dns(record))
        msg = parse(raw)
        fields = dict(
            part.strip().split("=", 1)
            for part in " ".join(msg["DKIM-Signature"].split()).split(";") if "=" in part
        )
        assert fields["d"] == "news.example.org" and fields["s"] == "s2026"
        signed = [h.strip() for h in fields["h"].split(":")]
        # RFC 8058 section 4: both List-Unsubscribe fields under the signature.
        for name in ("from", "to", "subject", "date", "message-id", "list-unsubscribe",
                     "list-unsubscribe-post", "list-id", "mime-version", "content-type"):
            assert name in signed, name
        assert signed.count("from") == 2  # oversigned: no second From can be added
        # Tampering with a signed header breaks it.
        tampered = raw.replace(b"List-Unsubscribe-Post: List-Unsubscribe=One-Click",
                               b"List-Unsubscribe-Post: List-Unsubscribe=Two-Click")
        assert tampered != raw and not dkim.verify(tampered, dnsfunc=dns(record))
        # So does adding a header that was oversigned.
        assert not dkim.verify(b"List-Unsubscribe: <https://evil.example/>\r\n" + raw,
                               dnsfunc=dns(record))
        # And the wrong key in DNS.
        assert not dkim.verify(raw, dnsfunc=dns(other))


def test_a_key_readable_by_others_is_refused_naming_chmod(tmp_path: Path) -> None:
    config, _record = signed_site(tmp_path, ["ann@example.com"])
    key = config.resolve("dkim.pem")
    key.chmod(0o644)
    problems = dkim_problems(config)
    assert [str(p) for p in problems] == [
        f"publisher.toml: [delivery] dkim_key: {key} is readable by others (mode 0644)"
    ]
    assert problems[0].hint.startswith(f"run `chmod 600 {key}`")
    with pytest.raises(ConfigError):
        signer_from_config(config)
    # Nothing goes out unsigned: the send stops before the first message.
    result = pipeline.publish(config, NOW)
    assert isinstance(result.delivery_error, ConfigError)
    assert not list(config.resolve(".publisher/outbox").glob("*.eml"))
    proc = run_cli(tmp_path, "check")
    assert proc.returncode == 1 and "is readable by others (mode 0644)" in proc.stderr


@pytest.mark.parametrize(
    ("delivery", "needle"),
    [
        ({"dkim_selector": ""}, "set all three to sign with DKIM, or none"),
        ({"dkim_key": "missing.pem"}, "cannot read"),
        ({"dkim_domain": "elsewhere.example"}, "does not align with the From domain"),
    ],
)
def test_dkim_settings_are_checked(tmp_path: Path, delivery: dict[str, str], needle: str) -> None:
    config, _ = signed_site(tmp_path, [], **delivery)
    assert needle in " ".join(str(p) for p in dkim_problems(config))


def test_a_parent_domain_aligns(tmp_path: Path) -> None:
    config, _ = signed_site(tmp_path, [], dkim_domain="example.org")
    assert dkim_problems(config) == []
