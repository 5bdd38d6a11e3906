"""The state store as a command opens it: for the length of a `with` block."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

from ..config.settings import Config
from ..store.store import Store


@contextmanager
def opened(config: Config) -> Iterator[Store]:
    """The site's state store, created if need be, closed on leaving."""
    with Store.open(config.state_file) as store:
        yield store
