"""plainyaml reads simple front matter exactly as the bounded PyYAML loader does, or declines.

Every check is differential, against the real loader (safeyaml.BoundedLoader,
libyaml's when installed): `parse(text)` is None, or equal to what the loader
gives, type for type (`True == 1` and `1.0 == 1` in Python, so == alone would
not tell). When the loader raises, `parse` must decline.
"""

from __future__ import annotations

import subprocess
import sys
import time
from datetime import date, datetime
from pathlib import Path
from typing import Any

import pytest
import yaml
from hypothesis import given, settings
from hypothesis import strategies as st

from bench import generate
from publisher.content import plainyaml, posts, safeyaml
from publisher.model import Problem

from .conftest import SiteDir

REPO = Path(__file__).resolve().parent.parent


def slow(text: str) -> Any:
    """What the full loader gives (safeyaml.Handler without the fast path)."""
    loader = safeyaml.BoundedLoader(text)
    try:
        data = loader.get_single_data()
        assert loader.notes == []  # parse declines text that needs a repair
        return data
    finally:
        loader.dispose()


def assert_same(fast: Any, expected: Any) -> None:
    """Equal, and of the same types all the way down (dict order included)."""
    assert type(fast) is type(expected), (fast, expected)
    if isinstance(fast, dict):
        assert list(fast) == list(expected)
        for key in fast:
            assert_same(key, next(k for k in expected if k == key))
            assert_same(fast[key], expected[key])
    elif isinstance(fast, list):
        assert len(fast) == len(expected)
        for one, other in zip(fast, expected, strict=True):
            assert_same(one, other)
    else:
        assert fast == expected
        if isinstance(fast, (datetime, date)):
            assert repr(fast) == repr(expected)  # the same tzinfo too


def check(text: str) -> bool:
    """parse(text) is None or exactly the loader's result; True if it was read."""
    fast = plainyaml.parse(text)
    if fast is None:
        return False
    try:
        expected = slow(text)
    except Exception as exc:  # the loader refuses it: parse must have declined
        raise AssertionError(
            f"parse read {text!r} as {fast!r}; the loader raises {exc!r}"
        ) from exc
    assert_same(fast, expected)
    return True


def front_matter(path: Path) -> str:
    result = posts.read_text(path, path.name)
    assert isinstance(result, posts._Text)
    parts = posts.split_front_matter(result.text)
    assert parts is not None
    return parts[0]


# -- the resolver rules are PyYAML's own ---------------------------------------------


def test_the_copied_resolver_table_is_pyyaml_s() -> None:
    theirs = yaml.resolver.Resolver.yaml_implicit_resolvers
    assert set(plainyaml.IMPLICIT_RESOLVERS) == set(theirs)
    for first, resolvers in theirs.items():
        ours = plainyaml.IMPLICIT_RESOLVERS[first]
        assert [(tag, r.pattern, r.flags) for tag, r in ours] == [
            (tag, r.pattern, r.flags) for tag, r in resolvers
        ], first


def test_the_copied_constructor_rules_are_pyyaml_s() -> None:
    constructor = yaml.constructor.SafeConstructor
    assert constructor.bool_values == plainyaml.BOOL_VALUES
    assert plainyaml.TIMESTAMP_PARTS.pattern == constructor.timestamp_regexp.pattern
    assert plainyaml.TIMESTAMP_PARTS.flags == constructor.timestamp_regexp.flags


def test_importing_plainyaml_imports_no_yaml() -> None:
    code = ("import sys, publisher.content.plainyaml; "
            "print(sorted(m for m in sys.modules if 'yaml' in m))")
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, cwd=REPO
    ).stdout
    assert out.strip() == "['publisher.content.plainyaml']"


# -- a corpus of traps, each its own case -------------------------------------------------

