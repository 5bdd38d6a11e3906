"""Opening the state store: every way it can fail is one StateError naming the path."""

from __future__ import annotations

import os
import sqlite3
from pathlib import Path

import pytest

from publisher.errors import StateError
from publisher.store.state import MIGRATIONS
from publisher.store.store import Store


def test_new_store_is_created_with_its_folder_and_migrated(tmp_path: Path) -> None:
    state = Store.open(tmp_path / "a" / "b" / "state.db")
    try:
        applied = [r[0] for r in state._conn.execute("SELECT name FROM migrations")]
    finally:
        state.close()
    assert applied == [name for name, _ in MIGRATIONS]


def test_state_folder_under_a_plain_file(tmp_path: Path) -> None:
    (tmp_path / "blocker").write_text("")
    path = tmp_path / "blocker" / "state" / "state.db"
    with pytest.raises(StateError) as caught:
        Store.open(path)
    assert caught.value.message == (
        f"{path.parent}: cannot create the state folder: Not a directory"
    )
    assert caught.value.hint == (
        f"{tmp_path / 'blocker'} is a file, not a folder: move it away or choose another path"
    )


def test_state_file_that_is_a_folder(tmp_path: Path) -> None:
    path = tmp_path / "state.db"
    path.mkdir()
    with pytest.raises(StateError) as caught:
        Store.open(path)
    assert caught.value.message == (
        f"{path}: cannot open the state store: unable to open database file"
    )
    assert f"check that {path} is a file" in caught.value.hint
    assert "[state] path" in caught.value.hint
    assert isinstance(caught.value.__cause__, sqlite3.OperationalError)


def test_a_file_that_is_not_a_database(tmp_path: Path) -> None:
    path = tmp_path / "state.db"
    path.write_bytes(b"not a database, just some text that is long enough " * 4)
    with pytest.raises(StateError) as caught:
        Store.open(path)
    assert caught.value.message == f"{path}: cannot open the state store: file is not a database"
    assert caught.value.hint == (
        "check the file is a publisher state database and not in use elsewhere"
    )


@pytest.mark.permissions
@pytest.mark.skipif(os.geteuid() == 0, reason="runs as root, and root ignores file permissions")
def test_read_only_state_folder(tmp_path: Path) -> None:
    folder = tmp_path / "state"
    folder.mkdir()
    folder.chmod(0o555)
    try:
        with pytest.raises(StateError) as caught:
            Store.open(folder / "state.db")
    finally:
        folder.chmod(0o755)
    assert caught.value.message == (
        f"{folder / 'state.db'}: cannot create the state store: Permission denied"
    )
    assert str(folder) in caught.value.hint


def test_a_new_state_folder_is_ignored_by_git(tmp_path: Path) -> None:
    Store.open(tmp_path / ".publisher" / "state.db").close()
    assert (tmp_path / ".publisher" / ".gitignore").read_text() == "*\n"
    Store.open(tmp_path / "beside.db").close()  # a folder it did not make: untouched
    assert not (tmp_path / ".gitignore").exists()
