"""The subscriber list under hostile input: IDNA 2008, oversized CSV fields,
CRLF and markup in every column, a big import."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from publisher.errors import SubscriberError
from publisher.store import subscribers as subs
from publisher.store.store import Store
from publisher.web.pages import mask

from .delivery_support import NOW, make_site, run_cli


@pytest.fixture
def store(tmp_path: Path) -> Iterator[Store]:
    with Store.open(tmp_path / "state.db") as opened:
        yield opened


@pytest.mark.parametrize(
    ("given", "stored"),
    [
        # IDNA 2008 (UTS 46, non-transitional): ß and ς are letters of their own,
        # not "ss" and "σ" as in Python's IDNA 2003 codec.
        ("uma@straße.de", "uma@xn--strae-oqa.de"),
        ("uma@STRASSE.de", "uma@strasse.de"),
        ("x@faß.de", "x@xn--fa-hia.de"),
        ("x@München.DE", "x@xn--mnchen-3ya.de"),
    ],
)
def test_international_domains_use_idna_2008(given: str, stored: str) -> None:
    assert subs.normalise(given) == stored


def test_strasse_and_strasse_with_sharp_s_are_two_people(store: Store) -> None:
    store.subscribers.add("uma@straße.de", "Uma", NOW)
    store.subscribers.add("uma@strasse.de", "Other", NOW)
    listed = [s.email for s in store.subscribers.listing()]
    assert listed == ["uma@xn--strae-oqa.de", "uma@strasse.de"]
    assert mask("uma@xn--strae-oqa.de") == "u•••@straße.de"


@pytest.mark.parametrize("bad", ["x@a..b", "x@-a.de", "x@\u0301a.de", "x@xn--.de", "x@a b.de"])
def test_invalid_international_domains_are_refused(bad: str) -> None:
    with pytest.raises(SubscriberError):
        subs.normalise(bad)


def test_oversized_csv_field_is_a_line_problem_and_the_rest_import(
    store: Store, tmp_path: Path
) -> None:
    path = tmp_path / "people.csv"
    path.write_text(
        "email,name\n"
        "ann@example.org,Ann\n"
        f"bob@example.org,{'B' * 200_000}\n"
        'cy@example.org,"Cy\nSmith"\n'
        "dee@example.org,Dee\n",
        encoding="utf-8",
    )
    result = store.subscribers.import_csv(path, NOW)
    assert result.added == 3
    assert result.problems == (
        "people.csv:3: cannot be read as CSV: field larger than field limit (131072)",
    )
    names = {s.email: s.name for s in store.subscribers.listing()}
    assert names == {"ann@example.org": "Ann", "cy@example.org": "Cy Smith",
                     "dee@example.org": "Dee"}


@pytest.mark.parametrize(
    "column",
    ["email", "name", "status"],
)
def test_crlf_and_markup_in_any_column_never_reach_the_list_raw(
    store: Store, tmp_path: Path, column: str
) -> None:
    hostile = 'x\r\nBcc: victim@example.org <script>alert(1)</script>'
    row = {"email": "ann@example.org", "name": "Ann", "status": "active"}
    row[column] = hostile
    path = tmp_path / "people.csv"
    quoted = ",".join('"' + row[c].replace('"', '""') + '"' for c in ("email", "name", "status"))
    path.write_text(f"email,name,status\n{quoted}\n", encoding="utf-8")
    result = store.subscribers.import_csv(path, NOW)
    for s in store.subscribers.listing():
        assert "\r" not in s.email + s.name and "\n" not in s.email + s.name
    if column == "name":
        assert result.added == 1 and result.problems == ()
    else:
        assert result.added == 0 and len(result.problems) == 1


def test_a_hundred_thousand_row_import_through_the_cli(tmp_path: Path) -> None:
    make_site(tmp_path)
    lines = ["email,name"] + [f"reader{i}@example.org,Reader {i}" for i in range(100_000)]
    lines[500] = "not-an-address,Nobody"
    lines[70_000] = "x@straße.de,Uma"
    (tmp_path / "big.csv").write_text("\n".join(lines) + "\n", encoding="utf-8")
    proc = run_cli(tmp_path, "subscribers", "import", "big.csv")
    assert proc.returncode == 3, proc.stderr
    assert "big.csv:501:" in proc.stderr and "Traceback" not in proc.stderr
    state = Store.open(tmp_path / ".publisher" / "state.db")
    try:
        count = state._conn.execute("SELECT COUNT(*) FROM subscribers").fetchone()[0]
        idn = state.subscribers.find("x@straße.de")
    finally:
        state.close()
    assert count == 99_999
    assert idn is not None and idn.email == "x@xn--strae-oqa.de"
