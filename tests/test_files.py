"""The one atomic writer, and the error boundary around every file we write.

Failures are produced for real: a folder that is a plain file, a target that
is a folder, a file-size limit (RLIMIT_FSIZE, which binds root too). Tests of
permissions are skipped as root, who ignores them.
"""

from __future__ import annotations

import os
import stat
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from publisher.errors import DeliveryError, OutputError, PublisherError
from publisher.files import write_atomic, write_if_changed
from publisher.mail.transports import OutboxTransport

from .conftest import SiteDir

NOW = "2026-01-10T12:00:00+00:00"
ROOT = os.geteuid() == 0
AS_ROOT = "runs as root, and root ignores file permissions"


def run(site: SiteDir, *args: str, umask: int | None = None) -> subprocess.CompletedProcess[str]:
    """The real command line, as a user runs it (optionally under a umask)."""
    code = "from publisher.cli import main; main()"
    if umask is not None:
        code = f"import os; os.umask({umask:#o}); {code}"
    return subprocess.run(
        [sys.executable, "-c", code, *args],
        cwd=site.root,
        capture_output=True,
        text=True,
        timeout=60,
    )


def mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def leftovers(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.iterdir() if p.name.endswith(".tmp"))


# -- write_atomic ---------------------------------------------------------------


def test_public_file_is_0644_whatever_the_umask(tmp_path: Path) -> None:
    path = tmp_path / "a" / "b" / "feed.xml"  # missing folders are created
    old = os.umask(0o077)
    try:
        write_atomic(path, b"<feed/>")
    finally:
        os.umask(old)
    assert path.read_bytes() == b"<feed/>"
    assert mode(path) == 0o644
    assert leftovers(path.parent) == []


def test_private_file_with_a_fixed_temp_name_is_0600(tmp_path: Path) -> None:
    path = tmp_path / "message.eml"
    write_atomic(path, b"one", mode=0o600, fsync=False, unique_temp=False)
    write_atomic(path, b"two", mode=0o600, fsync=False, unique_temp=False)
    assert path.read_bytes() == b"two"
    assert mode(path) == 0o600
    assert leftovers(tmp_path) == []


def test_a_temp_file_left_by_a_crash_is_replaced_not_reused(tmp_path: Path) -> None:
    path = tmp_path / "message.eml"
    stale = tmp_path / ".message.eml.tmp"
    stale.write_bytes(b"half a message from a process that died, and longer")
    stale.chmod(0o644)
    write_atomic(path, b"whole", mode=0o600, fsync=False, unique_temp=False)
    assert path.read_bytes() == b"whole"
    assert mode(path) == 0o600
    assert leftovers(tmp_path) == []


@pytest.mark.parametrize("unique_temp", [True, False])
def test_folder_that_is_a_plain_file_is_an_output_error(tmp_path: Path, unique_temp: bool) -> None:
    blocker = tmp_path / "out"
    blocker.write_text("not a folder")
    path = blocker / "digest" / "latest.html"
    with pytest.raises(OutputError) as caught:
        write_atomic(path, b"x", unique_temp=unique_temp)
    assert caught.value.message == f"{path}: cannot write: Not a directory"
    assert caught.value.hint == (
        f"{blocker} is a file, not a folder: move it away or choose another path"
    )
    assert blocker.read_text() == "not a folder"


@pytest.mark.parametrize("unique_temp", [True, False])
def test_failed_rename_leaves_no_temp_file(tmp_path: Path, unique_temp: bool) -> None:
    target = tmp_path / "feed.xml"
    target.mkdir()
    (target / "keep").write_text("kept")
    with pytest.raises(OutputError) as caught:
        write_atomic(target, b"<feed/>", unique_temp=unique_temp)
    assert caught.value.message == f"{target}: cannot write: Is a directory"
    assert "is a folder" in caught.value.hint
    assert isinstance(caught.value.__cause__, IsADirectoryError)
    assert leftovers(tmp_path) == []
    assert (target / "keep").read_text() == "kept"


def test_failed_write_keeps_the_old_file_and_no_temp_file(tmp_path: Path) -> None:
    """A write that runs out of room (here: past RLIMIT_FSIZE) changes nothing."""
    path = tmp_path / "feed.xml"
    path.write_bytes(b"old feed")
    script = textwrap.dedent(
        f"""
        import resource, signal, sys
        from pathlib import Path
        from publisher.errors import OutputError
        from publisher.files import write_atomic
        signal.signal(signal.SIGXFSZ, signal.SIG_IGN)  # get EFBIG, not a kill
        resource.setrlimit(resource.RLIMIT_FSIZE, (4096, resource.RLIM_INFINITY))
        for unique in (True, False):
            try:
                write_atomic(Path({str(path)!r}), b"x" * 100_000, unique_temp=unique)
            except OutputError as exc:
                print(exc.message, "|", exc.hint)
            else:
                sys.exit("no error")
        """
    )
    done = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, timeout=60
    )
    assert done.returncode == 0, done.stderr
    lines = done.stdout.splitlines()
    assert len(lines) == 2
    assert all(line.startswith(f"{path}: cannot write: File too large | ") for line in lines)
    assert "ulimit -f" in lines[0]
    assert path.read_bytes() == b"old feed"
    assert leftovers(tmp_path) == []


