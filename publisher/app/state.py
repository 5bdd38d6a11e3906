"""The state store as a command opens it: for the length of a `with` block."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

from ..config.settings import Config
from ..store.state import State, open_state


@contextmanager
def opened(config: Config) -> Iterator[State]:
    """The site's state store, created if need be, closed on leaving."""
    state = open_state(config.state_file)
    try:
        yield state
    finally:
        state.close()
