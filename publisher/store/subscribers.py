"""The subscriber list in the state store: validate, add, remove, import, export.

An address is stored as written, except that its domain is lowercased (and
IDNA-encoded), and sent to as stored. Two entries are the same person when
their `email_key`s match: the whole address lowercased. RFC 5321 lets a
server treat local parts case-sensitively, but no large provider does, and
treating `Ann@x.org` and `ann@x.org` as two people mails one person twice.
"""

from __future__ import annotations

import csv
import io
import re
import sqlite3
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Literal, cast

from ..errors import SubscriberError
from .domains import typo_warning

Status = Literal["active", "unsubscribed", "bounced", "pending"]
# What an operator sets and imports; `pending` (signed up on the web, not yet
# confirmed: never mailed a digest) comes only from the subscribe form.
STATUSES: tuple[Status, ...] = ("active", "unsubscribed", "bounced")
CSV_HEADER = ("email", "name", "status")
MAX_NAME = 200

# RFC 5321/5322 dot-atom, ASCII only: a local part that needs SMTPUTF8 or
# quoting would fail at many servers, so it is refused up front.
_ATEXT = r"[A-Za-z0-9!#$%&'*+/=?^_`{|}~-]+"
_LOCAL = re.compile(rf"{_ATEXT}(?:\.{_ATEXT})*")
_LABEL = re.compile(r"(?!-)[a-z0-9-]{1,63}(?<!-)")
_CONTROL = re.compile(r"[\x00-\x1f\x7f]")
# A control character or whitespace anywhere: for str patterns `\s` is exactly
# what str.isspace() accepts (tests/test_subscribers.py checks every code point).
_SPACE_OR_CONTROL = re.compile(r"[\s\x00-\x1f\x7f]")


@dataclass(frozen=True)
class Subscriber:
    id: int
    email: str
    name: str
    status: Status
    failures: int

    @property
    def key(self) -> str:
        return email_key(self.email)


@dataclass(frozen=True)
class ImportResult:
    added: int
    unchanged: int
    problems: tuple[str, ...]  # "FILE:LINE: message", one per refused line
    # Columns not used, said once; likely typos in domains, each with its fix.
    warnings: tuple[str, ...] = ()


def normalise(address: str) -> str:
    """The address to store, or SubscriberError saying what is wrong with it."""
    raw = address.strip()
    if not raw:
        raise SubscriberError("empty address")
    if _SPACE_OR_CONTROL.search(raw):
        raise SubscriberError(f"{raw!r}: an address cannot contain spaces or control characters")
    if raw.count("@") != 1:
        raise SubscriberError(f"{raw!r}: an address needs exactly one '@'")
    local, domain = raw.split("@")
    if not local or len(local) > 64 or not _LOCAL.fullmatch(local):
        raise SubscriberError(
            f"{raw!r}: invalid local part (letters, digits, dots and !#$%&'*+/=?^_`{{|}}~- only)"
        )
    try:
        ascii_domain = _ascii_domain(domain)
    except UnicodeError as exc:
        raise SubscriberError(f"{raw!r}: invalid domain {domain!r}") from exc
    labels = ascii_domain.split(".")
    if (
        len(labels) < 2
        or len(ascii_domain) > 253
        or not all(_LABEL.fullmatch(label) for label in labels)
        or labels[-1].isdigit()
    ):
        raise SubscriberError(f"{raw!r}: invalid domain {domain!r}")
    result = f"{local}@{ascii_domain}"
    if len(result) > 254:
        raise SubscriberError(f"{raw!r}: longer than 254 characters")
    return result


def _ascii_domain(domain: str) -> str:
    """The domain's ASCII form by IDNA 2008 with UTS 46 mapping, lowercased.

    Not Python's "idna" codec: that is IDNA 2003, which maps `straße.de` to
    `strasse.de`, another domain, whose owner would get the mail and the
    personal unsubscribe link. UnicodeError (idna.IDNAError) if it is invalid.
    """
    if domain.isascii():
        return domain.lower()  # the common case; checked label by label by the caller
    # lazy: idna (~8 ms) only for an international domain, rare on a full run's path
    import idna  # noqa: PLC0415

    return str(idna.encode(domain, uts46=True).decode("ascii")).lower()


