"""Where a finished message goes: an outbox folder of .eml files, or an SMTP server.

A transport's `send` returns only once the message is accepted (the file is
renamed into place, or the server answered 250 to the data). Failures are
sorted for the retry loop in delivery.py: `Temporary` (4xx, dropped or refused
connections) may be retried, `Permanent` (5xx for this recipient) may not, and
`DeliveryError`/`AuthenticationError` stop the whole run.
"""

from __future__ import annotations

import os
import smtplib
import ssl
from collections.abc import Mapping
from pathlib import Path
from typing import Protocol, Self

from ..config import Config
from ..errors import AuthenticationError, DeliveryError, OutputError, SecretMissing
from ..files import reason, write_atomic
from ..settings_rules import login_problems, raise_problems

PASSWORD_ENV = "PUBLISHER_SMTP_PASSWORD"


class Temporary(Exception):
    """Worth trying again later. `connection` says the server, not the recipient, failed."""

    def __init__(self, message: str, connection: bool = False) -> None:
        super().__init__(message)
        self.connection = connection


class Permanent(Exception):
    """The server refused this recipient or message for good (5xx)."""


class Transport(Protocol):
    """A context manager: leaving the `with` closes it (see `close`)."""

    name: str

    def send(self, msg: bytes, envelope_from: str, to: str, label: str) -> None: ...

    def close(self) -> None: ...

    def describe(self, label: str) -> str: ...

    def __enter__(self) -> Self: ...

    def __exit__(self, *exc: object) -> None: ...


def password_from_env(config: Config, environ: Mapping[str, str] | None = None) -> str:
    """The SMTP password, from the environment only, once the login is safe to make."""
    raise_problems(login_problems(config))
    env = os.environ if environ is None else environ
    password = env.get(PASSWORD_ENV, "")
    if config.smtp.username and not password:
        raise SecretMissing(
            f"{PASSWORD_ENV} is not set but {config.file.name}: [smtp] username is "
            f"{config.smtp.username!r}: nothing was sent",
            hint=f"export {PASSWORD_ENV} with the SMTP password (never put it in the file)",
        )
    return password


class OutboxTransport:
    """Each message becomes `<label>.eml`, written atomically, readable only by us.

    The label is stable per (digest, subscriber), so a message resent after a
    crash replaces its earlier copy instead of adding a second one.
    """

    name = "outbox"

    def __init__(self, folder: Path) -> None:
        self.folder = folder
        self.ready = False

    def describe(self, label: str) -> str:
        return str(self.folder / f"{label}.eml")

    def send(self, msg: bytes, envelope_from: str, to: str, label: str) -> None:
        try:
            if not self.ready:
                self.folder.mkdir(parents=True, exist_ok=True, mode=0o700)
                self.ready = True
            # Messages carry addresses and personal unsubscribe tokens: 0600.
            # No fsync and a fixed temp name: see write_atomic for why that
            # is safe here (one sender at a time, under the send lock).
            write_atomic(
                self.folder / f"{label}.eml", msg, mode=0o600, fsync=False, unique_temp=False
            )
        except OSError as exc:  # creating the folder
            raise self._error(exc) from exc
        except OutputError as exc:  # writing the file; the OSError is its cause
            raise self._error(exc.__cause__) from exc

    def _error(self, cause: BaseException | None) -> DeliveryError:
        why = reason(cause) if isinstance(cause, OSError) else str(cause)
        return DeliveryError(
            f"{self.folder}: cannot write to the outbox: {why}",
            hint="check [delivery] outbox and the folder's permissions",
        )

    def close(self) -> None:
        pass

    def __enter__(self) -> OutboxTransport:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def _text(reply: bytes | str) -> str:
    return reply.decode("utf-8", "replace") if isinstance(reply, bytes) else reply


def _classify(code: int, text: bytes | str, what: str) -> Exception:
    reply = _text(text)
    message = f"{what}: {code} {reply}".strip()
    if 400 <= code < 500:
        return Temporary(message)
    return Permanent(message)


