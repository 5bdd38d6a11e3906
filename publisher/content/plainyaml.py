"""The front matter most posts have, read without PyYAML; None when not sure.

PyYAML's bounded loader (safeyaml) costs about 4x libyaml alone, and reading
front matter was most of a cold build. Nearly every post's front matter is a
few `key: value` lines, so this reads a strict subset of YAML by hand:

- a block mapping of `key: value` lines, keys being simple words;
- values: plain scalars, double-quoted strings (only the escapes `\\"` and
  `\\\\`), single-quoted strings (`''` escape), flow sequences of those
  (`[a, "b c"]`), and, under a key with no value, a block sequence (`- item`)
  or a mapping of the same kinds of values, a few levels deep;
- `#` comments and blank lines.

Anything else, anything unusual inside those (an anchor, a tag, a block
scalar, a flow mapping `{...}`, a tab, a value on two lines, a duplicate key,
a control character, a backslash escape other than the two above, ...) makes
`parse` return None, and the caller reads the text with the full loader.
Declining is always correct; a different answer never is: what is returned
equals what safeyaml.BoundedLoader gives, type for type.

A plain scalar's type is decided by PyYAML's own implicit resolver rules
(yaml.resolver.Resolver, YAML 1.1: `yes` is True, `1:20` an int, `0o17` a
string), copied below so that importing this module imports no YAML (a run
with nothing changed imports none); tests/test_plainyaml.py checks the copy
against PyYAML's. Only str, null, bool, decimal int and timestamp values are
built here (as SafeConstructor builds them); a float, an octal, hex or
sexagesimal int, `=` or `<<` makes `parse` decline.
"""

from __future__ import annotations

import re
from datetime import UTC, date, datetime, timedelta, timezone
from functools import lru_cache
from typing import Any

# Plain scalar tags, from yaml.resolver.Resolver, in the order PyYAML tries them.
STR = "tag:yaml.org,2002:str"
_BOOL = re.compile(
    r"""^(?:yes|Yes|YES|no|No|NO
                    |true|True|TRUE|false|False|FALSE
                    |on|On|ON|off|Off|OFF)$""",
    re.X,
)
_FLOAT = re.compile(
    r"""^(?:[-+]?(?:[0-9][0-9_]*)\.[0-9_]*(?:[eE][-+][0-9]+)?
                    |\.[0-9][0-9_]*(?:[eE][-+][0-9]+)?
                    |[-+]?[0-9][0-9_]*(?::[0-5]?[0-9])+\.[0-9_]*
                    |[-+]?\.(?:inf|Inf|INF)
                    |\.(?:nan|NaN|NAN))$""",
    re.X,
)
_INT = re.compile(
    r"""^(?:[-+]?0b[0-1_]+
                    |[-+]?0[0-7_]+
                    |[-+]?(?:0|[1-9][0-9_]*)
                    |[-+]?0x[0-9a-fA-F_]+
                    |[-+]?[1-9][0-9_]*(?::[0-5]?[0-9])+)$""",
    re.X,
)
_MERGE = re.compile(r"^(?:<<)$")
_NULL = re.compile(
    r"""^(?: ~
                    |null|Null|NULL
                    | )$""",
    re.X,
)
_TIMESTAMP = re.compile(
    r"""^(?:[0-9][0-9][0-9][0-9]-[0-9][0-9]-[0-9][0-9]
                    |[0-9][0-9][0-9][0-9] -[0-9][0-9]? -[0-9][0-9]?
                     (?:[Tt]|[ \t]+)[0-9][0-9]?
                     :[0-9][0-9] :[0-9][0-9] (?:\.[0-9]*)?
                     (?:[ \t]*(?:Z|[-+][0-9][0-9]?(?::[0-9][0-9])?))?)$""",
    re.X,
)
_VALUE = re.compile(r"^(?:=)$")
_YAML = re.compile(r"^(?:!|&|\*)$")


