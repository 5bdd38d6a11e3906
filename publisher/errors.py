"""The one exception hierarchy, and the exit codes it maps to.

Library code raises these and never prints or exits; the edges (the CLI,
`publisher run`'s jobs) catch `PublisherError` and show one line plus a hint.
A traceback is shown only with `--verbose`.

    PublisherError                   exit 1 unless noted; `.hint` says what to do
    ├── ConfigError                  publisher.toml missing, unreadable or invalid
    ├── ContentError                 the posts folder cannot be read at all
    ├── OutputError                  out/ or the state folder cannot be written
    ├── StateError                   the SQLite state store cannot be opened or used
    ├── TemplateError                an email template failed to load or render
    ├── DeliveryError                a message could not be handed to the transport
    │   └── AuthenticationError      the SMTP server refused our credentials
    ├── SecretMissing                a secret that comes from the environment is unset
    ├── SubscriberError              a subscriber address or list operation is invalid
    └── LockBusy                     exit 4: another publisher process holds the lock

One bad post is not an exception: it becomes a `model.Problem`, reported with
the others while the rest of the site publishes (exit 3).
"""

from __future__ import annotations

from enum import IntEnum


class ExitCode(IntEnum):
    """Every exit status the command line uses; `--help` and the README list these."""

    OK = 0
    ERROR = 1
    USAGE = 2
    SKIPPED = 3
    BUSY = 4

    @property
    def meaning(self) -> str:
        return EXIT_MEANINGS[self]


EXIT_MEANINGS = {
    ExitCode.OK: "success: everything published, or nothing needed doing",
    ExitCode.ERROR: "error: one line says what, a `hint:` line what to do",
    ExitCode.USAGE: "bad command-line usage",
    ExitCode.SKIPPED: "done, but some items were skipped (each is listed on stderr)",
    ExitCode.BUSY: "busy: another publisher process holds the site, service or send lock",
}


class PublisherError(Exception):
    """Base of every error `publisher` reports to a user.

    `hint` is one line that tells the user what to do about it.
    """

    exit_code = ExitCode.ERROR

    def __init__(self, message: str, hint: str = "") -> None:
        super().__init__(message)
        self.message = message
        self.hint = hint

    def __str__(self) -> str:
        return self.message


class ConfigError(PublisherError):
    """publisher.toml is missing, unreadable or invalid."""


class ContentError(PublisherError):
    """The posts folder cannot be read at all (one bad post is a Problem, not this)."""


class OutputError(PublisherError):
    """A file under out/ or the state folder cannot be written; the old one is intact."""


class StateError(PublisherError):
    """The SQLite state store cannot be opened or is from a newer version."""


class TemplateError(PublisherError):
    """An email template failed to load or render."""


class DeliveryError(PublisherError):
    """A message could not be handed to the transport."""


class AuthenticationError(DeliveryError):
    """The SMTP server refused our credentials: nothing can be sent."""


class SecretMissing(PublisherError):
    """A secret that must come from the environment is not set."""


class LockBusy(PublisherError):
    """Another publisher process holds the site lock."""

    exit_code = ExitCode.BUSY


class SubscriberError(PublisherError):
    """A subscriber address or list operation is invalid."""