class SmtpTransport:
    """One connection reused for many messages, recycled after `messages_per_connection`."""

    def __init__(self, config: Config, password: str) -> None:
        self.cfg = config.smtp
        self.file = config.file.name
        self.password = password
        self.name = f"{self.cfg.host}:{self.cfg.port}"
        self.client: smtplib.SMTP | None = None
        self.used = 0
        # EHLO with the sender's domain rather than getfqdn(), which can stall on DNS.
        sender = config.delivery.sender.rpartition("@")[2].strip(" >")
        self.helo = sender or "localhost"

    def describe(self, label: str) -> str:
        return f"smtp://{self.name}"

    def _connect(self) -> smtplib.SMTP:
        cfg = self.cfg
        context = ssl.create_default_context()
        client: smtplib.SMTP | None = None
        try:
            if cfg.security == "ssl":
                client = smtplib.SMTP_SSL(
                    cfg.host, cfg.port, local_hostname=self.helo, timeout=cfg.timeout,
                    context=context,
                )
            else:
                client = smtplib.SMTP(
                    cfg.host, cfg.port, local_hostname=self.helo, timeout=cfg.timeout
                )
            client.ehlo()
            if cfg.security == "starttls":
                client.starttls(context=context)
                client.ehlo()
            if cfg.username:
                client.login(cfg.username, self.password)
        except smtplib.SMTPAuthenticationError as exc:
            _quietly_close(client)
            raise AuthenticationError(
                f"{self.name}: the server refused the login for {cfg.username!r}: "
                f"{exc.smtp_code} {_text(exc.smtp_error)}",
                hint=f"check {self.file}: [smtp] username and {PASSWORD_ENV}; nothing was sent",
            ) from exc
        except smtplib.SMTPNotSupportedError as exc:
            _quietly_close(client)
            raise DeliveryError(
                f"{self.name}: {exc}",
                hint=f'check {self.file}: [smtp] security ("starttls", "ssl" or "none") '
                "and port",
            ) from exc
        except ssl.SSLError as exc:
            _quietly_close(client)
            raise DeliveryError(
                f"{self.name}: TLS failed: {exc}",
                hint=f"check {self.file}: [smtp] host, port and security",
            ) from exc
        except smtplib.SMTPResponseException as exc:
            _quietly_close(client)
            raise Temporary(
                f"{self.name}: connection refused by the server: {exc.smtp_code} "
                f"{_text(exc.smtp_error)}",
                connection=True,
            ) from exc
        except OSError as exc:
            _quietly_close(client)
            raise Temporary(f"{self.name}: cannot connect: {exc}", connection=True) from exc
        return client

    def send(self, msg: bytes, envelope_from: str, to: str, label: str) -> None:
        if self.client is None or self.used >= self.cfg.messages_per_connection:
            self.close()
            self.client = self._connect()
            self.used = 0
        client = self.client
        try:
            client.sendmail(envelope_from, [to], msg)
            self.used += 1
        except smtplib.SMTPRecipientsRefused as exc:
            code, text = next(iter(exc.recipients.values()))
            raise _classify(code, text, f"{to} refused") from exc
        except smtplib.SMTPSenderRefused as exc:
            if 400 <= exc.smtp_code < 500:
                raise Temporary(f"sender {envelope_from} deferred: {exc.smtp_code}") from exc
            raise DeliveryError(
                f"{self.name}: the server refused the sender {envelope_from}: "
                f"{exc.smtp_code} {_text(exc.smtp_error)}",
                hint=f"check {self.file}: [delivery] from is allowed for this account",
            ) from exc
        except smtplib.SMTPDataError as exc:
            raise _classify(exc.smtp_code, exc.smtp_error, f"message to {to} refused") from exc
        except smtplib.SMTPResponseException as exc:
            # An unexpected reply mid-transaction leaves the session in doubt.
            self._drop()
            raise _classify(exc.smtp_code, exc.smtp_error, f"{self.name}") from exc
        except OSError as exc:  # SMTPServerDisconnected, resets, timeouts
            self._drop()
            raise Temporary(f"{self.name}: connection lost: {exc}", connection=True) from exc

    def _drop(self) -> None:
        _quietly_close(self.client, polite=False)
        self.client = None

    def close(self) -> None:
        _quietly_close(self.client)
        self.client = None

    def __enter__(self) -> SmtpTransport:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def _quietly_close(client: smtplib.SMTP | None, polite: bool = True) -> None:
    if client is None:
        return
    try:
        if polite:
            client.quit()
    except (OSError, smtplib.SMTPException):
        pass
    finally:
        client.close()
