"""Where a finished message goes: an outbox folder of .eml files, or an SMTP server.

A transport's `send` returns only once the message is accepted (the file is
renamed into place, or the server answered 250 to the data). Failures are
sorted for the retry loop in delivery.py: `Temporary` (4xx, dropped or refused
connections) may be retried, `Permanent` (5xx for this recipient) may not, and
`DeliveryError`/`AuthenticationError` stop the whole run. Two cases have their
own class, because they are neither:

- `MessageRejected` (a DeliveryError): the server took the recipient, then
  refused the message itself after its data (550/552/554 at DATA: too big, a
  content filter). The next recipient would get the same answer; it is no
  recipient's bounce, so it counts against nobody and stops the run.
- `ServerRefused` (a DeliveryError): a 5xx at RCPT whose enhanced code is
  about the server or the sender, not the recipient (X.3 mail system, X.4
  network, X.5 protocol, X.6 content, X.7 policy: "relay access denied",
  "authentication required"). Blamed on nobody; delivery.py stops the run
  when the next recipient on the connection gets one too.
- `NoReplyAfterData` (a Temporary): the whole message went out, then the
  server said nothing until the timeout. It may well have been delivered, so
  delivery.py retries it once at most, and reports it.

A `Permanent` is `hard` when its enhanced code says the address does not
exist or is disabled (X.1.x, X.2.1): the subscriber is bounced at once, as a
DSN saying the same would. Other recipient refusals (X.2.2 mailbox full, a
5xx without an enhanced code) count one failure towards `max_failures`.
"""

from __future__ import annotations

import os
import re
import smtplib
import ssl
from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Protocol, Self

from ..config.rules import login_problems, raise_problems
from ..config.settings import Config
from ..errors import AuthenticationError, DeliveryError, OutputError, SecretMissing
from ..files import hint_for, make_private_folder, reason, write_atomic

if TYPE_CHECKING:
    from _typeshed import ReadableBuffer

PASSWORD_ENV = "PUBLISHER_SMTP_PASSWORD"


class Temporary(Exception):
    """Worth trying again later. `connection` says the server, not the recipient, failed."""

    def __init__(self, message: str, connection: bool = False) -> None:
        super().__init__(message)
        self.connection = connection


class Permanent(Exception):
    """The server refused this recipient for good (5xx). `hard`: the address
    does not exist or is disabled, so it bounces at once."""

    def __init__(self, message: str, hard: bool = False) -> None:
        super().__init__(message)
        self.hard = hard


class MessageRejected(DeliveryError):
    """5xx after the data: the message, not the recipient, was refused."""


class ServerRefused(DeliveryError):
    """5xx at RCPT about the server or the sender, not the recipient."""


class NoReplyAfterData(Temporary):
    """The message was sent in full, then no reply came before the timeout:
    it may have been delivered."""

    def __init__(self, message: str) -> None:
        super().__init__(message, connection=True)


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
                make_private_folder(self.folder)
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
        if isinstance(cause, OSError):
            why, hint = reason(cause), hint_for(self.folder / "x.eml", cause)
        else:
            why, hint = str(cause), "check [delivery] outbox and the folder's permissions"
        return DeliveryError(f"{self.folder}: cannot write to the outbox: {why}", hint=hint)

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
    return Permanent(message, hard=_no_such_mailbox(reply))


# RFC 3463 enhanced status codes: class.subject.detail. Subjects 1 (addressing)
# and 2 (mailbox: full, disabled) are about the recipient; the others (3 mail
# system, 4 network, 5 protocol, 6 content, 7 policy) about the server, the
# message or the sender. 0 (other) says nothing.
_ENHANCED = re.compile(r"\s*[245]\.(\d{1,3})\.(\d{1,3})\b")
# RFC 4954: 530 authentication required, 534 mechanism too weak, 538
# encryption required; servers without enhanced codes (Exim's default) say so.
_AUTH_CODES = (530, 534, 538)
_RELAY_DENIED = re.compile(r"relay(ing)?( access)? (denied|not permitted|prohibited)", re.I)


def _subject(reply: str) -> tuple[int, int] | None:
    """(subject, detail) of the reply's enhanced code, or None without one."""
    m = _ENHANCED.match(reply)
    return (int(m.group(1)), int(m.group(2))) if m else None


def _about_recipient(reply: str) -> bool:
    status = _subject(reply)
    return status is not None and status[0] in (1, 2)


def _no_such_mailbox(reply: str) -> bool:
    """X.1.x (bad address, no such mailbox) and X.2.1 (mailbox disabled): the
    codes a DSN bounces at once on mean the same said in the session."""
    status = _subject(reply)
    return status is not None and (status[0] == 1 or status == (2, 1))


def _about_server(code: int, reply: str) -> bool:
    """A 5xx at RCPT aimed at the whole server or the sender: relaying or a
    login refused, a policy, the mail system, the network, the protocol."""
    status = _subject(reply)
    if status is not None:
        return status[0] not in (0, 1, 2)
    return code in _AUTH_CODES or _RELAY_DENIED.search(reply) is not None


