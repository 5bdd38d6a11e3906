"""What `publisher run` and `publisher serve` check before they start.

A service that starts with a setting its work needs missing would fail only
when that work comes due (a digest, every week, in a log line), so both
refuse to start instead: exit 1, with the lines `publisher check` prints for
the same settings (the rules are settings_rules'), and the secrets the work
needs from the environment.

Mail is needed when the list will be mailed: `[delivery]` is set up, or
people are on the list (active, or pending confirmation), or list mail is
queued, or the sign-up pages are on.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from ..config.rules import (
    SettingProblem,
    bounce_problems,
    confirmation_problems,
    mail_problems,
    raise_problems,
    schedule_problems,
)
from ..config.settings import Config
from ..errors import SecretMissing
from ..store.peek import readers_and_queued
from . import tokens
from .transports import password_from_env


@dataclass(frozen=True)
class Listed:
    """What the state store holds that needs mail."""

    readers: int = 0  # active or pending subscribers
    queued: int = 0  # list mail waiting to go out


def listed(path: Path) -> Listed:
    """Counted read-only, so that `publisher check` never creates a store; an
    absent store, or one from before a table existed, counts as empty."""
    return Listed(*readers_and_queued(path))


def digest_mailed(config: Config, found: Listed, web: bool = False) -> bool:
    """Whether digests will be mailed to someone (now, or once a sign-up confirms)."""
    d = config.delivery
    return bool(d.sender or d.unsubscribe_url or found.readers or web)


def check_problems(config: Config, found: Listed) -> list[SettingProblem]:
    """`publisher check`: every setting rule for the work this site is set up to do."""
    problems = schedule_problems(config) + bounce_problems(config)
    if digest_mailed(config, found) or found.queued:
        problems += mail_problems(config)
    return problems


def service_problems(config: Config, found: Listed, web: bool) -> list[SettingProblem]:
    """`publisher run`: the rules for the work it will do, with `check`'s messages."""
    problems = schedule_problems(config) + bounce_problems(config)
    if config.schedule.digest.strip() and digest_mailed(config, found, web):
        problems += mail_problems(config)
    if web or found.queued:
        problems += confirmation_problems(config)
    return list(dict.fromkeys(problems))  # mail_problems holds the confirmation rules too


def check_service(
    config: Config, web: bool, environ: Mapping[str, str] | None = None
) -> None:
    """Raise ConfigError or SecretMissing if `publisher run` would fail at its work."""
    found = listed(config.state_file)
    raise_problems(service_problems(config, found, web))
    digests = bool(config.schedule.digest.strip()) and digest_mailed(config, found, web)
    if digests or web:
        require_secret("publisher run", environ)
    if digests or web or found.queued:
        password_from_env(config, environ)


def require_secret(command: str, environ: Mapping[str, str] | None = None) -> bytes:
    """PUBLISHER_SECRET for a service, with a message that says what it is for."""
    env = os.environ if environ is None else environ
    if not env.get(tokens.SECRET_ENV):
        raise SecretMissing(
            f"{tokens.SECRET_ENV} is not set: `{command}` signs every confirm, unsubscribe "
            "and manage link with it",
            hint=f"export {tokens.SECRET_ENV} (the same value as for sending digests; for a "
            "new list, a long random value, e.g. from `python3 -c \"import secrets; "
            f"print(secrets.token_urlsafe(32))\"`), then start `{command}` again",
        )
    return tokens.secret_from_env(environ)
