"""One email message per subscriber from an issued digest.

The digest's HTML was CSS-inlined once when it was composed; here each copy
only gets the subscriber's name and unsubscribe link swapped in (plain string
work), then the headers that bulk-mail receivers check today: List-Id,
one-click List-Unsubscribe (RFC 8058), Auto-Submitted, a Message-ID that is
stable per (list, digest, subscriber), unique across lists and installs, and
MAC'd so a report returning it proves itself (mail/msgid.py).
"""

from __future__ import annotations

import base64
import hashlib
import html as htmllib
import re
from dataclasses import dataclass
from datetime import datetime
from email import quoprimime
from email.headerregistry import Address
from email.message import EmailMessage
from email.policy import SMTP
from email.utils import format_datetime
from urllib.parse import quote, urlsplit

from ..config.rules import mail_address, raise_problems, sender_problems, unsubscribe_mailto
from ..config.settings import Config
from ..digest import letter as newsletter
from ..store.digests import DigestRecord
from . import msgid
from .tokens import ListKeys, list_tag, make, unsubscribe_url

# CRLF line endings, ready for a server or an .eml file. Header lines may run
# to RFC 5322's hard limit of 998: folded at 78, the email package would turn a
# long List-Unsubscribe URL into an RFC 2047 encoded-word that receivers ignore.
HEADER_POLICY = SMTP.clone(max_line_length=998)


@dataclass(frozen=True)
class Sender:
    """The checked [delivery] settings every message of a run shares."""

    address: Address
    reply_to: Address | None
    list_id: str
    unsubscribe_base: str
    unsubscribe_mailto: str  # bare address, or ""

    @property
    def domain(self) -> str:
        return self.address.domain


@dataclass(frozen=True)
class Recipient:
    email: str
    name: str
    key: str  # email key, what the unsubscribe token signs
    first_name: str = ""  # for the greeting; the name when empty
    subscriber_id: int = 0  # in the Message-ID


def one_line(value: str) -> str:
    """Collapse every run of whitespace (newlines included) to one space."""
    return " ".join(value.split())


def sender_from_config(config: Config, salt: str = "") -> Sender:
    """The [delivery] settings every message needs; ConfigError names each bad key.

    `salt` is the state store's install salt (`Meta.install_salt`): the
    default List-Id is this list's own. Only a message without a List-Id (the
    confirmation) may leave it out."""
    raise_problems(sender_problems(config))
    d = config.delivery
    reply_to = mail_address(d.reply_to) if d.reply_to else None
    mailto = unsubscribe_mailto(d)
    if mailto:
        mailto = mail_address(mailto).addr_spec
    return Sender(
        mail_address(d.sender), reply_to, list_id(config, salt), d.unsubscribe_url.strip(),
        mailto,
    )


def list_id(config: Config, salt: str) -> str:
    """`[delivery] list_id`, else `Site title <digest-<tag>.site-host>`: the tag
    (from the install salt) keeps two lists on one host apart. Without a salt,
    the default every list had before: `Site title <digest.site-host>`."""
    explicit = one_line(config.delivery.list_id)
    if explicit:
        return explicit
    host = (urlsplit(config.site.url).hostname or "localhost").lower()
    label = f"digest-{list_tag(salt)}" if salt else "digest"
    return f"{one_line(config.site.title)} <{label}.{host}>"