def _what_to_fix(code: int, reply: str, file: str, username: str, host: str) -> str:
    """The hint for a refusal that is about the server or the sender."""
    status = _subject(reply)
    subject = status[0] if status else 0
    if code in _AUTH_CODES or "authenticat" in reply.lower():
        if not username:
            return (
                f"the relay needs a login: set [smtp] username in {file} and "
                f"{PASSWORD_ENV} in the environment"
            )
        return (
            f"the relay wants a login it did not get: check {file}: [smtp] username and "
            f"security, and {PASSWORD_ENV}"
        )
    if _RELAY_DENIED.search(reply):
        return (
            "relay access denied: the relay does not accept mail from this host; allow "
            f"this host on it (Postfix: mynetworks) or log in ([smtp] username and "
            f"{PASSWORD_ENV})"
        )
    if subject == 7:
        return (
            f"a policy refusal by {host} (this host's address, the sender or its domain, a "
            "block list): its reply says which; fix that with its operator"
        )
    if subject == 3:
        return f"the mail system at {host} cannot take mail (full, disabled, misconfigured)"
    if subject == 4:
        return f"{host} cannot route the mail (DNS, a routing loop, no route)"
    if subject == 5:
        return (
            f"a protocol error between publisher and {host}: check {file}: [smtp] host, "
            "port and security point at a mail submission service"
        )
    return "a refusal of the message (its size, its content), not of a recipient"


class _Watched(smtplib.SMTP):
    """Knows when the message's final dot has gone out and its reply is awaited.

    smtplib sends the whole message, ending in CRLF.CRLF, in one `send`; the
    next command's `send` clears the flag."""

    awaiting_reply = False

    def send(self, s: ReadableBuffer | str) -> None:
        self.awaiting_reply = False
        super().send(s)
        if isinstance(s, bytes) and s.endswith(b"\r\n.\r\n"):
            self.awaiting_reply = True


class _WatchedSSL(_Watched, smtplib.SMTP_SSL):
    pass


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
                client = _WatchedSSL(
                    cfg.host, cfg.port, local_hostname=self.helo, timeout=cfg.timeout,
                    context=context,
                )
            else:
                client = _Watched(
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
        client = self._open_client()
        try:
            client.sendmail(envelope_from, [to], msg)
            self.used += 1
        except smtplib.SMTPRecipientsRefused as exc:
            raise self._recipient_refused(exc, to) from exc
        except smtplib.SMTPSenderRefused as exc:
            raise self._sender_refused(exc, envelope_from, to) from exc
        except smtplib.SMTPDataError as exc:
            raise self._data_refused(exc, to) from exc
        except smtplib.SMTPResponseException as exc:
            # An unexpected reply mid-transaction leaves the session in doubt.
            self._drop()
            raise _classify(exc.smtp_code, exc.smtp_error, f"{self.name}") from exc
        except OSError as exc:  # SMTPServerDisconnected, resets, timeouts
            raise self._connection_lost(client, exc, to) from exc

    def _open_client(self) -> smtplib.SMTP:
        """The connection, (re)made when there is none or it has sent its share."""
        if self.client is None or self.used >= self.cfg.messages_per_connection:
            self.close()
            self.client = self._connect()
            self.used = 0
        return self.client

    def _recipient_refused(self, exc: smtplib.SMTPRecipientsRefused, to: str) -> Exception:
        """What a refusal at RCPT means: about the recipient, or about us."""
        code, text = next(iter(exc.recipients.values()))
        reply = _text(text)
        if code == 421:  # the server is closing the connection
            self._drop()
        if code >= 500 and _about_server(code, reply):
            return ServerRefused(
                f"{self.name}: the server refused {to} at RCPT for a reason that is not "
                f"about the recipient: {code} {reply}",
                hint=self._fix(code, reply, to),
            )
        return _classify(code, reply, f"{to} refused")

    def _sender_refused(
        self, exc: smtplib.SMTPSenderRefused, envelope_from: str, to: str
    ) -> Exception:
        """A refusal at MAIL FROM: deferred, or a setting to fix."""
        reply = _text(exc.smtp_error)
        if 400 <= exc.smtp_code < 500:
            return Temporary(f"sender {envelope_from} deferred: {exc.smtp_code}")
        hint = f"check {self.file}: [delivery] from is allowed for this account"
        if exc.smtp_code in _AUTH_CODES or _RELAY_DENIED.search(reply):
            hint = self._fix(exc.smtp_code, reply, to)
        return DeliveryError(
            f"{self.name}: the server refused the sender {envelope_from}: "
            f"{exc.smtp_code} {reply}",
            hint=hint,
        )

    def _data_refused(self, exc: smtplib.SMTPDataError, to: str) -> Exception:
        """A refusal after the data: of the message itself, or of the recipient."""
        reply = _text(exc.smtp_error)
        if exc.smtp_code >= 500 and not _about_recipient(reply):
            return MessageRejected(
                f"{self.name}: the server refused the message itself, after its data: "
                f"{exc.smtp_code} {reply}",
                hint=self._fix(exc.smtp_code, reply, to),
            )
        if exc.smtp_code == 421:
            self._drop()
        return _classify(exc.smtp_code, reply, f"message to {to} refused")

    def _connection_lost(self, client: smtplib.SMTP, exc: OSError, to: str) -> Exception:
        """A connection lost mid-message.

        A server that hangs up after the data aborts the transaction (RFC 5321
        wants a reply first): retried as any dropped connection. One that is
        still silent when the timeout ends may be busy delivering it.
        """
        silent = getattr(client, "awaiting_reply", False) and (
            isinstance(exc, TimeoutError) or isinstance(exc.__context__, TimeoutError)
        )
        self._drop()
        if silent:
            return NoReplyAfterData(
                f"{self.name}: no reply after the message to {to} was sent in full "
                f"({exc}); it may have been delivered"
            )
        return Temporary(f"{self.name}: connection lost: {exc}", connection=True)

    def _fix(self, code: int, reply: str, to: str) -> str:
        """What to do about a refusal that is nobody's bounce."""
        what = _what_to_fix(code, reply, self.file, self.cfg.username, self.cfg.host)
        return (
            f"{what}; nobody is counted as bounced and {to} and everyone after stay "
            "pending; fix it, then `publisher send`"
        )

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