SCALARS = [
    # YAML 1.1 booleans and nulls, and near misses that are text
    "yes", "Yes", "YES", "no", "No", "NO", "on", "On", "ON", "off", "Off", "OFF",
    "true", "True", "TRUE", "false", "False", "FALSE", "y", "Y", "n", "N", "yEs", "tRUE",
    "~", "null", "Null", "NULL", "nULL", "",
    # integers: octal, hex, binary, underscores, sexagesimal, signs, big ones
    "0", "7", "42", "017", "007", "00", "0o17", "0x1F", "0b101", "1_000", "0_0", "1:20",
    "190:20:30", "+1", "-1", "+0", "-0", "123456789012345678", "1234567890123456789",
    "12345678901234567890", "1" * 101,
    # floats, infinities, not-a-numbers (and `1e3`, text in YAML 1.1)
    "1.0", "1.", ".5", "1e3", "1.0e+3", "6.8523015e+5", ".inf", "-.inf", "+.inf", ".Inf",
    ".NaN", ".nan", ".NAN", "1_000.5", "190:20:30.15", "...", ".", ".hidden",
    # timestamps, right and wrong
    "2025-11-01", "2025-11-01T04:24:25", "2025-11-01 04:24:25", "2025-11-01t04:24:25",
    "2025-11-01 04:24:25 +0100", "2025-11-01 04:24:25 +01:00", "2025-11-01 04:24:25+01",
    "2025-11-01T04:24:25Z", "2025-11-01T04:24:25.123456789Z", "2025-11-01 04:24:25.5 -05:30",
    "2025-11-01T04:24:25.", "2025-1-1", "2025-1-1 4:05:06", "2025-02-30", "2025-11-01 25:00:00",
    "2025-11-01T04:24:25+99:00", "2025-11-01T04:24:25+23:99", "0000-01-01",
    "0000-01-01T00:00:00", "2025-11-01   04:24:25", "2025-11-01 04:24", "2025-13-01",
    "9999-12-31T23:59:59-23:59", "2025-11-01T04:24:60", "2025-11-01T24:00:00",
    "2025-11-01 24:00:00", "2025-11-01T23:59:59.999999999", "2025-11-01T04:24:25-00:00",
    # YAML's other tags and indicators
    "=", "<<", "!tag x", "!!str 1", "!!python/object:os.system x", "&anchor x", "*alias",
    "%x", "@x", "`x`", "|", ">", "|-", ">+", "?x", "? x", "-x", "- x", ":x", ",x", "]x", "}x",
    "{x}", "{a: 1}", "#x", "x #comment", "x#not-a-comment", "C#", "a: b", "a:b", "x:", "a :b",
    "http://example.org/a?b=c#d", "mailto:x@example.org", "---", "--- x", "~x", "x ~",
    # text, quoting
    "post", "São Paulo 東京 🌍", "👩‍🔬", "a  b", "a ", "it's", "say \"hi\"", "back\\slash",
    '"quoted"', "'single'", '"it\'s"', "'it''s'", '"say \\"hi\\""', '"back\\\\slash"',
    '"tab\\tx"', '"\\x41"', '"\\u00e9"', '"\\e"', '"\\/"', '"\\ "', '"a\\\nb"', '""', "''",
    '" spaced "', "' spaced '", '"a" b', "'a' b", '"a"#c', '"a" #c', "'a' #c", '"unclosed',
    "'unclosed", '"a: b"', '"a # b"', "'#'", '"[a]"',
    # flow sequences
    "[]", "[ ]", "[a, b]", "[a,b]", "[ a , b ]", '[a, "b c", \'d\'\'e\']', "[a, , b]", "[a,]",
    "[,]", "[yes, no, 1, 1.5, ~, null, 2025-01-01]", "[[a]]", "[a, [b]]", "[{a: b}]", "[a: b]",
    "[a:b]", "[a, b", "[a]b", "[a] b", "[a] #c", "[O'Brien]", "[a #b]", "[-1]", "[a  b]",
    "[&x a]", "[*x]", "[!t a]", "[a, 'b]", '["a, b", c]', '["\\"", x]', "[?a]", "[a?]",
    "[=]", "[<<]",
]
DOCUMENTS = [
    # keys that are not plain strings, or not simple
    "1: x", "yes: x", "no: x", "null: x", "~: x", "on: x", "y: x", "n: x", "Off: x",
    "true: x", "1.5: x", "2025-01-01: x", '"quoted": x', "'q': x", "? complex\n: x", "[a]: x",
    "a b: x", "_x: 1", "x-y: 1", "-x: 1", "<<: {a: 1}", "key : x", "key:x", "é: x",
    "k" * 100 + ": x", "k" * 101 + ": x", "k" * 1100 + ": x",
    # documents, directives, and what is not a mapping
    "", "\n", "# only a comment", "just a scalar", "- a list", "[a, b]", "{a: 1}",
    "---\ntitle: x", "title: x\n...", "title: x\n...\n", "title: x\n---\nb: 2",
    "%YAML 1.1\n---\ntitle: x", "title: x\n--- \n", "\ntitle: x\n\n",
    # indentation
    "  title: x\n  date: y", "title: x\n date: y", "title: x\n  date: y",
    # empty values and what follows them
    "title:", "title:   ", "title: # c", "title:\nnext: 1", "title:\n  continued",
    "title:\n\n  continued", "title:\n# c\n  continued",
    # values over more than one line
    "title: a\n  b", "title: a\n\n  b", "title: a\n  # c\n  b", "title: a\n# c\nb: 2",
    'title: "multi\n  line"', "title: 'multi\n  line'", "title: |\n  text\n  more",
    "title: >\n  folded\n  text", "title: |-\n  x", "tags: [a,\n  b]", 'title: "a\\\n  b"',
    # block sequences
    "tags:\n- a\n- b", "tags:\n  - a\n  - b", "tags:\n    - a\n    - b\ntitle: x",
    "tags:\n- a\n-b", "tags:\n-", "tags:\n- \n- a", "tags:\n  - a\n - b", "tags:\n  - a\n    - b",
    "tags:\n  - a\n    b", "tags:\n  - a: 1", "tags:\n  - - a", "tags:\n  - [a, b]",
    "tags:\n  - a\n\n  - b", "tags:\n  - a\n  # c\n  - b", "tags:\n- a\n# c\n- b",
    "tags:\n- a\n  - b", "tags:\n- yes\n- 1\n- ~\n- 2025-01-01", "tags:\n  -  a  # c",
    "tags:\n  - a\ntitle: x\n  - b", "- a\n- b", "tags:\n  - 'a'\n  - \"b\"", "tags:\n  -\ta",
    # nested mappings
    "author:\n  name: X\n  email: y@example.org", 'image:\n  path: /a.jpg\n  alt: "A"',
    "author:\n  name: X\n   email: y", "author:\n  name:\n    first: A\n    last: B",
    "a:\n  b:\n    c:\n      d:\n        e: 1",
    "a:\n  b:\n    c:\n      d:\n        e:\n          f: 1",
    "author:\n    name: X\n  email: y", "author:\n  name: X\n  name: Y", "author:\n  yes: 1",
    "feed:\n  excerpt_only: true\ntitle: x", "author:\n  name: X\n  tags:\n  - a\n  - b",
    "author:\n  tags:\n    - a\ntitle: x",
    # anchors and aliases
    "a: &x 1\nb: *x", "tags: &t [a, b]\nmore: *t", "a: &x\n  b: 1\nc: *x",
    # duplicates
    "title: a\ntitle: b", "title: a\nTitle: b",
    # tabs, carriage returns, other line breaks, control characters, byte order marks
    "title:\tx", "title: a\tb", "\ttitle: x", "title: a\t", "title: a\rb", "title: a\r\nb: c",
    "title: a\x07b", "title: a\x85b", "title: a\u2028b", "title: a\u2029b", "title: a\ufeffb",
    "\ufefftitle: x", "title: a\x7fb", "title: a\x9fb", 'title: "a\\x07b"', 'title: "a\\ud800"',
    "title: a\ufffeb", "title: \U0001f600",
]