def _implicit_resolvers() -> dict[str, list[tuple[str, re.Pattern[str]]]]:
    """First character -> (tag, regexp) to try, built as Resolver.add_implicit_resolver does."""
    table: dict[str, list[tuple[str, re.Pattern[str]]]] = {}
    for tag, regexp, first in (
        ("bool", _BOOL, "yYnNtTfFoO"),
        ("float", _FLOAT, "-+0123456789."),
        ("int", _INT, "-+0123456789"),
        ("merge", _MERGE, "<"),
        ("null", _NULL, ["~", "n", "N", ""]),
        ("timestamp", _TIMESTAMP, "0123456789"),
        ("value", _VALUE, "="),
        ("yaml", _YAML, "!&*"),
    ):
        for char in first:
            table.setdefault(char, []).append((f"tag:yaml.org,2002:{tag}", regexp))
    return table


IMPLICIT_RESOLVERS = _implicit_resolvers()
# SafeConstructor.bool_values and .timestamp_regexp.
BOOL_VALUES = {"yes": True, "no": False, "true": True, "false": False, "on": True, "off": False}
TIMESTAMP_PARTS = re.compile(
    r"""^(?P<year>[0-9][0-9][0-9][0-9])
                -(?P<month>[0-9][0-9]?)
                -(?P<day>[0-9][0-9]?)
                (?:(?:[Tt]|[ \t]+)
                (?P<hour>[0-9][0-9]?)
                :(?P<minute>[0-9][0-9])
                :(?P<second>[0-9][0-9])
                (?:\.(?P<fraction>[0-9]*))?
                (?:[ \t]*(?P<tz>Z|(?P<tz_sign>[-+])(?P<tz_hour>[0-9][0-9]?)
                (?::(?P<tz_minute>[0-9][0-9]))?))?)?$""",
    re.X,
)
_ISO_SECONDS = re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2}[T ][0-9]{2}:[0-9]{2}:[0-9]{2}")

# Anything but these characters makes parse decline: they are what libyaml
# reads as printable (no \x7f-\x9f), minus tab, carriage return and the other
# line breaks YAML 1.1 knows (U+0085, U+2028, U+2029), the byte order mark,
# and what safeyaml.ILLEGAL removes with a note (so the slow path makes it).
_UNSURE_CHAR = re.compile(
    "[^\n -~\xa0-\u2027\u202a-\ud7ff\ue000-\ufefe\uff00-\ufffd\U00010000-\U0010ffff]"
)
# `key:` or `key: value` at some indentation. A longer key is not worth
# reading here (libyaml refuses simple keys over 1,024 characters).
_KEY_LINE = re.compile(r"( *)([A-Za-z_][A-Za-z0-9_-]{0,99}):(?: +(.*))?")
_ITEM_LINE = re.compile(r"( *)- +(.*)")
# After a value: nothing, or a comment (which must follow a space).
_END = r"(?: *| +#.*)"
# Quoted scalars on one line ("unrolled" loops: far faster than an alternation
# per character on long excerpts).
_DOUBLE = r'"([^"\\]*(?:\\["\\][^"\\]*)*)"'
_SINGLE = r"'([^']*(?:''[^']*)*)'"
_DOUBLE_VALUE = re.compile(_DOUBLE + _END)
_SINGLE_VALUE = re.compile(_SINGLE + _END)
_ESCAPE = re.compile(r'\\(["\\])')
# A plain scalar may not start with an indicator (some may start one when a
# non-space follows, as `-1` or `:x`: not worth the rules here).
_INDICATORS = frozenset("-?:,[]{}#&*!|>'\"%@`")
# A flow sequence of plain items only, the common case: split on commas.
# Plain items here are simpler than YAML allows: no `:` or `#` at all.
_PLAIN_FLOW = re.compile(r"\[([^\[\]{}#:\"']*)\]" + _END)
# Otherwise item by item: one item and what follows it (`,` or the closing `]`).
# The plain item takes its trailing spaces too, possessively (`*+`): a lazy
# `*?` before ` *` would try every split of a long run of spaces (quadratic).
_FLOW_ITEM = re.compile(
    rf""" *+(?:{_DOUBLE} *+|{_SINGLE} *+|([^ ,\[\]{{}}#:"'!&*|>%@`?-][^,\[\]{{}}#:]*+))([,\]])"""
)
_FLOW_END = re.compile(r"\]" + _END)
_MAX_DEPTH = 4  # nested blocks; front matter rarely has more than 2
_MAX_INT = 18  # digits of an int built here; longer ones go to safeyaml's bound


class _Unsure(Exception):
    """Not in the subset: the caller must use the full loader."""


