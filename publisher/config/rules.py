"""The rules for the settings only some commands use: mail and the schedule.

`config.load` rejects what would break every run. These settings break only
the work that uses them, so they are checked by it alone: delivery asks for
`mail_problems`, `publisher run` for `schedule_problems`, `publisher check`
for both. A bad [smtp] setting therefore blocks mail, never the feeds.

Each rule returns its problems rather than raising, so that `publisher check`
lists them all at once; `raise_problems` makes the one ConfigError, each line
naming the file, the table and the key, as `config.load` does.
"""

from __future__ import annotations

import os
import re
import stat
from collections.abc import Sequence
from dataclasses import dataclass
from email.headerregistry import Address
from email.utils import getaddresses
from urllib.parse import urlsplit

from ..errors import ConfigError
from .declare import bound_problems
from .settings import Config, DeliveryConfig, parse_listen


@dataclass(frozen=True)
class SettingProblem:
    """One bad setting: a line naming file, table and key, and what to do about it."""

    message: str
    hint: str = ""

    def __str__(self) -> str:
        return self.message


def raise_problems(problems: Sequence[SettingProblem]) -> None:
    """Raise one ConfigError with a line per problem (and each distinct hint once), if any."""
    if problems:
        hints = dict.fromkeys(p.hint for p in problems if p.hint)
        raise ConfigError("\n".join(p.message for p in problems), hint="; ".join(hints))


def mail_problems(config: Config) -> list[SettingProblem]:
    """Every problem with the settings that mailing a digest needs."""
    problems = sender_problems(config) + _number_problems(config) + dkim_problems(config)
    problems += return_path_problems(config)
    if config.delivery.transport == "smtp":
        problems += login_problems(config)
    return problems


def schedule_problems(config: Config) -> list[SettingProblem]:
    """`[schedule] digest` parsed as `publisher run` will ("" means no digest)."""
    expr = config.schedule.digest.strip()
    if not expr:
        return []
    # lazy: apscheduler (~0.1 s) only with [schedule] digest set; mail delivery
    # imports this module on every full run and never needs the scheduler
    from apscheduler.triggers.cron import CronTrigger  # noqa: PLC0415

    try:
        CronTrigger.from_crontab(expr, timezone=config.tz)
    except ValueError as exc:
        return [SettingProblem(
            f"{config.file.name}: [schedule] digest: {expr!r} is not a cron expression: {exc}",
            hint='use five fields "minute hour day month weekday", e.g. "0 8 * * mon"',
        )]
    return []


# What may stand inside <...> in List-Unsubscribe without encoding: printable
# ASCII but for ',' (0x2C), '<' (0x3C) and '>' (0x3E), which would end the entry.
HEADER_SAFE = re.compile(r"[!-+\--;=?-~]+")


def mail_address(value: str) -> Address:
    """One address like "Site <news@example.org>"; ValueError says what is wrong."""
    parsed = getaddresses([" ".join(value.split())])
    if len(parsed) != 1 or not parsed[0][1] or parsed[0][1].count("@") != 1:
        raise ValueError(f'expected one address like "Site <news@example.org>", got {value!r}')
    name, addr = parsed[0]
    local, _, domain = addr.partition("@")
    try:
        return Address(display_name=name, username=local, domain=domain)
    except (ValueError, IndexError) as exc:
        raise ValueError(f"invalid address {value!r}: {exc}") from exc


def unsubscribe_mailto(delivery: DeliveryConfig) -> str:
    """[delivery] unsubscribe_mailto as an address, without any `mailto:` prefix."""
    return delivery.unsubscribe_mailto.strip().removeprefix("mailto:")


def sender_problems(config: Config) -> list[SettingProblem]:
    """The [delivery] addresses and unsubscribe link that every digest carries."""
    return from_problems(config) + unsubscribe_problems(config)


def _problem(config: Config, key: str, text: str, hint: str = "") -> SettingProblem:
    return SettingProblem(f"{config.file.name}: [delivery] {key}: {text}", hint)