def email_key(address: str) -> str:
    """What makes two addresses one subscriber: the address lowercased (local
    part too). Also applied to keys read back from tokens signed before local
    parts were compared this way, so old links keep working."""
    return address.lower()


def mask(address: str) -> str:
    """`a•••@example.org`: enough for its owner to recognise, not enough to harvest.

    An international domain is shown as written, not in its xn-- form (IDNA
    2008, as it was stored: Python's own codec cannot show `straße.de`).
    """
    # lazy: idna (~8 ms) for the web pages and listings that mask, not for every run
    import idna  # noqa: PLC0415

    local, _, domain = address.rpartition("@")
    try:
        shown = idna.decode(domain) if "xn--" in domain else domain
    except UnicodeError:
        shown = domain
    return f"{local[:1]}•••@{shown}"


def clean_name(name: str) -> str:
    """One line of at most MAX_NAME characters: it ends up in a To header."""
    cleaned = " ".join(_CONTROL.sub(" ", name).split())
    if len(cleaned) > MAX_NAME:
        raise SubscriberError(f"name longer than {MAX_NAME} characters")
    return cleaned


def _row(row: Sequence[object]) -> Subscriber:
    return Subscriber(
        id=cast(int, row[0]),
        email=cast(str, row[1]),
        name=cast(str, row[2]),
        status=cast(Status, row[3]),
        failures=cast(int, row[4]),
    )


_COLUMNS = "id, email, name, status, failures"


def _csv_lines(text: str) -> Iterable[tuple[int, list[str] | csv.Error]]:
    """(line, cells), or (line, the error) for a line the csv module refuses
    (a field over its 131,072-character limit): the reader goes on after it."""
    reader = csv.reader(io.StringIO(text, newline=""))
    while True:
        try:
            row = next(reader)
        except StopIteration:
            return
        except csv.Error as exc:
            yield reader.line_num, exc
            continue
        yield reader.line_num, row


# Column names of the exports people bring (Mailchimp, Substack, Buttondown,
# listmonk, and this tool's own), compared lowercased with spaces, "-" and "_"
# removed: "Email Address", "email_address" and "E-mail" are one column.
COLUMN_ALIASES = {
    "email": {"email", "emailaddress", "mail", "subscriberemail"},
    "name": {"name", "fullname", "displayname"},
    "first_name": {"firstname", "fname", "givenname"},
    "last_name": {"lastname", "lname", "surname", "familyname"},
    # Buttondown calls it `subscriber_type` (older exports: `type`).
    "status": {"status", "subscribertype", "type", "subscriptionstatus"},
    # Mailchimp exports each status to its own file, told apart by these.
    "unsub_time": {"unsubtime"},
    "clean_time": {"cleantime"},
    # Substack: true once the reader turned email off.
    "email_disabled": {"emaildisabled"},
}
# The statuses those tools use, mapped to ours. Unknown ones refuse the line.
STATUS_ALIASES: dict[str, Status] = {
    **dict.fromkeys(["active", "subscribed", "enabled", "confirmed", "regular", "premium",
                     "paid", "free", "comp", "gifted", "trialed", "churning", "pastdue",
                     "churned"], "active"),
    **dict.fromkeys(["unsubscribed", "blocklisted", "blacklisted", "disabled", "removed",
                     "complained", "spammy", "paused", "optedout"], "unsubscribed"),
    **dict.fromkeys(["bounced", "cleaned", "undeliverable", "hardbounce"], "bounced"),
    # Signed up but never confirmed: kept, never mailed (as the web form's).
    **dict.fromkeys(["pending", "unconfirmed", "unactivated"], "pending"),
}