@pytest.mark.parametrize("scalar", SCALARS)
def test_a_scalar_as_a_value(scalar: str) -> None:
    check(f"title: x\nvalue: {scalar}\n")
    check(f"\ntags:\n- {scalar}\n")
    check(f"\ntags:\n  - {scalar}\nafter: 1\n")
    check(f"author:\n  name: {scalar}\n  more: 1\n")
    check(f"tags: [{scalar}]\n")
    check(f"tags: [a, {scalar}, b]\n")


@pytest.mark.parametrize("text", DOCUMENTS)
def test_a_document(text: str) -> None:
    check(text)
    check("\n" + text + "\n")
    check("title: first\n" + text)


TAKEN = {
    "title: x": {"title": "x"},
    "title: x\nvalue: yes": {"title": "x", "value": True},
    "value: No": {"value": False},
    "value: ~": {"value": None},
    "value:": {"value": None},
    "n: y": {"n": "y"},
    "n: 42": {"n": 42},
    "n: 0o17": {"n": "0o17"},
    "d: 2025-11-01": {"d": date(2025, 11, 1)},
    "d: 2025-11-01T04:24:25": {"d": datetime(2025, 11, 1, 4, 24, 25)},
    "d: 2025-11-01 04:24:25 +0100": {"d": "2025-11-01 04:24:25 +0100"},
    "d: 2025-11-01 04:24": {"d": "2025-11-01 04:24"},
    'title: "say \\"hi\\" \\\\o/" # c': {"title": 'say "hi" \\o/'},
    "title: 'it''s'": {"title": "it's"},
    "title: a: b c": None,
    "title: a #b": {"title": "a"},
    "title: C# and F#": {"title": "C# and F#"},
    "tags: [a, \"b, c\", 'd', yes]": {"tags": ["a", "b, c", "d", True]},
    "tags:\n- a\n- b\nx: 1": {"tags": ["a", "b"], "x": 1},
    "author:\n  name: A\n  email: a@example.org": {
        "author": {"name": "A", "email": "a@example.org"}
    },
    "# c\n\ntitle: x # c\n\n": {"title": "x"},
}