def parse(text: str) -> dict[Any, Any] | None:
    """The mapping `text` holds, exactly as safeyaml loads it, or None if not sure.

    None is also the answer for an empty document (the full loader gives None
    for it too, but saying so here would need a second "not sure" value).
    """
    if _UNSURE_CHAR.search(text):
        return None
    body = text.strip("\n")
    lines = body.split("\n")
    if "#" in body or "\n\n" in body or "\n " in body or body[:1] == " ":
        # Blank and comment lines change nothing in this subset (no value
        # spans lines here), so they are left out once (when there may be any).
        lines = [line for line in lines if line.lstrip(" ")[:1] not in ("", "#")]
    try:
        mapping, end = _mapping(lines, 0, 0, 0)
    except _Unsure:
        return None
    if end < len(lines) or not mapping:
        return None  # something left at a smaller indentation, or nothing at all
    return mapping


def _indent(line: str) -> int:
    return len(line) - len(line.lstrip(" "))


def _mapping(lines: list[str], at: int, indent: int, depth: int) -> tuple[dict[Any, Any], int]:
    """The block mapping whose keys are at `indent`, starting at line `at`; and
    the first line after it (one less indented, or len(lines))."""
    if depth > _MAX_DEPTH:
        raise _Unsure
    mapping: dict[Any, Any] = {}
    while at < len(lines):
        line = lines[at]
        match = _KEY_LINE.fullmatch(line)
        if match is None:
            if _indent(line) < indent:
                break
            raise _Unsure  # not `key: value`
        spaces, key, rest = match.groups()
        if len(spaces) != indent:
            if len(spaces) < indent:
                break
            raise _Unsure  # more indented: a continuation line
        if key[0] in IMPLICIT_RESOLVERS and not _is_str(key):
            raise _Unsure  # `yes:`, `null:`, `on:`: not a str key
        if key in mapping:
            raise _Unsure  # a duplicate (the last one wins in PyYAML)
        at += 1
        if rest and rest[0] != "#":
            mapping[key] = _value(rest)
            continue
        # No value on the key's line: a block under it, or null.
        if at == len(lines):
            mapping[key] = None
            continue
        below = lines[at]
        below_indent = _indent(below)
        if below[below_indent] == "-" and below_indent >= indent:
            # A sequence may sit at the key's own indentation (`tags:\n- a`).
            mapping[key], at = _sequence(lines, at, below_indent, depth + 1)
        elif below_indent > indent:
            mapping[key], at = _mapping(lines, at, below_indent, depth + 1)
        else:
            mapping[key] = None
    return mapping, at


def _sequence(lines: list[str], at: int, indent: int, depth: int) -> tuple[list[Any], int]:
    """The block sequence of scalar items at `indent` starting at line `at`."""
    if depth > _MAX_DEPTH:
        raise _Unsure
    items: list[Any] = []
    while at < len(lines):
        line = lines[at]
        match = _ITEM_LINE.fullmatch(line)
        if match is None or len(match.group(1)) != indent:
            line_indent = _indent(line)
            if line_indent < indent or (line_indent == indent and line[indent] != "-"):
                break  # the next key of the mapping this sequence is in
            raise _Unsure  # deeper, `-` alone, `-x`
        rest = match.group(2)
        if not rest or rest[0] == "#":
            raise _Unsure  # an empty item, or a block inside the item
        items.append(_value(rest))
        at += 1
    return items, at


def _value(text: str) -> Any:
    """A value written on one line (after `key: ` or `- `): a scalar or a flow sequence."""
    first = text[0]
    if first == '"':
        close = text.find('"', 1)
        if close > 0 and "\\" not in text and not text[close + 1 :].strip(" "):
            return text[1:close]  # the usual "text", without a regexp
        match = _DOUBLE_VALUE.fullmatch(text)
        if match is None:
            raise _Unsure  # unclosed (continued on the next line), or text after it
        value = match.group(1)
        return _ESCAPE.sub(r"\1", value) if "\\" in value else value
    if first == "'":
        match = _SINGLE_VALUE.fullmatch(text)
        if match is None:
            raise _Unsure
        return match.group(1).replace("''", "'")
    if first == "[":
        return _flow_sequence(text)
    if first in _INDICATORS:
        raise _Unsure
    # A plain scalar: it ends at ` #` (a comment), and `: ` or a final `:`
    # would make it a mapping (or an error).
    cut = text.find(" #")
    if cut >= 0:
        text = text[:cut]
    text = text.rstrip(" ")
    if ": " in text or text[-1] == ":":
        raise _Unsure
    return _plain(text)


