"""The one message the list's web app sends itself: "confirm your subscription".

Double opt-in: nothing is active until the owner of the address presses the
button behind this link. The message is transactional, not bulk: no
List-Unsubscribe (there is nothing to leave yet), `Auto-Submitted` so no
autoresponder answers it. Bodies come from `confirm.txt` and `confirm.html`
in `[digest] templates`, each falling back to the package's own.

Anyone can type any address into the form, so the message carries nothing
the requester typed but that address: no name (`subscriber_name` is always
empty), or the form would mail a stranger's text, links and all, from the
list's own address. Messages are queued and sent by mail/outgoing.py.
"""

from __future__ import annotations

import secrets
from collections.abc import Mapping
from datetime import datetime
from email.message import EmailMessage
from email.utils import format_datetime, make_msgid

import jinja2

from ..config.rules import confirmation_problems, mail_address, raise_problems
from ..config.settings import Config
from ..digest.letter import PACKAGE_TEMPLATES, template_environment
from ..errors import TemplateError
from .messages import HEADER_POLICY, one_line
from .transports import OutboxTransport, SmtpTransport, Transport, password_from_env

TEXT_TEMPLATE = "confirm.txt"
HTML_TEMPLATE = "confirm.html"


def _environment(config: Config) -> jinja2.Environment:
    return template_environment(config.resolve(config.digest.templates), PACKAGE_TEMPLATES)


class ConfirmationMessages:
    """Builds confirmation messages; the templates are loaded once."""

    def __init__(self, config: Config) -> None:
        self.config = config
        raise_problems(confirmation_problems(config))
        d = config.delivery
        self.sender = mail_address(d.sender)
        self.reply_to = mail_address(d.reply_to) if d.reply_to else None
        env = _environment(config)
        try:
            self.text = env.get_template(TEXT_TEMPLATE)
            self.html = env.get_template(HTML_TEMPLATE)
        except jinja2.TemplateError as exc:
            raise TemplateError(f"confirmation email template failed to load: {exc}") from exc

    def build(self, to: str, link: str, hours: int, now: datetime) -> bytes:
        config = self.config
        context = {
            "site": {
                "title": config.site.title,
                "url": config.site_url,
                "language": config.site.language,
            },
            "confirm_url": link,
            "hours": hours,
            # Kept for templates written when it held the name typed on the form.
            "subscriber_name": "",
        }
        try:
            text = self.text.render(context)
            html = self.html.render(context)
        except jinja2.TemplateError as exc:
            raise TemplateError(f"confirmation email template failed: {exc}") from exc
        msg = EmailMessage(policy=HEADER_POLICY)
        msg["From"] = self.sender
        if self.reply_to is not None:
            msg["Reply-To"] = self.reply_to
        msg["To"] = to
        msg["Subject"] = one_line(f"Confirm your subscription to {config.site.title}")
        msg["Date"] = format_datetime(now)
        msg["Message-ID"] = make_msgid(domain=self.sender.domain)
        msg["Auto-Submitted"] = "auto-generated"
        msg.set_content(text, charset="utf-8", cte="quoted-printable")
        msg.add_alternative(html, subtype="html", charset="utf-8", cte="quoted-printable")
        return msg.as_bytes(policy=HEADER_POLICY)


def transport(config: Config, environ: Mapping[str, str] | None = None) -> Transport:
    """The configured transport, as for digests."""
    if config.delivery.transport == "smtp":
        return SmtpTransport(config, password_from_env(config, environ))
    return OutboxTransport(config.resolve(config.delivery.outbox))


def label(now: datetime) -> str:
    """An outbox file name that never overwrites another confirmation."""
    return f"confirm-{now:%Y%m%dT%H%M%S}-{secrets.token_hex(6)}"
