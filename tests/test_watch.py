"""The stat-cache watcher over a real posts folder."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from publisher.service.watch import Changes, Watcher, is_temp


def post(folder: Path, name: str, text: str = "---\ntitle: x\n---\nbody\n") -> Path:
    path = folder / name
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text, encoding="utf-8")
    return path


@pytest.fixture
def folder(tmp_path: Path) -> Path:
    content = tmp_path / "content"
    content.mkdir()
    return content


def test_scan_reports_added_modified_removed(folder: Path) -> None:
    a = post(folder, "a.md")
    b = post(folder, "sub/b.markdown")
    watcher = Watcher(folder)
    assert watcher.scan() == Changes(added=(a, b))
    assert not watcher.scan()
    post(folder, "a.md", "---\ntitle: longer now\n---\nbody\n")
    b.unlink()
    c = post(folder, "c.html")
    changes = watcher.scan()
    assert changes == Changes(added=(c,), modified=(a,), removed=(b,))
    assert str(changes) == "3 changes (1 added, 1 modified, 1 removed)"
    assert not watcher.scan()


def test_same_size_and_mtime_but_replaced_file_is_modified(folder: Path) -> None:
    a = post(folder, "a.md", "---\ntitle: one\n---\n")
    watcher = Watcher(folder)
    watcher.scan()
    st = a.stat()
    tmp = post(folder, ".a.md.new", "---\ntitle: two\n---\n")
    os.utime(tmp, ns=(st.st_atime_ns, st.st_mtime_ns))
    os.replace(tmp, a)
    assert watcher.scan() == Changes(modified=(a,))


def test_temp_swap_and_private_files_are_ignored(folder: Path) -> None:
    watcher = Watcher(folder)
    watcher.scan()
    for name in (
        ".#a.md",
        "#a.md#",
        "a.md~",
        ".a.md.swp",
        ".a.md.swo",
        "_drafts/d.md",
        ".git/x.md",
        "notes.docx",
    ):
        post(folder, name)
    assert not watcher.scan()
    assert len(watcher) == 0


@pytest.mark.parametrize(
    ("name", "temp"),
    [(".#a.md", True), ("a.md~", True), (".a.md.swp", True), ("a.md", False), ("a.swp.md", False)],
)
def test_is_temp(name: str, temp: bool) -> None:
    assert is_temp(name) is temp


def test_changes_merge_across_scans() -> None:
    a, b, c, d = (Path(n) for n in "abcd")
    first = Changes(added=(a, b), modified=(c,), removed=(d,))
    later = Changes(added=(d,), modified=(a,), removed=(b, c))
    # a: added then edited -> added; b: came and went -> nothing;
    # c: edited then deleted -> removed; d: deleted then re-created -> modified.
    assert first.then(later) == Changes(added=(a,), modified=(d,), removed=(c,))


class FakeTime:
    """A clock that moves only when `sleep` is called, running a script of saves."""

    def __init__(self, saves: dict[int, list[Path]]) -> None:
        self.now = 0.0
        self.calls = 0
        self.saves = saves

    def clock(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.now += seconds
        self.calls += 1
        for path in self.saves.get(self.calls, []):
            post(path.parent, path.name)


def test_settle_waits_for_a_quiet_scan_and_merges_the_burst(folder: Path) -> None:
    watcher = Watcher(folder)
    watcher.scan()
    first = [post(folder, f"p{i}.md") for i in range(3)]
    more = [folder / f"q{i}.md" for i in range(3)]
    fake = FakeTime({1: more[:2], 2: more[2:]})
    changes = watcher.settle(watcher.scan(), 0.5, 10, sleep=fake.sleep, clock=fake.clock)
    assert changes == Changes(added=tuple(sorted(first + more)))
    # Two sleeps found more files, the third found none: a quiet scan ends it.
    assert fake.calls == 3


def test_settle_gives_up_waiting_after_the_bound(folder: Path) -> None:
    watcher = Watcher(folder)
    watcher.scan()
    post(folder, "start.md")
    # A new file on every rescan: the folder never goes quiet.
    fake = FakeTime({i: [folder / f"n{i}.md"] for i in range(1, 100)})
    changes = watcher.settle(watcher.scan(), 0.5, 2.0, sleep=fake.sleep, clock=fake.clock)
    assert fake.now == pytest.approx(2.0)
    assert len(changes.added) == 1 + fake.calls


def test_settle_stops_at_once_when_asked(folder: Path) -> None:
    watcher = Watcher(folder)
    watcher.scan()
    a = post(folder, "a.md")
    fake = FakeTime({})
    changes = watcher.settle(
        watcher.scan(), 0.5, 10, stop=lambda: True, sleep=fake.sleep, clock=fake.clock
    )
    assert changes == Changes(added=(a,))
    assert fake.calls == 0


def test_missing_folder_is_no_files(tmp_path: Path) -> None:
    watcher = Watcher(tmp_path / "nope")
    assert not watcher.scan()
