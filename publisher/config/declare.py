"""How a setting is declared, and the one check that reads the declarations.

A table of publisher.toml is a frozen dataclass (tables.py); each of its fields
is one key, declared once with `setting(default, doc, needs=..., low=...)`:
its type is the field's annotation, and what `setting` keeps in the field's
metadata (a `Setting`) says the rest: the docstring, which work needs it, its
bounds, its choices. `bound_problems` turns a table's values and their
declarations into the messages a user sees, so a bound lives in one place.
(mkdocs' `config_options` does this with a descriptor class per option; a
field's metadata is enough here.)
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any, Literal, TypeVar

T = TypeVar("T")

# The work a setting is for: `publish` (and build, check, the digest it issues),
# `send` (mail to subscribers), `serve` (the list's web pages), `run` (the
# service's schedule), `bounces` (reading bounce reports).
Work = Literal["publish", "send", "serve", "run", "bounces"]

# Past this every number overflows something (the clock, a timer, a
# timedelta): checked for every numeric key, whatever its own bounds.
MAX_NUMBER = 1_000_000_000


@dataclass(frozen=True)
class Setting:
    """What a key is for and which values it takes, beside its type and default."""

    doc: str
    needs: Work
    # The smallest value allowed (`above`: and not that value itself); a number,
    # or the name of another key of the table whose value it is.
    low: float | str | None = None
    above: bool = False
    high: float | None = None  # the largest value allowed
    # The bounds in words for the message ("must be <rule>, got <value>");
    # made from the numbers when "".
    rule: str = ""
    # The whole message after the key, when it is not "must be <rule>, got <value>".
    says: str = ""
    # A safety limit below MAX_NUMBER past which what uses the value overflows.
    cap: int | None = None
    choices: tuple[str, ...] = ()  # the only values a string may take
    required: bool = False  # no usable default: the work that needs it refuses ""
    toml: str = ""  # the key in publisher.toml, when it is not the field's name
    # Goes out as written (feeds, mail, pages): what XML cannot carry is removed on load.
    text: bool = False
    # A file the feeds write in the output folder: "required" never "", "optional" may be.
    out_file: Literal["", "required", "optional"] = ""

    def words(self) -> str:
        """The allowed values in words: "at least 1", "between 1 and 65535"."""
        if self.rule:
            return self.rule
        if self.high is not None:
            return f"between {self.low} and {self.high}"
        if self.above:
            return "positive" if self.low == 0 else f"more than {self.low}"
        return "0 or more" if self.low == 0 else f"at least {self.low}"


def setting(default: T, doc: str, *, needs: Work, **rules: Any) -> T:
    """A table field for one key: `default`, and its `Setting` as the field's metadata."""
    return field(default=default, metadata={"setting": Setting(doc, needs, **rules)})


def declared(cls_or_table: Any) -> Iterator[tuple[str, Setting]]:
    """(field name, Setting) of each key of a table class or table, in order."""
    for item in dataclasses.fields(cls_or_table):
        yield item.name, item.metadata["setting"]


def key_of(name: str, decl: Setting) -> str:
    """The key as publisher.toml writes it."""
    return decl.toml or name


def bound_problems(table: Any, name: str, work: Literal["load", "send"]) -> list[str]:
    """"[table] key: ..." for each value of `table` (named `name`) outside its
    declared choices or bounds. On `load` every key's choices (a wrong word is
    a typo whatever needs it) and the bounds of the keys not for sending mail;
    on `send` the bounds of those that are: a bad [smtp] number blocks the
    mail, never the feeds. Non-finite and huge numbers are `number_problems`'."""
    problems = []
    for attr, decl in declared(table):
        value = getattr(table, attr)
        text = _not_a_choice(value, decl) if work == "load" else ""
        if not text and (decl.needs == "send") == (work == "send"):
            text = _out_of_bounds(table, value, decl)
        if text:
            problems.append(f"[{name}] {key_of(attr, decl)}: {text}")
    return problems


def _not_a_choice(value: Any, decl: Setting) -> str:
    if decl.choices and isinstance(value, str) and value not in decl.choices:
        quoted = [f'"{c}"' for c in decl.choices]
        return f"must be {', '.join(quoted[:-1])} or {quoted[-1]}, got {value!r}"
    return ""


def _out_of_bounds(table: Any, value: Any, decl: Setting) -> str:
    if not _finite_number(value):
        return ""
    low = getattr(table, decl.low) if isinstance(decl.low, str) else decl.low
    too_low = low is not None and (value <= low if decl.above else value < low)
    if too_low or (decl.high is not None and value > decl.high):
        return decl.says or f"must be {decl.words()}, got {value!r}"
    return ""


def number_problems(table: Any, name: str) -> list[str]:
    """Numbers that would overflow what uses them: not finite (TOML allows nan
    and inf), past MAX_NUMBER, or past the key's own `cap`."""
    problems = []
    for attr, decl in declared(table):
        value = getattr(table, attr)
        where = f"[{name}] {key_of(attr, decl)}"
        if isinstance(value, float) and not math.isfinite(value):
            problems.append(f"{where}: must be a finite number, got {value!r}")
        elif _finite_number(value) and abs(value) > MAX_NUMBER:
            problems.append(f"{where}: {value!r} is out of range (at most {MAX_NUMBER:,})")
        elif decl.cap is not None and _finite_number(value) and value > decl.cap:
            problems.append(f"{where}: at most {decl.cap:,}, got {value!r}")
    return problems


def _finite_number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(
        value
    )
