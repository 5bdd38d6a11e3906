"""The last net under the command line and the service: a machine's failure
(a full disk, a read-only file, no memory) in words, never a traceback."""

from __future__ import annotations

import errno
import sqlite3
from pathlib import Path

from publisher.errors import PublisherError
from publisher.report import as_publisher_error, error_lines


def test_os_errors_name_the_file_and_say_what_to_do(tmp_path: Path) -> None:
    full = OSError(errno.ENOSPC, "No space left on device", str(tmp_path / "x.xml"))
    error = as_publisher_error(full)
    assert error is not None
    assert error_lines(error) == [
        f"error: {tmp_path}/x.xml: cannot read or write: No space left on device",
        f"hint: free some space on the disk that holds {tmp_path}, then run again",
    ]


def test_sqlite_errors_are_state_errors() -> None:
    error = as_publisher_error(sqlite3.OperationalError("database or disk is full"))
    assert error is not None
    assert error.message == "the state store: failed: database or disk is full"
    assert "[state] path" in error.hint


def test_out_of_memory_is_said_plainly() -> None:
    error = as_publisher_error(MemoryError())
    assert isinstance(error, PublisherError) and error.message == "out of memory"


def test_bugs_keep_their_traceback() -> None:
    assert as_publisher_error(KeyError("x")) is None
    assert as_publisher_error(ValueError("x")) is None