def _column_key(header: str) -> str:
    return "".join(c for c in header.lower() if c.isalnum())


def _header(cells: list[str]) -> tuple[dict[str, int], list[str]] | None:
    """Column index per field from a header row, and the columns not used;
    None when the row is not a header (it has no email column)."""
    columns: dict[str, int] = {}
    unused: list[str] = []
    for index, cell in enumerate(cells):
        key = _column_key(cell)
        field = next((f for f, names in COLUMN_ALIASES.items() if key in names), None)
        if field is None or field in columns:
            if cell:
                unused.append(cell)
            continue
        columns[field] = index
    return (columns, unused) if "email" in columns else None


def _status(cells: list[str], columns: dict[str, int]) -> Status:
    if _cell(cells, columns.get("unsub_time")):
        return "unsubscribed"
    if _cell(cells, columns.get("clean_time")):
        return "bounced"
    if _cell(cells, columns.get("email_disabled")).lower() in ("true", "1", "yes"):
        return "unsubscribed"
    raw = _cell(cells, columns.get("status"))
    if not raw:
        return "active"
    status = STATUS_ALIASES.get(_column_key(raw))
    if status is None:
        raise SubscriberError(
            f"unknown status {raw!r} (use {', '.join(STATUSES)}, or a status Mailchimp, "
            "Substack, Buttondown or listmonk exports)"
        )
    return status


def _cell(cells: list[str], index: int | None) -> str:
    return cells[index] if index is not None and index < len(cells) else ""


def _stamp(now: datetime | None) -> str:
    # Bookkeeping only (never compared for behaviour): callers pass `now` when they have it.
    return now.isoformat() if now is not None else datetime.now().astimezone().isoformat()


# -- the web's double opt-in -------------------------------------------------