def _address(
    config: Config, key: str, value: str, problems: list[SettingProblem]
) -> Address | None:
    """`value` parsed, or None with the problem added to `problems`."""
    try:
        return mail_address(value)
    except ValueError as exc:
        problems.append(_problem(config, key, str(exc)))
        return None


def from_problems(config: Config) -> list[SettingProblem]:
    """[delivery] from and reply_to: what every message the list sends carries."""
    d = config.delivery
    problems: list[SettingProblem] = []
    if not d.sender:
        problems.append(_problem(config, "from", "required to mail subscribers",
                                 'add to [delivery]: from = "Site name <news@your-domain>"'))
    else:
        _address(config, "from", d.sender, problems)
    if d.reply_to:
        _address(config, "reply_to", d.reply_to, problems)
    return problems


def unsubscribe_problems(config: Config) -> list[SettingProblem]:
    """[delivery] unsubscribe_url and unsubscribe_mailto: every digest's List-Unsubscribe."""
    d = config.delivery
    problems: list[SettingProblem] = []

    def problem(key: str, text: str, hint: str = "") -> None:
        problems.append(_problem(config, key, text, hint))

    base = d.unsubscribe_url.strip()
    parts = urlsplit(base)
    # http only for a loopback host: a local `publisher serve` under test.
    local = parts.scheme == "http" and parts.hostname in LOOPBACK
    if (parts.scheme != "https" and not local) or not parts.netloc:
        problem("unsubscribe_url",
                f"required, the https URL of your unsubscribe page (got {base!r})",
                'e.g. unsubscribe_url = "https://example.org/unsubscribe" (each message adds '
                "?token=...); mail providers require one-click unsubscribe over https")
    elif parts.username is not None or "@" in parts.netloc:
        problem("unsubscribe_url",
                f"{base!r} holds a user name or password (user:pass@); it would go out in "
                "every message", "remove it: the page must be public")
    elif parts.fragment:
        problem("unsubscribe_url",
                f"has a #fragment ({base!r}); the token goes in the query, which a one-click "
                "POST sends, and a fragment never reaches the server",
                "use a URL without '#', e.g. https://example.org/unsubscribe")
    elif not HEADER_SAFE.fullmatch(base):
        problem("unsubscribe_url",
                f"{base!r} must be plain ASCII without spaces, '<', '>' or ',' (it goes into "
                "the List-Unsubscribe header)",
                "percent-encode it, e.g. d%C3%A9sabonnement for désabonnement")
    mailto = unsubscribe_mailto(d)
    parsed = _address(config, "unsubscribe_mailto", mailto, problems) if mailto else None
    if parsed is not None and not HEADER_SAFE.fullmatch(parsed.addr_spec):
        problem("unsubscribe_mailto",
                f"{parsed.addr_spec!r} must be a plain ASCII address (it goes into the "
                "List-Unsubscribe header)")
    return problems


def confirmation_problems(config: Config) -> list[SettingProblem]:
    """What mailing a confirmation link needs: the From address and the
    transport's settings (no unsubscribe link: there is nothing to leave yet)."""
    problems = from_problems(config) + _number_problems(config)
    if config.delivery.transport == "smtp":
        problems += login_problems(config)
    return problems


def web_problems(config: Config, listen: str) -> list[SettingProblem]:
    """What the list's pages need: where readers reach them, and confirmation mail.

    Confirmation links are built from `[web] base_url`. Without it they would
    point at the listening address, which readers cannot open unless it is
    public: refused, but for a loopback address (a local test, or a proxy on
    this machine, which the caller warns about)."""
    problems: list[SettingProblem] = []
    parsed = parse_listen(listen)
    if not config.web.base_url and parsed is not None and parsed[0] not in LOOPBACK:
        problems.append(SettingProblem(
            f"{config.file.name}: [web] base_url: required, the public URL where readers "
            f"reach these pages (confirmation links start with it); without it they would "
            f"point at {listen}",
            hint='add to [web]: base_url = "https://news.example.org/list" (the URL your '
            "reverse proxy serves the pages at)",
        ))
    return problems + confirmation_problems(config)