def _flow_sequence(text: str) -> list[Any]:
    """`[a, "b", 'c']` on one line; no nesting, no trailing comma."""
    simple = _PLAIN_FLOW.fullmatch(text)
    if simple is not None:
        inside = simple.group(1)
        if not inside.strip(" "):
            return []
        items = []
        for item in inside.split(","):
            item = item.strip(" ")
            if not item or item[0] in _INDICATORS:
                raise _Unsure  # `[a,]`, `[a, , b]`, `[-1]`
            items.append(_plain(item))
        return items
    items = []
    at = 1
    while True:
        match = _FLOW_ITEM.match(text, at)
        if match is None:
            raise _Unsure
        double, single, plain, after = match.groups()
        if double is not None:
            items.append(_ESCAPE.sub(r"\1", double) if "\\" in double else double)
        elif single is not None:
            items.append(single.replace("''", "'"))
        else:
            items.append(_plain(plain.rstrip(" ")))
        at = match.end()
        if after == "]":
            break
    if _FLOW_END.fullmatch(text, at - 1) is None:
        raise _Unsure
    return items


@lru_cache(maxsize=256)
def _is_str(key: str) -> bool:
    """True if the plain scalar `key` is a str: asked of the same few keys
    (`title`, `tags`) in every post, so the answer is kept."""
    return isinstance(_plain(key), str)


def _plain(text: str) -> Any:
    """A plain scalar as PyYAML resolves and SafeConstructor builds it."""
    resolvers = IMPLICIT_RESOLVERS.get(text[:1])
    if resolvers is None:
        return text  # most text: no rule for its first character
    if _ISO_SECONDS.fullmatch(text):
        # The usual 2025-12-13T09:30:00, straight away: the float and int
        # rules tried before the timestamp one cannot match it (no `.`, and
        # a `-` after the first digits), and the timestamp rule does.
        return _iso_seconds(text)
    for tag, regexp in resolvers:
        if regexp.match(text):
            return _construct(tag, text)
    return text


def _construct(tag: str, text: str) -> Any:
    if tag == "tag:yaml.org,2002:null":
        return None
    if tag == "tag:yaml.org,2002:bool":
        return BOOL_VALUES[text.lower()]
    if tag == "tag:yaml.org,2002:timestamp":
        return _timestamp(text)
    if (
        tag == "tag:yaml.org,2002:int"
        and text.isdigit()
        and len(text) <= _MAX_INT
        and (text[0] != "0" or text == "0")  # 017 is octal in YAML 1.1
    ):
        return int(text)
    raise _Unsure  # float, octal, hex, 1_000, 1:20, +1, merge, value, ...


def _iso_seconds(text: str) -> datetime:
    """What _timestamp gives for 2025-12-13T09:30:00 (or with a space), without
    the regexp's groups. (Not fromisoformat: newer Pythons read 24:00 as midnight.)"""
    try:
        return datetime(
            int(text[0:4]), int(text[5:7]), int(text[8:10]),
            int(text[11:13]), int(text[14:16]), int(text[17:19]),
        )
    except ValueError as exc:
        raise _Unsure from exc


def _timestamp(text: str) -> date | datetime:
    """SafeConstructor.construct_yaml_timestamp; an impossible date is left to
    safeyaml, which reports it with its line."""
    match = TIMESTAMP_PARTS.match(text)
    if match is None:
        raise _Unsure
    year, month, day, hour, minute, second, fraction, tz, tz_sign, tz_hour, tz_minute = (
        match.groups()
    )
    try:
        if not hour:
            return date(int(year), int(month), int(day))
        tzinfo = None
        if tz_sign:
            delta = timedelta(hours=int(tz_hour), minutes=int(tz_minute or 0))
            tzinfo = timezone(-delta if tz_sign == "-" else delta)
        elif tz:
            tzinfo = UTC
        return datetime(
            int(year), int(month), int(day), int(hour), int(minute), int(second),
            int(fraction[:6].ljust(6, "0")) if fraction else 0,
            tzinfo=tzinfo,
        )
    except (ValueError, OverflowError) as exc:
        raise _Unsure from exc