class Subscribers:
    """The subscriber list."""

    def __init__(self, conn: sqlite3.Connection) -> None:
        self._conn = conn

    def find(self, address: str) -> Subscriber | None:
        key = email_key(normalise(address))
        row = self._conn.execute(
            f"SELECT {_COLUMNS} FROM subscribers WHERE email_key = ?", (key,)
        ).fetchone()
        return _row(row) if row else None

    def get(self, subscriber_id: int) -> Subscriber | None:
        row = self._conn.execute(
            f"SELECT {_COLUMNS} FROM subscribers WHERE id = ?", (subscriber_id,)
        ).fetchone()
        return _row(row) if row else None

    def listing(self, status: Status | None = None) -> list[Subscriber]:
        if status is None:
            rows = self._conn.execute(f"SELECT {_COLUMNS} FROM subscribers ORDER BY id")
        else:
            rows = self._conn.execute(
                f"SELECT {_COLUMNS} FROM subscribers WHERE status = ? ORDER BY id", (status,)
            )
        return [_row(r) for r in rows]

    def counts(self) -> dict[str, int]:
        """Subscribers per status; `pending` only when there are some."""
        found = dict(self._conn.execute("SELECT status, COUNT(*) FROM subscribers GROUP BY status"))
        result: dict[str, int] = {s: int(found.get(s, 0)) for s in STATUSES}
        if found.get("pending"):
            result["pending"] = int(found["pending"])
        return result

    def add(
        self,
        address: str,
        name: str = "",
        now: datetime | None = None,
        resubscribe: bool = False,
        first_name: str = "",
    ) -> tuple[Subscriber, bool]:
        """Add an active subscriber. Returns (subscriber, True if the list changed).

        Someone who unsubscribed or bounced is not quietly put back: that takes
        `resubscribe=True`, an explicit decision by the operator. An address still
        `pending` confirmation is made active: the operator vouches for it.
        """
        email = normalise(address)
        name = clean_name(name)
        stamp = _stamp(now)
        existing = self.find(email)
        if existing is not None:
            if existing.status == "active" or not (resubscribe or existing.status == "pending"):
                return existing, False
            self._conn.execute(
                "UPDATE subscribers SET status = 'active', failures = 0, updated_at = ?, "
                "name = CASE WHEN ? = '' THEN name ELSE ? END WHERE id = ?",
                (stamp, name, name, existing.id),
            )
            updated = self.get(existing.id)
            assert updated is not None
            return updated, True
        return self._insert(email, name, clean_name(first_name), stamp), True

    def _insert(
        self, email: str, name: str, first_name: str, stamp: str
    ) -> Subscriber:
        """A new active subscriber; `email` normalised, names clean, not on the list yet.
        The row is not read back: its values are these, and failures start at 0."""
        cur = self._conn.execute(
            "INSERT INTO subscribers (email, email_key, name, first_name, status, created_at, "
            "updated_at) VALUES (?, ?, ?, ?, 'active', ?, ?)",
            (email, email_key(email), name, first_name, stamp, stamp),
        )
        assert cur.lastrowid is not None
        return Subscriber(id=cur.lastrowid, email=email, name=name, status="active", failures=0)

    def remove(self, address: str) -> Subscriber:
        """Delete the subscriber and their send history: nothing of them is kept."""
        existing = self.find(address)
        if existing is None:
            raise SubscriberError(f"{address}: not on the list")
        self._conn.execute("DELETE FROM sends WHERE subscriber_id = ?", (existing.id,))
        self._conn.execute("DELETE FROM subscribers WHERE id = ?", (existing.id,))
        return existing

    def set_status(
        self, subscriber_id: int, status: Status, now: datetime | None = None
    ) -> None:
        self._conn.execute(
            "UPDATE subscribers SET status = ?, updated_at = ? WHERE id = ?",
            (status, _stamp(now), subscriber_id),
        )

    def unsubscribe_key(self, key: str, now: datetime | None = None) -> Subscriber:
        """Mark the subscriber with this email key unsubscribed (idempotent)."""
        row = self._conn.execute(
            f"SELECT {_COLUMNS} FROM subscribers WHERE email_key = ?", (email_key(key),)
        ).fetchone()
        if row is None:
            raise SubscriberError(f"{key}: not on the list")
        subscriber = _row(row)
        if subscriber.status != "unsubscribed":
            self.set_status(subscriber.id, "unsubscribed", now)
        return subscriber

    def import_csv(
        self, path: Path, now: datetime | None = None
    ) -> ImportResult:
        """Import `email,name,status` rows (header optional); bad lines are reported, not fatal.

        Addresses already on the list are left exactly as they are, so importing
        the same file twice changes nothing and an old export never resubscribes
        someone who has since unsubscribed.
        """
        try:
            text = path.read_text(encoding="utf-8-sig")
        except (OSError, UnicodeDecodeError) as exc:
            raise SubscriberError(f"{path}: cannot read: {exc}") from exc
        return self.import_rows(_csv_lines(text), path.name, now)

    def import_rows(
        self,
        rows: Iterable[tuple[int, list[str] | csv.Error]],
        source: str,
        now: datetime | None = None,
    ) -> ImportResult:
        """Import rows whose columns are named by a header row (any order; the
        export of Mailchimp, Substack, Buttondown or listmonk as it comes), or
        `email,name` without one. Unused columns are named once, in `warnings`."""
        added = unchanged = 0
        problems: list[str] = []
        warnings: list[str] = []
        columns = {"email": 0, "name": 1, "status": 2}
        first = True
        for line, row in rows:
            if isinstance(row, csv.Error):
                problems.append(f"{source}:{line}: cannot be read as CSV: {row}")
                continue
            cells = [c.strip() for c in row]
            if not any(cells):
                continue
            if first:
                first = False
                header = _header(cells)
                if header is not None:
                    columns, unused = header
                    if unused:
                        warnings.append(
                            f"{source}: {len(unused)} column(s) not imported: {', '.join(unused)} "
                            "(publisher keeps email, name, first name and status)"
                        )
                    continue
            try:
                email = _cell(cells, columns.get("email"))
                first_name = clean_name(_cell(cells, columns.get("first_name")))
                name = _cell(cells, columns.get("name"))
                if not name:
                    last_name = _cell(cells, columns.get("last_name"))
                    name = " ".join(filter(None, [first_name, last_name]))
                name = clean_name(name)
                status = _status(cells, columns)
                normalised = normalise(email)
            except SubscriberError as exc:
                problems.append(f"{source}:{line}: {exc.message}")
                continue
            # Looked up and inserted here rather than through `add`, which would
            # normalise and look up the address again: at 100,000 rows it shows.
            if self.find(normalised) is not None:
                unchanged += 1
                continue
            typo = typo_warning(normalised)
            if typo:
                warnings.append(f"{source}:{line}: {typo}")
            subscriber = self._insert(normalised, name, first_name, _stamp(now))
            if status != "active":
                self.set_status(subscriber.id, status, now)
            added += 1
        return ImportResult(added, unchanged, tuple(problems), tuple(warnings))

    def export_csv(self) -> str:
        buffer = io.StringIO(newline="")
        writer = csv.writer(buffer, lineterminator="\n")
        writer.writerow(CSV_HEADER)
        for s in self.listing():
            writer.writerow((s.email, s.name, s.status))
        return buffer.getvalue()

    def add_pending(
        self, address: str, name: str, now: datetime
    ) -> tuple[Subscriber, bool]:
        """Record a sign-up from the web: a new address becomes `pending`.

        Returns (subscriber, True if a row was created). An address already on
        the list is left exactly as it is whatever its status: only confirming
        (`confirm`) changes it, so a stranger typing someone's address changes
        nothing but sending them a confirmation mail.
        """
        email = normalise(address)
        name = clean_name(name)
        existing = self.find(email)
        if existing is not None:
            return existing, False
        stamp = _stamp(now)
        cur = self._conn.execute(
            "INSERT INTO subscribers (email, email_key, name, status, created_at, updated_at) "
            "VALUES (?, ?, ?, 'pending', ?, ?)",
            (email, email_key(email), name, stamp, stamp),
        )
        assert cur.lastrowid is not None
        created = self.get(cur.lastrowid)
        assert created is not None
        return created, True

    def sign_up(self, email: str, name: str, now: datetime) -> Subscriber:
        """`add_pending` for the web, in constant work: one statement that writes
        whatever the address's status, so the time a sign-up takes tells nobody
        whether the address was on the list. `email` is normalised and `name`
        clean (web/forms.py). An address already on the list is left as it is
        (the same value is written back over its key)."""
        stamp = _stamp(now)
        row = self._conn.execute(
            "INSERT INTO subscribers (email, email_key, name, status, created_at, updated_at) "
            "VALUES (?, ?, ?, 'pending', ?, ?) "
            "ON CONFLICT (email_key) DO UPDATE SET email_key = excluded.email_key "
            f"RETURNING {_COLUMNS}",
            (email, email_key(email), name, stamp, stamp),
        ).fetchone()
        return _row(row)

    def by_key(self, key: str) -> Subscriber | None:
        row = self._conn.execute(
            f"SELECT {_COLUMNS} FROM subscribers WHERE email_key = ?", (email_key(key),)
        ).fetchone()
        return _row(row) if row else None

    def activate_key(self, key: str, now: datetime) -> Subscriber | None:
        """The owner of the address asked for mail (confirmed, or resubscribed from
        the manage page): active, failures reset. None if the address is not on
        the list. Idempotent: an active subscriber is returned unchanged."""
        subscriber = self.by_key(key)
        if subscriber is None or subscriber.status == "active":
            return subscriber
        stamp = _stamp(now)
        self._conn.execute(
            "UPDATE subscribers SET status = 'active', failures = 0, updated_at = ?, "
            "confirmed_at = ? WHERE id = ?",
            (stamp, stamp, subscriber.id),
        )
        return self.get(subscriber.id)