@pytest.mark.parametrize("text", TAKEN)
def test_what_is_read_and_what_it_reads_as(text: str) -> None:
    """A few spelled out: the fast path takes these, with these values."""
    fast = plainyaml.parse(text)
    if TAKEN[text] is None:
        assert fast is None
    else:
        assert_same(fast, TAKEN[text])
        assert check(text)


LONG = 200_000
HOSTILE_LONG = {
    "flow item then spaces": "tags: [a" + " " * LONG + "x",
    "quoted flow item then spaces": 'tags: ["a"' + " " * LONG + "x",
    "many flow items": "tags: [" + "a, " * (LONG // 3) + "'",
    "unclosed double quote": 'title: "' + "a" * LONG,
    "backslashes": 'title: "' + "\\\\" * (LONG // 2),
    "quote then spaces": 'title: "a"' + " " * LONG + "x",
    "single quotes": "title: '" + "''" * (LONG // 2),
    "words then a colon": "title: " + "a " * (LONG // 2) + ":",
    "indentation": " " * LONG + "a: b",
    "many items": "a:\n" + " - x\n" * (LONG // 5),
    "digits": "v: " + "1" * LONG + ".",
    "sexagesimal": "v: 1" + ":1" * (LONG // 2) + "x",
    "date then spaces": "v: 2025-01-01" + " " * LONG + "x",
}


@pytest.mark.parametrize("text", HOSTILE_LONG.values(), ids=HOSTILE_LONG.keys())
def test_long_hostile_values_take_linear_time(text: str) -> None:
    """No pattern here backtracks quadratically (the first flow item pattern
    took 4 s on 20,000 spaces, and would take hours on a megabyte)."""
    started = time.perf_counter()
    check(text)
    assert time.perf_counter() - started < 5


# -- generated documents ----------------------------------------------------------

ORDINARY_KEYS = st.sampled_from(["title", "date", "tags", "a", "y", "n", "x-y", "_k", "Title"])
TRAP_KEYS = st.sampled_from(
    ["yes", "No", "null", "on", "1", "~", "<<", "a b", "é", "k:", "-k", "?k", "'k'", '"k"']
)
MILD_TEXT = st.text(alphabet=st.sampled_from(list("aZ09 :#-'\"[],._~\\é東😀")), max_size=12)
HOSTILE_TEXT = st.text(
    alphabet=st.sampled_from(
        list("aZ09 :#-'\"[]{},&*!|>%@`?\\\t~=._+eExoT\u00e9\u2028\x07\x85\r")
    ),
    max_size=12,
)
COMMENT = st.sampled_from(["", " # c", "  #c", "#c"])


def values(text: st.SearchStrategy[str]) -> st.SearchStrategy[str]:
    """A value as written: a trap scalar or some text, plain or quoted."""
    return st.one_of(
        st.sampled_from(SCALARS),
        text,
        text.map(lambda s: '"' + s.replace("\\", "\\\\").replace('"', '\\"') + '"'),
        text.map(lambda s: "'" + s.replace("'", "''") + "'"),
    )


def flows(value: st.SearchStrategy[str]) -> st.SearchStrategy[str]:
    return st.lists(value, max_size=4).map(lambda items: "[" + ", ".join(items) + "]")


@st.composite
def entries(
    draw: st.DrawFn,
    keys: st.SearchStrategy[str],
    value: st.SearchStrategy[str],
    indent: int = 0,
    depth: int = 0,
) -> list[str]:
    pad = " " * indent
    key = draw(keys)
    kind = draw(st.sampled_from(["scalar", "flow", "block", "map", "empty"]))
    if kind == "scalar":
        return [f"{pad}{key}: {draw(value)}{draw(COMMENT)}"]
    if kind == "flow":
        return [f"{pad}{key}: {draw(flows(value))}{draw(COMMENT)}"]
    if kind == "empty":
        return [f"{pad}{key}:{draw(COMMENT)}"]
    lines = [f"{pad}{key}:"]
    inner = indent + draw(st.sampled_from([0, 1, 2, 4]))
    if kind == "block":
        for item in draw(st.lists(st.one_of(value, flows(value)), min_size=1, max_size=3)):
            lines.append(" " * inner + f"- {item}{draw(COMMENT)}")
    elif depth < 2:
        for _ in range(draw(st.integers(1, 3))):
            lines += draw(entries(keys, value, inner or indent + 2, depth + 1))
    return lines


@st.composite
def documents(draw: st.DrawFn, hostile: bool) -> str:
    """Front matter from the grammar above: with hostile, trap keys, text with
    any character YAML minds, and stray lines (`...`, `---`, indented text)."""
    keys = st.one_of(ORDINARY_KEYS, TRAP_KEYS) if hostile else ORDINARY_KEYS
    value = values(st.one_of(MILD_TEXT, HOSTILE_TEXT) if hostile else MILD_TEXT)
    strays = ["", "  ", "# c", "  # c"] + (["...", "---", "  x", "- x"] if hostile else [])
    lines: list[str] = []
    for _ in range(draw(st.integers(0, 5))):
        lines += draw(entries(keys, value))
        if draw(st.integers(0, 5)) == 0:
            lines.append(draw(st.sampled_from(strays)))
    return "\n" + "\n".join(lines) + draw(st.sampled_from(["\n", "", "\n\n", "  \n"]))


@settings(max_examples=400, deadline=None)
@given(documents(hostile=True))
def test_generated_documents(text: str) -> None:
    check(text)


@settings(max_examples=400, deadline=None)
@given(documents(hostile=False))
def test_generated_ordinary_documents(text: str) -> None:
    check(text)


SIMPLE_WORD = st.text(alphabet="abcdefghijklmnopqrstuvwxyz", min_size=1, max_size=8)
SIMPLE_VALUE = st.one_of(
    SIMPLE_WORD.filter(lambda w: w not in plainyaml.BOOL_VALUES and w != "null"),
    st.integers(0, 10**12).map(str),
    st.dates().map(str),
    st.datetimes(min_value=datetime(1000, 1, 1)).map(lambda d: d.isoformat(timespec="seconds")),
    st.text(alphabet="abc é東😀\"\\#: ", max_size=20).map(
        lambda s: '"' + s.replace("\\", "\\\\").replace('"', '\\"') + '"'
    ),
    st.lists(SIMPLE_WORD, max_size=4).map(lambda items: "[" + ", ".join(items) + "]"),
)


@settings(max_examples=300, deadline=None)
@given(st.dictionaries(SIMPLE_WORD.map(lambda w: "k" + w), SIMPLE_VALUE, min_size=1))
def test_simple_documents_take_the_fast_path(values: dict[str, str]) -> None:
    text = "\n" + "".join(f"{key}: {value}\n" for key, value in values.items())
    assert check(text), text


# -- real posts: bundled, fixtures, generated ---------------------------------------------


def post_files() -> list[Path]:
    return sorted((REPO / "content").glob("*.md")) + sorted((REPO / "tests/fixtures").glob("*.md"))


@pytest.fixture(scope="module")
def bench_posts(tmp_path_factory: pytest.TempPathFactory) -> list[Path]:
    """A few hundred generated posts of each profile, as the benchmark's."""
    folder = tmp_path_factory.mktemp("bench-posts")
    files: list[Path] = []
    for profile in generate.PROFILES:
        files += generate.write_posts(folder / profile, 300, seed=7, profile=profile)
    return files


@pytest.mark.parametrize("path", post_files(), ids=lambda p: p.name)
def test_bundled_posts_take_the_fast_path(path: Path) -> None:
    assert check(front_matter(path))


def test_bench_posts_take_the_fast_path(bench_posts: list[Path]) -> None:
    for path in bench_posts:
        assert check(front_matter(path)), path


def read_both(
    path: Path, folder: Path, site: SiteDir, monkeypatch: pytest.MonkeyPatch
) -> tuple[Any, list[Problem], Any, list[Problem]]:
    config = site.config()
    fast_problems: list[Problem] = []
    fast = posts.read_post(path, folder, config, fast_problems)
    with monkeypatch.context() as patched:
        patched.setattr(safeyaml, "PLAIN_FIRST", False)
        slow_problems: list[Problem] = []
        slow_post = posts.read_post(path, folder, config, slow_problems)
    return fast, fast_problems, slow_post, slow_problems


def test_read_post_is_the_same_with_and_without_the_fast_path(
    site: SiteDir, bench_posts: list[Path], monkeypatch: pytest.MonkeyPatch
) -> None:
    files = [(path, path.parent) for path in post_files() + bench_posts]
    # Every trap as a post of its own, with a title and date as posts have.
    for index, scalar in enumerate(SCALARS):
        text = f"title: Trap {index}\ndate: 2026-01-02\nvalue: {scalar}\ntags: [{scalar}]"
        files.append((site.post(f"2026-01-02-scalar-{index}.md", text), site.posts))
    for index, text in enumerate(DOCUMENTS):
        files.append((site.post(f"2026-01-02-document-{index}.md", text), site.posts))
    taken = 0
    for path, folder in files:
        fast, fast_problems, slow_post, slow_problems = read_both(path, folder, site, monkeypatch)
        assert fast == slow_post, path
        assert fast_problems == slow_problems, path
        taken += fast is not None
    assert taken > len(files) // 2


def test_front_matter_too_big_is_still_refused(monkeypatch: pytest.MonkeyPatch) -> None:
    text = "title: " + "x" * safeyaml.MAX_FRONT_MATTER
    assert plainyaml.parse(text) == {"title": "x" * safeyaml.MAX_FRONT_MATTER}
    with pytest.raises(safeyaml.FrontMatterTooBig):
        safeyaml.Handler().load_with_notes(text)


@pytest.mark.parametrize("key", ["yes", "No", "on", "OFF", "true", "null", "Null"])
def test_a_key_that_is_not_text_declines_every_time(key: str) -> None:
    """Whether a key is text is kept once asked: the second answer is the first."""
    for _ in range(2):
        assert plainyaml.parse(f"{key}: x") is None
    for text in ("title", "tags", "y", "n", "yesterday", "Yes_", "null_island"):
        for _ in range(2):
            assert plainyaml.parse(f"{text}: x") == {text: "x"}