@dataclass(frozen=True)
class Template:
    """One digest's message with the per-subscriber parts left open.

    Built once per digest with the email package (so shared headers are
    encoded exactly as it would), then filled in per subscriber by string
    work alone: 100,000 messages cannot each afford the email package's
    ~2 ms. Bodies are quoted-printable; the text around each personal marker
    is encoded once, each personal value per subscriber, and the pieces are
    joined with soft line breaks ("=" CRLF), which decoders remove, so no
    line ever passes 76 characters.
    """

    sender: Sender
    head: str  # shared headers, each ending in CRLF
    boundary: str
    text: tuple[str, ...]  # encoded pieces and markers, alternating
    html: tuple[str, ...]
    # Per part, "quoted-printable" or "base64", whichever is smaller: a CJK
    # character is 9 bytes quoted-printable but 4 in base64. A base64 part's
    # pieces are the raw body, marks and all, encoded whole per subscriber.
    encodings: tuple[str, str] = ("quoted-printable", "quoted-printable")

    def render(self, recipient: Recipient, keys: ListKeys, msg_id: str) -> bytes:
        token = make(keys, recipient.key)
        link = unsubscribe_url(self.sender.unsubscribe_base, token)
        name = (recipient.first_name.strip() or recipient.name.strip()
                or newsletter.DEFAULT_NAME)
        targets = f"<{link}>"
        if self.sender.unsubscribe_mailto:
            subject = quote("unsubscribe " + token)
            targets += f", <mailto:{self.sender.unsubscribe_mailto}?subject={subject}>"
        values = {
            newsletter.NAME_MARK: (name, htmllib.escape(name)),
            newsletter.UNSUBSCRIBE_MARK: (link, htmllib.escape(link)),
        }
        b = self.boundary
        data = (
            f"{_to_header(recipient)}"
            f"{self.head}"
            f"Message-ID: {msg_id}\r\n"
            f"List-Unsubscribe: {targets}\r\n"
            f'Content-Type: multipart/alternative; boundary="{b}"\r\n'
            "\r\n"
            f"--{b}\r\n"
            'Content-Type: text/plain; charset="utf-8"\r\n'
            f"Content-Transfer-Encoding: {self.encodings[0]}\r\n\r\n"
            f"{_fill(self.text, values, 0, self.encodings[0])}\r\n"
            f"--{b}\r\n"
            'Content-Type: text/html; charset="utf-8"\r\n'
            f"Content-Transfer-Encoding: {self.encodings[1]}\r\n\r\n"
            f"{_fill(self.html, values, 1, self.encodings[1])}\r\n"
            f"--{b}--\r\n"
        )
        return data.encode("ascii")


def prepare(sender: Sender, *, subject: str, html: str, text: str, now: datetime) -> Template:
    head = EmailMessage(policy=HEADER_POLICY)
    head["From"] = sender.address
    if sender.reply_to is not None:
        head["Reply-To"] = sender.reply_to
    head["Subject"] = one_line(subject)
    head["Date"] = format_datetime(now)
    head["MIME-Version"] = "1.0"
    head["List-Id"] = sender.list_id
    head["List-Unsubscribe-Post"] = "List-Unsubscribe=One-Click"
    head["Auto-Submitted"] = "auto-generated"
    head["Precedence"] = "bulk"
    head_text = head.as_bytes(policy=HEADER_POLICY).decode("ascii").split("\r\n\r\n", 1)[0]
    seed = hashlib.sha256(f"{subject}\0{html}\0{text}".encode()).hexdigest()[:24]
    parts = [_encoded(text), _encoded(html)]
    return Template(
        sender=sender,
        head=head_text + "\r\n",
        # "=_" never occurs in quoted-printable text or base64, so the
        # boundary cannot either.
        boundary=f"=_publisher_{seed}",
        text=parts[0][1],
        html=parts[1][1],
        encodings=(parts[0][0], parts[1][0]),
    )


def _encoded(body: str) -> tuple[str, tuple[str, ...]]:
    """The smaller transfer encoding for `body` and its pieces for `_fill`."""
    pieces = _pieces(body)
    qp_size = sum(len(p) for p in pieces[::2])
    raw = len(_crlf(body).encode("utf-8"))
    if base64_size(raw) < qp_size:
        return "base64", tuple(_MARKS.split(_crlf(body)))
    return "quoted-printable", pieces