def bounce_problems(config: Config) -> list[SettingProblem]:
    """[bounces] poll_minutes needs a mailbox to read."""
    b = config.bounces
    if b.poll_minutes <= 0 or b.maildir or b.imap_host:
        return []
    return [SettingProblem(
        f"{config.file.name}: [bounces] poll_minutes = {b.poll_minutes}, but there is no "
        "mailbox to read: set maildir or imap_host",
        hint="point it at the mailbox that receives [delivery] return_path's mail, or set "
        "poll_minutes = 0",
    )]


def _number_problems(config: Config) -> list[SettingProblem]:
    """The bounds declared for the mail keys ([smtp], [delivery] max_failures)."""
    f = config.file.name
    return [
        SettingProblem(f"{f}: {problem}", hint=f"fix {f}; nothing was sent")
        for name in ("smtp", "delivery")
        for problem in bound_problems(getattr(config, name), name, "send")
    ]


LOOPBACK = ("127.0.0.1", "::1", "localhost")


def login_problems(config: Config) -> list[SettingProblem]:
    """An SMTP login never sends its password unencrypted to another machine."""
    smtp = config.smtp
    if not smtp.username or smtp.security != "none" or smtp.host in LOOPBACK:
        return []
    return [SettingProblem(
        f'{config.file.name}: [smtp] security = "none" would send the password for '
        f"{smtp.username!r} unencrypted to {smtp.host}",
        hint='use security = "starttls" (port 587) or "ssl" (port 465)',
    )]


def return_path_problems(config: Config) -> list[SettingProblem]:
    """[delivery] return_path: a plain address without a `+` (VERP adds one)."""
    value = config.delivery.return_path.strip()
    if not value:
        return []
    key = f"{config.file.name}: [delivery] return_path"
    try:
        parsed = mail_address(value)
    except ValueError as exc:
        return [SettingProblem(f"{key}: {exc}")]
    if parsed.display_name or "+" in parsed.username or not HEADER_SAFE.fullmatch(
        parsed.addr_spec
    ):
        return [SettingProblem(
            f"{key}: expected a plain ASCII address without '+' such as "
            f'"bounces@news.example.org", got {value!r}',
            hint="each message's envelope sender becomes bounces+<token>@your-domain",
        )]
    return []


def dkim_problems(config: Config) -> list[SettingProblem]:
    """[delivery] dkim_key, dkim_selector, dkim_domain: all or none; the key a
    private PEM file readable by its owner only; the domain aligned with From."""
    d = config.delivery
    given = [bool(d.dkim_key), bool(d.dkim_selector.strip()), bool(d.dkim_domain.strip())]
    if not any(given):
        return []
    f = config.file.name
    fix = "nothing was sent; fix [delivery] in publisher.toml"
    if not all(given):
        return [SettingProblem(
            f"{f}: [delivery] dkim_key, dkim_selector, dkim_domain: set all three to sign "
            "with DKIM, or none", hint=fix,
        )]
    path = config.resolve(d.dkim_key)
    try:
        st = os.stat(path)
        head = path.read_bytes()[:4096]
    except OSError as exc:
        return [SettingProblem(
            f"{f}: [delivery] dkim_key: cannot read {path}: {exc.strerror}", hint=fix
        )]
    mode = stat.S_IMODE(st.st_mode)
    if mode & 0o077:
        return [SettingProblem(
            f"{f}: [delivery] dkim_key: {path} is readable by others (mode {mode:04o})",
            hint=f"run `chmod 600 {path}`: whoever reads the key can sign mail as you",
        )]
    if b"PRIVATE KEY-----" not in head:
        return [SettingProblem(f"{f}: [delivery] dkim_key: {path} is not a PEM private key",
                               hint=fix)]
    sender = d.sender.rpartition("@")[2].strip(" >").lower()
    domain = d.dkim_domain.strip().lower().rstrip(".")
    if sender and sender != domain and not sender.endswith("." + domain):
        return [SettingProblem(
            f"{f}: [delivery] dkim_domain: {domain!r} does not align with the From domain "
            f"{sender!r}", hint="DMARC needs the From domain or a parent of it (relaxed "
            "alignment): sign with d= that domain",
        )]
    return []
