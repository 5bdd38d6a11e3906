"""One email message per subscriber from an issued digest.

The digest's HTML was CSS-inlined once when it was composed; here each copy
only gets the subscriber's name and unsubscribe link swapped in (plain string
work), then the headers that bulk-mail receivers check today: List-Id,
one-click List-Unsubscribe (RFC 8058), Auto-Submitted, a stable Message-ID.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from datetime import datetime
from email.headerregistry import Address
from email.message import EmailMessage
from email.policy import SMTP
from email.utils import format_datetime, getaddresses
from urllib.parse import quote, urlsplit

from .config import Config
from .errors import ConfigError
from .newsletter import personalise
from .state import DigestRecord
from .tokens import make, unsubscribe_url

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


def one_line(value: str) -> str:
    """Collapse every run of whitespace (newlines included) to one space."""
    return " ".join(value.split())


def _address(config: Config, key: str, value: str) -> Address:
    where = f"{config.file.name}: [delivery] {key}"
    parsed = getaddresses([one_line(value)])
    if len(parsed) != 1 or not parsed[0][1] or parsed[0][1].count("@") != 1:
        raise ConfigError(
            f'{where}: expected one address like "Site <news@example.org>", got {value!r}'
        )
    name, addr = parsed[0]
    local, _, domain = addr.partition("@")
    try:
        return Address(display_name=name, username=local, domain=domain)
    except (ValueError, IndexError) as exc:
        raise ConfigError(f"{where}: invalid address {value!r}: {exc}") from exc


def sender_from_config(config: Config) -> Sender:
    """Check the [delivery] settings that every message needs; ConfigError names the key."""
    d = config.delivery
    f = config.file.name
    if not d.sender:
        raise ConfigError(
            f"{f}: [delivery] from: required to mail subscribers",
            hint='add to [delivery]: from = "Site name <news@your-domain>"',
        )
    address = _address(config, "from", d.sender)
    reply_to = _address(config, "reply_to", d.reply_to) if d.reply_to else None
    base = d.unsubscribe_url.strip()
    parts = urlsplit(base)
    if parts.scheme != "https" or not parts.netloc:
        raise ConfigError(
            f"{f}: [delivery] unsubscribe_url: required, the https URL of your unsubscribe "
            f"page (got {base!r})",
            hint='e.g. unsubscribe_url = "https://example.org/unsubscribe" (each message adds '
            "?token=...); mail providers require one-click unsubscribe over https",
        )
    mailto = d.unsubscribe_mailto.strip().removeprefix("mailto:")
    if mailto:
        mailto = str(_address(config, "unsubscribe_mailto", mailto).addr_spec)
    list_id = one_line(d.list_id) or f"{one_line(config.site.title)} <digest.{_site_host(config)}>"
    return Sender(address, reply_to, list_id, base, mailto)


def _site_host(config: Config) -> str:
    return (urlsplit(config.site.url).hostname or "localhost").lower()


def message_id(record_slug: str, record_id: int, key: str, domain: str) -> str:
    """Stable per (digest, subscriber), so a resend after a crash is recognisably the same."""
    digest = hashlib.sha256(f"{record_id}\x00{record_slug}\x00{key}".encode()).hexdigest()[:24]
    return f"<{record_slug}.{digest}@{domain}>"


def build(
    sender: Sender,
    *,
    subject: str,
    html: str,
    text: str,
    recipient: Recipient,
    secret: bytes,
    msg_id: str,
    now: datetime,
) -> EmailMessage:
    token = make(secret, recipient.key)
    link = unsubscribe_url(sender.unsubscribe_base, token)
    html, text = personalise(html, text, recipient.name, link)
    local, _, domain = recipient.email.rpartition("@")
    msg = EmailMessage(policy=SMTP)
    msg["From"] = sender.address
    msg["To"] = Address(display_name=one_line(recipient.name), username=local, domain=domain)
    if sender.reply_to is not None:
        msg["Reply-To"] = sender.reply_to
    msg["Subject"] = one_line(subject)
    msg["Date"] = format_datetime(now)
    msg["Message-ID"] = msg_id
    msg["List-Id"] = sender.list_id
    targets = [f"<{link}>"]
    if sender.unsubscribe_mailto:
        targets.append(
            f"<mailto:{sender.unsubscribe_mailto}?subject={quote('unsubscribe ' + token)}>"
        )
    msg["List-Unsubscribe"] = ", ".join(targets)
    msg["List-Unsubscribe-Post"] = "List-Unsubscribe=One-Click"
    msg["Auto-Submitted"] = "auto-generated"
    msg["Precedence"] = "bulk"
    # Bodies are encoded now, under SMTP's 78-column policy: quoted-printable
    # keeps them 7-bit, so no server needs 8BITMIME.
    msg.set_content(text, subtype="plain", charset="utf-8", cte="quoted-printable")
    msg.add_alternative(html, subtype="html", charset="utf-8", cte="quoted-printable")
    msg.policy = HEADER_POLICY
    return msg


def for_subscriber(
    sender: Sender,
    record: DigestRecord,
    recipient: Recipient,
    secret: bytes,
    now: datetime,
) -> EmailMessage:
    return build(
        sender,
        subject=record.subject,
        html=record.html,
        text=record.text,
        recipient=recipient,
        secret=secret,
        msg_id=message_id(record.slug, record.id, recipient.key, sender.domain),
        now=now,
    )