def base64_size(raw: int) -> int:
    """Bytes of `raw` bytes base64-encoded in lines of 76 with CRLF."""
    chars = 4 * ((raw + 2) // 3)
    return chars + 2 * (chars // 76)


def _crlf(body: str) -> str:
    # Mail has only CRLF line breaks; a lone CR becomes one too, as it would anyway.
    return body.replace("\r\n", "\n").replace("\r", "\n").replace("\n", "\r\n")


_MARKS = re.compile(f"({re.escape(newsletter.NAME_MARK)}|{re.escape(newsletter.UNSUBSCRIBE_MARK)})")
_PLAIN_NAME = re.compile(r"[A-Za-z0-9 ]*")


def _qp(value: str) -> str:
    # The email package's own encoder, on UTF-8 bytes seen as latin-1, as it does.
    # 75 columns, not RFC 2045's 76: `_fill` ends a piece's last line with one
    # more "=", the soft break before or after a personal value.
    encoded: str = quoprimime.body_encode(value.encode("utf-8").decode("latin-1"), 75, "\r\n")
    return encoded


def _pieces(body: str) -> tuple[str, ...]:
    # Mail has only CRLF line breaks; a lone CR becomes one too, as it would anyway.
    body = body.replace("\r\n", "\n").replace("\r", "\n")
    parts = _MARKS.split(body)
    return tuple(_qp(p) if i % 2 == 0 else p for i, p in enumerate(parts))


def _fill(
    pieces: tuple[str, ...],
    values: dict[str, tuple[str, str]],
    which: int,
    encoding: str = "quoted-printable",
) -> str:
    if encoding == "base64":
        # A personal value is one line in the store, but line breaks are CRLF whatever comes.
        body = "".join(p if i % 2 == 0 else _crlf(values[p][which]) for i, p in enumerate(pieces))
        encoded = base64.b64encode(body.encode("utf-8")).decode("ascii")
        return "\r\n".join(encoded[i : i + 76] for i in range(0, len(encoded), 76))
    out = []
    for i, piece in enumerate(pieces):
        if i % 2 == 0:
            out.append(piece)
        else:
            out.append("=\r\n" + _qp(values[piece][which]) + "=\r\n")
    return "".join(out)


def _to_header(recipient: Recipient) -> str:
    """The To header, written directly: the email package's header parser
    costs ~0.2 ms a name, which 100,000 subscribers cannot afford."""
    name = one_line(recipient.name)
    address = recipient.email
    if not name:
        return f"To: {address}\r\n"
    if _PLAIN_NAME.fullmatch(name):
        return f"To: {name} <{address}>\r\n"
    if name.isascii() and "=?" not in name:
        quoted = name.replace("\\", "\\\\").replace('"', '\\"')
        return f'To: "{quoted}" <{address}>\r\n'
    # One RFC 2047 encoded-word, as the email package writes it under the
    # 998-column policy: split words are re-joined with spaces by some
    # readers (Python's own parser among them). ASCII that looks like an
    # encoded-word is encoded too: lenient readers (Python's again) decode
    # one even inside quotes, and would show "x" for "=?utf-8?q?x?=".
    word = f"=?utf-8?b?{base64.b64encode(name.encode('utf-8')).decode('ascii')}?="
    line = f"To: {word} <{address}>\r\n"
    if len(line) <= 998:
        return line
    local, _, domain = address.rpartition("@")
    while True:
        header = HEADER_POLICY.header_factory(
            "To", Address(display_name=name, username=local, domain=domain)
        )
        folded: str = header.fold(policy=HEADER_POLICY)
        if max(len(line) for line in folded.split("\r\n")) <= 998:
            return folded
        # The email package can overrun RFC 5322's 998 bytes by one on names
        # of wide characters near the length limit; the name is only shown,
        # so shorten it rather than send a line that servers may reject.
        name = name[:-2] + "…"


def for_subscriber(
    sender: Sender,
    record: DigestRecord,
    recipient: Recipient,
    keys: ListKeys,
    now: datetime,
    template: Template | None = None,
) -> bytes:
    """The message for one subscriber; pass `template` (from `for_digest`) when
    sending many, so the shared work is done once."""
    template = template or for_digest(sender, record, now)
    msg_id = msgid.make(keys, record.slug, record.id, recipient.subscriber_id, sender.domain)
    return template.render(recipient, keys, msg_id)


def for_digest(sender: Sender, record: DigestRecord, now: datetime) -> Template:
    return prepare(sender, subject=record.subject, html=record.html, text=record.text, now=now)
