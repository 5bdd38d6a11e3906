"""Per-subscriber messages, parsed back with the email package and checked header by header."""

from __future__ import annotations

from datetime import timedelta
from email.utils import parsedate_to_datetime
from pathlib import Path
from urllib.parse import parse_qs, unquote, urlsplit

import pytest

from publisher import newsletter, pipeline
from publisher.config import Config
from publisher.errors import ConfigError
from publisher.mail import tokens
from publisher.mail.messages import (
    Recipient,
    for_subscriber,
    message_id,
    sender_from_config,
)
from publisher.newsletter import NAME_MARK, UNSUBSCRIBE_MARK
from publisher.store.state import DigestRecord, open_state

from .delivery_support import NOW, SECRET, add_subscribers, make_site, parse, write_post


@pytest.fixture(autouse=True)
def secret(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PUBLISHER_SECRET", SECRET)


def published(tmp_path: Path, people: list[str], **delivery: object) -> tuple[Config, list[Path]]:
    config = make_site(tmp_path, dict(delivery))
    add_subscribers(config, people)
    result = pipeline.publish(config, NOW)
    assert result.delivery is not None and result.delivery.sent == len(people)
    return config, sorted(config.resolve(".publisher/outbox").glob("*.eml"))


def test_every_header_of_a_real_message(tmp_path: Path) -> None:
    config, files = published(
        tmp_path, ["Reader.One@Example.com"], reply_to="Desk <desk@news.example.org>"
    )
    raw = files[0].read_bytes()
    msg = parse(raw)
    assert msg["From"].addresses[0].display_name == "Example News"
    assert msg["From"].addresses[0].addr_spec == "news@news.example.org"
    assert msg["To"].addresses[0].addr_spec == "Reader.One@example.com"
    assert msg["To"].addresses[0].display_name == "Reader 0"
    assert msg["Reply-To"].addresses[0].addr_spec == "desk@news.example.org"
    state = open_state(config.state_file)
    try:
        record = state.last_digest()
    finally:
        state.close()
    assert record is not None
    assert msg["Subject"] == record.subject
    assert msg["Subject"].startswith("Example News digest: Post number")
    assert parsedate_to_datetime(msg["Date"]) == NOW
    assert msg["Message-ID"] == message_id(
        record.slug, record.id, "Reader.One@example.com", "news.example.org"
    )
    assert msg["MIME-Version"] == "1.0"
    assert msg["List-Id"] == "Example News <digest.news.example.org>"
    assert msg["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"
    assert msg["Auto-Submitted"] == "auto-generated"
    https, mailto = [t.strip().strip("<>") for t in msg["List-Unsubscribe"].split(",")]
    assert https.startswith("https://news.example.org/unsubscribe?token=")
    token = parse_qs(urlsplit(https).query)["token"][0]
    assert tokens.verify(SECRET.encode(), token) == "Reader.One@example.com"
    assert mailto.startswith("mailto:unsubscribe@news.example.org?subject=")
    assert unquote(mailto.partition("subject=")[2]) == f"unsubscribe {token}"
    # No header is an RFC 2047 encoded-word where a receiver needs plain text.
    assert b"=?" not in raw.split(b"\r\n\r\n", 1)[0]
    assert all(len(line) <= 998 for line in raw.split(b"\r\n"))
    assert b"\n" not in raw.replace(b"\r\n", b"")

    assert msg.get_content_type() == "multipart/alternative"
    parts = list(msg.iter_parts())
    assert [p.get_content_type() for p in parts] == ["text/plain", "text/html"]
    text, html = (p.get_content() for p in parts)
    assert https in text
    assert https.replace("&", "&amp;") in html
    assert "Hi Reader 0," in text and "Hi Reader 0," in html
    assert NAME_MARK not in text + html and UNSUBSCRIBE_MARK not in text + html
    assert 'style="' in html  # the CSS-inlined copy from the digest
    assert len(html.encode("utf-8")) <= config.digest.max_html_bytes
    assert len(raw) < config.digest.max_html_bytes + 2 * len(text.encode("utf-8")) + 8_000


def test_message_ids_are_stable_and_distinct(tmp_path: Path) -> None:
    people = ["a@example.com", "b@example.com"]
    config, files = published(tmp_path, people)
    ids = [parse(f.read_bytes())["Message-ID"] for f in files]
    assert len(set(ids)) == 2
    state = open_state(config.state_file)
    try:
        record = state.last_digest()
    finally:
        state.close()
    assert record is not None
    again = for_subscriber(
        sender_from_config(config), record, Recipient(people[0], "", people[0]),
        SECRET.encode(), NOW + timedelta(hours=5),
    )
    assert parse(again)["Message-ID"] == ids[0]
    other = DigestRecord(**{**record.__dict__, "id": record.id + 1, "slug": "2026-03-09"})
    moved = for_subscriber(
        sender_from_config(config), other, Recipient(people[0], "", people[0]),
        SECRET.encode(), NOW,
    )
    assert parse(moved)["Message-ID"] not in ids


def test_newline_in_a_title_cannot_reach_a_header(tmp_path: Path) -> None:
    (tmp_path / "content").mkdir()
    (tmp_path / "content" / "2026-03-01-evil.md").write_text(
        '---\ntitle: "Hello\\r\\nBcc: victim@example.net\\nX-Evil: 1"\n'
        "date: 2026-03-01T09:00:00\n---\n\nBody.\n",
        encoding="utf-8",
    )
    config, files = published(tmp_path, ["a@example.com"])
    msg = parse(files[0].read_bytes())
    assert msg["Bcc"] is None and msg["X-Evil"] is None
    assert "\n" not in msg["Subject"] and "\r" not in msg["Subject"]
    assert "Hello Bcc: victim@example.net X-Evil: 1" in msg["Subject"]


def test_newline_in_a_recorded_subject_or_name_is_collapsed(tmp_path: Path) -> None:
    config = make_site(tmp_path)
    record = DigestRecord(
        id=7, slug="2026-03-02", issued_at=NOW, cutoff=NOW,
        subject="Line one\nBcc: x@example.net", html="<p>Hi</p>", text="Hi", more=0,
        post_keys=(),
    )
    msg = for_subscriber(
        sender_from_config(config), record,
        Recipient("a@example.com", "Eve\r\nCc: y@example.net", "a@example.com"),
        SECRET.encode(), NOW,
    )
    back = parse(msg)
    assert back["Bcc"] is None and back["Cc"] is None
    assert back["Subject"] == "Line one Bcc: x@example.net"
    assert back["To"].addresses[0].addr_spec == "a@example.com"


def test_premailer_is_not_run_per_subscriber(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    config = make_site(tmp_path)
    calls: list[int] = []
    real = newsletter.inline_css

    def counting(html: str) -> str:
        calls.append(1)
        return real(html)

    monkeypatch.setattr(newsletter, "inline_css", counting)
    add_subscribers(config, [f"r{i}@example.com" for i in range(6)])
    result = pipeline.publish(config, NOW)
    assert result.delivery is not None and result.delivery.sent == 6
    assert len(calls) == 1


def test_size_stays_under_budget_with_many_posts(tmp_path: Path) -> None:
    for i in range(40):
        write_post(tmp_path, f"long-{i}", f"A fairly long title for post {i} " * 3,
                   f"2026-03-01T{i % 24:02d}:00:00")
    config, files = published(tmp_path, ["a@example.com"])
    html = list(parse(files[0].read_bytes()).iter_parts())[1].get_content()
    assert len(html.encode("utf-8")) <= config.digest.max_html_bytes


@pytest.mark.parametrize(
    ("delivery", "needle"),
    [
        ({"from": ""}, "[delivery] from: required"),
        ({"from": "not an address"}, "[delivery] from: expected one address"),
        ({"unsubscribe_url": "http://news.example.org/u"}, "[delivery] unsubscribe_url"),
        ({"unsubscribe_url": ""}, "[delivery] unsubscribe_url"),
        ({"unsubscribe_url": "https://example.org/#/unsubscribe"}, "has a #fragment"),
        ({"unsubscribe_url": "https://example.org/désabonnement"}, "must be plain ASCII"),
        ({"unsubscribe_url": "https://example.org/a,b"}, "must be plain ASCII"),
        ({"unsubscribe_mailto": "désinscription@example.org"}, "must be a plain ASCII"),
    ],
)
def test_sender_settings_are_checked(
    tmp_path: Path, delivery: dict[str, str], needle: str
) -> None:
    config = make_site(tmp_path, delivery)
    with pytest.raises(ConfigError, match=needle.replace("[", r"\[").replace("]", r"\]")):
        sender_from_config(config)


def test_nothing_personal_reaches_out(tmp_path: Path) -> None:
    config, files = published(tmp_path, ["ann.private@example.com"])
    assert files
    public = b"".join(p.read_bytes() for p in config.out_dir.rglob("*") if p.is_file())
    assert b"token=" not in public and b"ann.private" not in public
    assert b"Reader 0" not in public
    assert b"https://news.example.org/unsubscribe" in public


def test_awkward_names_survive_the_to_header(tmp_path: Path) -> None:
    config = make_site(tmp_path)
    record = DigestRecord(
        id=1, slug="2026-03-02", issued_at=NOW, cutoff=NOW, subject="Ünïcode subject",
        html=f"<p>Hi {NAME_MARK}</p>", text=f"Hi {NAME_MARK}", more=0, post_keys=(),
    )
    awkward = [
        'Bob, "Jr." <boss>',
        "Zoë Ångström",
        "O'Brien (Sales)",
        "back\\slash; semi: colon@at",
        "東京の読者 " * 12,  # several encoded-words, folded
        "Émile =?utf-8?q?not-a-word?= Zola",
    ]
    for name in awkward:
        name = " ".join(name.split())
        msg = for_subscriber(
            sender_from_config(config), record,
            Recipient("bob@example.com", name, "bob@example.com"), SECRET.encode(), NOW,
        )
        back = parse(msg)
        (to,) = back["To"].addresses
        assert (to.display_name, to.addr_spec) == (name, "bob@example.com")
        assert back["Subject"] == "Ünïcode subject"
        text, html = (p.get_content() for p in back.iter_parts())
        assert text.rstrip("\r\n") == f"Hi {name}"
        assert html.startswith("<p>Hi ") and "<boss>" not in html


def test_filled_template_decodes_to_exactly_the_personalised_digest(tmp_path: Path) -> None:
    """The per-subscriber fast path must equal newsletter.personalise, byte for byte."""
    config = make_site(tmp_path)
    long_line = "x" * 300 + NAME_MARK + "=y" * 50 + UNSUBSCRIBE_MARK + " tail \t"
    record = DigestRecord(
        id=3, slug="2026-03-02", issued_at=NOW, cutoff=NOW, subject="S",
        html=f"<p>{NAME_MARK}</p>\n<a href=\"{UNSUBSCRIBE_MARK}\">u</a>\n{long_line}\n.\nFrom x",
        text=f"Hi {NAME_MARK},\n\n{long_line}\n{UNSUBSCRIBE_MARK}\n",
        more=0, post_keys=(),
    )
    sender = sender_from_config(config)
    for name in ["", "Zoë = Ångström & <Co> " * 5, "Plain Name", "東京 " + "é" * 80]:
        recipient = Recipient("a@example.com", name, "a@example.com")
        raw = for_subscriber(sender, record, recipient, SECRET.encode(), NOW)
        assert all(len(line) <= 76 for line in raw.split(b"\r\n\r\n", 1)[1].split(b"\r\n"))
        back = parse(raw)
        text, html = (p.get_content() for p in back.iter_parts())
        token = tokens.make(SECRET.encode(), "a@example.com")
        link = tokens.unsubscribe_url(config.delivery.unsubscribe_url, token)
        want_html, want_text = newsletter.personalise(record.html, record.text, name, link)
        # Mail line breaks are CRLF; otherwise the bodies are identical.
        assert html.replace("\r\n", "\n") == want_html
        assert text.replace("\r\n", "\n") == want_text