@pytest.mark.permissions
@pytest.mark.skipif(ROOT, reason=AS_ROOT)
def test_read_only_folder_is_an_output_error(tmp_path: Path) -> None:
    folder = tmp_path / "out"
    folder.mkdir()
    (folder / "feed.xml").write_bytes(b"old")
    folder.chmod(0o555)
    try:
        with pytest.raises(OutputError) as caught:
            write_atomic(folder / "feed.xml", b"new")
    finally:
        folder.chmod(0o755)
    assert caught.value.message == f"{folder / 'feed.xml'}: cannot write: Permission denied"
    assert f"may write to {folder}" in caught.value.hint
    assert (folder / "feed.xml").read_bytes() == b"old"
    assert leftovers(folder) == []


def test_write_if_changed_leaves_identical_bytes_alone(tmp_path: Path) -> None:
    path = tmp_path / "feed.xml"
    assert write_if_changed(path, b"one") is True
    before = path.stat()
    assert write_if_changed(path, b"one") is False
    after = path.stat()
    assert (after.st_ino, after.st_mtime_ns) == (before.st_ino, before.st_mtime_ns)
    assert write_if_changed(path, b"two") is True
    assert path.read_bytes() == b"two"


def test_write_if_changed_under_a_plain_file_is_an_output_error(tmp_path: Path) -> None:
    (tmp_path / "out").write_text("")
    with pytest.raises(OutputError, match="out/feed.xml: cannot write: Not a directory"):
        write_if_changed(tmp_path / "out" / "feed.xml", b"<feed/>")


def test_output_error_is_a_publisher_error() -> None:
    # The CLI and `publisher run` catch PublisherError: that is what closes the boundary.
    assert issubclass(OutputError, PublisherError)


# -- the outbox writes through write_atomic -------------------------------------------


def test_outbox_messages_are_0600(tmp_path: Path) -> None:
    outbox = OutboxTransport(tmp_path / "outbox")
    outbox.send(b"Subject: hi\r\n\r\nbody\r\n", "a@example.org", "b@example.org", "d1-s1")
    outbox.send(b"Subject: hi again\r\n\r\nbody\r\n", "a@example.org", "b@example.org", "d1-s1")
    message = tmp_path / "outbox" / "d1-s1.eml"
    assert message.read_bytes().startswith(b"Subject: hi again")
    assert mode(message) == 0o600
    assert mode(tmp_path / "outbox") & 0o077 == 0
    assert leftovers(tmp_path / "outbox") == []


def test_outbox_under_a_plain_file_is_a_delivery_error(tmp_path: Path) -> None:
    (tmp_path / "blocker").write_text("")
    outbox = OutboxTransport(tmp_path / "blocker" / "outbox")
    with pytest.raises(DeliveryError) as caught:
        outbox.send(b"x", "a@example.org", "b@example.org", "d1-s1")
    assert caught.value.message == (
        f"{tmp_path / 'blocker' / 'outbox'}: cannot write to the outbox: Not a directory"
    )
    # The hint names what is in the way, as for out/ (a full disk says "free
    # some space", a read-only one "mount it writable").
    assert caught.value.hint == (
        f"{tmp_path / 'blocker'} is a file, not a folder: move it away or choose another path"
    )


def test_outbox_write_failure_is_a_delivery_error(tmp_path: Path) -> None:
    outbox = OutboxTransport(tmp_path)
    (tmp_path / "d1-s1.eml").mkdir()
    (tmp_path / "d1-s1.eml" / "keep").write_text("")
    with pytest.raises(DeliveryError) as caught:
        outbox.send(b"x", "a@example.org", "b@example.org", "d1-s1")
    assert caught.value.message == f"{tmp_path}: cannot write to the outbox: Is a directory"
    assert leftovers(tmp_path) == []


# -- the real command line -----------------------------------------------------


