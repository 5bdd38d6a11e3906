"""The one exception hierarchy. Library code raises these; only the CLI prints."""

from __future__ import annotations


class PublisherError(Exception):
    """Base of every error `publisher` reports to a user.

    `hint` is one line that tells the user what to do about it.
    """

    exit_code = 1

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

    exit_code = 4


class SubscriberError(PublisherError):
    """A subscriber address or list operation is invalid."""