def test_publish_with_out_as_a_plain_file_is_one_error_line(site: SiteDir) -> None:
    site.add_sample()
    site.out.write_text("I am not a folder")
    result = run(site, "publish", "--now", NOW)
    assert result.returncode == 1
    assert "Traceback" not in result.stderr
    assert result.stderr.splitlines() == [
        f"error: {site.out / 'feed.xml'}: cannot write: Not a directory",
        f"hint: {site.out} is a file, not a folder: move it away or choose another path",
    ]
    assert site.out.read_text() == "I am not a folder"
    verbose = run(site, "-v", "publish", "--now", NOW)
    assert verbose.returncode == 1
    assert "Traceback" in verbose.stderr and "NotADirectoryError" in verbose.stderr


@pytest.mark.permissions
@pytest.mark.skipif(ROOT, reason=AS_ROOT)
def test_publish_into_a_read_only_out_is_one_error_line(site: SiteDir) -> None:
    site.add_sample()
    site.out.mkdir()
    site.out.chmod(0o555)
    try:
        result = run(site, "publish", "--now", NOW)
    finally:
        site.out.chmod(0o755)
    assert result.returncode == 1
    assert "Traceback" not in result.stderr
    assert result.stderr.splitlines() == [
        f"error: {site.out / 'feed.xml'}: cannot write: Permission denied",
        f"hint: check that this user may write to {site.out} (its permissions and owner)",
    ]


def test_state_folder_under_a_plain_file_is_one_error_line(site: SiteDir) -> None:
    site.add_sample()
    (site.root / "blocker").write_text("")
    site.write_config('[state]\npath = "blocker/state.db"\n')
    blocker = site.root / "blocker"
    hint = f"hint: {blocker} is a file, not a folder: move it away or choose another path"
    # publish takes the site lock, in the state folder, before anything else.
    published = run(site, "publish", "--now", NOW)
    assert published.returncode == 1
    assert published.stderr.splitlines() == [
        f"error: {site.root / 'blocker' / 'publisher.lock'}: cannot take the lock: "
        "Not a directory",
        hint,
    ]
    listed = run(site, "subscribers", "list")
    assert listed.returncode == 1
    assert listed.stderr.splitlines() == [
        f"error: {site.root / 'blocker'}: cannot create the state folder: Not a directory",
        hint,
    ]
    assert not site.out.exists()


def test_public_files_are_0644_and_exports_0600_under_a_strict_umask(site: SiteDir) -> None:
    site.post("2026-01-09-new.md", "title: New\ndate: 2026-01-09 08:00")
    result = run(site, "publish", "--now", NOW, umask=0o077)
    assert result.returncode == 0, result.stderr
    public = [site.out / "feed.xml", site.out / "rss.xml", *(site.out / "digest").iterdir()]
    # two feeds, the digest's .html/.txt as dated and as latest, the archive index
    assert len(public) == 7
    assert {mode(p) for p in public} == {0o644}
    exported = run(site, "subscribers", "export", "-o", "lists/subscribers.csv")
    assert exported.returncode == 0, exported.stderr
    csv = site.root / "lists" / "subscribers.csv"
    assert csv.read_text().startswith("email,name,status")
    assert mode(csv) == 0o600


def test_export_under_a_plain_file_is_one_error_line(site: SiteDir) -> None:
    (site.root / "blocker").write_text("")
    result = run(site, "subscribers", "export", "-o", "blocker/subscribers.csv")
    assert result.returncode == 1
    assert result.stderr.splitlines() == [
        "error: blocker/subscribers.csv: cannot write: Not a directory",
        "hint: blocker is a file, not a folder: move it away or choose another path",
    ]


# -- private folders: never committed by `git add -A` -------------------------


def test_a_private_folder_made_here_carries_a_gitignore_of_everything(tmp_path: Path) -> None:
    from publisher.files import make_private_folder

    make_private_folder(tmp_path / ".publisher" / "outbox")
    # The top-most folder made here holds the .gitignore: it covers all below.
    assert (tmp_path / ".publisher" / ".gitignore").read_text() == "*\n"
    assert not (tmp_path / ".publisher" / "outbox" / ".gitignore").exists()
    assert stat.S_IMODE((tmp_path / ".publisher" / "outbox").stat().st_mode) == 0o700


def test_a_folder_that_already_exists_is_left_as_it_is(tmp_path: Path) -> None:
    from publisher.files import make_private_folder

    make_private_folder(tmp_path)  # the site's own folder, say
    assert not (tmp_path / ".gitignore").exists()
    (tmp_path / "state").mkdir()
    (tmp_path / "state" / ".gitignore").write_text("mine\n")
    make_private_folder(tmp_path / "state")
    assert (tmp_path / "state" / ".gitignore").read_text() == "mine\n"


def test_the_outbox_folder_made_first_is_ignored_too(tmp_path: Path) -> None:
    OutboxTransport(tmp_path / ".publisher" / "outbox").send(b"msg", "a@x.org", "b@x.org", "m1")
    assert (tmp_path / ".publisher" / ".gitignore").read_text() == "*\n"
