"""Front matter YAML with bounds: hostile input costs a message, never the run.

PyYAML's safe loader constructs no objects, but it still trusts the size of
what it builds. This loader adds the checks a file from anyone needs, each
raising a `yaml.YAMLError` (so the post is skipped with a message naming the
line, as for any YAML mistake):

- **Alias bombs** ("billion laughs": `&a [x, x]`, `&b [*a, *a]`, ...). Aliases
  share nodes, so the loaded value is small, but anything that walks it (a
  `str()` of an `excerpt`, a feed writer) meets every copy: 2.4-8.5 GB for a
  1 kB file. The node graph is measured before it is constructed, and a
  document whose aliases add more than `MAX_ALIAS_NODES` nodes is refused, as
  is one that refers to itself.
- **Size**: front matter over `MAX_FRONT_MATTER` characters is refused before
  parsing (libyaml already refuses nesting deeper than 1,000 levels).
- **Huge numbers**: an integer of more than `MAX_INT_DIGITS` digits (Python
  refuses to print one of 4,300) is refused; write it in quotes if it is text.
- **Impossible timestamps** (`+99:00`, day 31 of February) are refused with
  the line, not raised from deep inside PyYAML.

And one repair: characters XML 1.0 forbids (control characters, lone
surrogates, U+FFFE/U+FFFF) written as YAML escapes (`"a\\eb"`) are removed
from every string, and reported as a warning with the line, as the raw ones in
the file are. A feed writer (lxml) would otherwise refuse the whole feed.

Most front matter never reaches this loader: under the size bound, `plainyaml`
reads the simple kind by hand first (the same result, type for type, several
times faster) and declines the rest, which comes here: aliases, long numbers,
impossible dates and characters to remove among it.
"""

from __future__ import annotations

import re
from typing import Any

import yaml
from frontmatter.default_handlers import YAMLHandler
from yaml.constructor import ConstructorError
from yaml.nodes import MappingNode, Node, SequenceNode

from . import plainyaml

MAX_FRONT_MATTER = 1_000_000  # characters
MAX_ALIAS_NODES = 100_000  # nodes that aliases may add, over the document's own
MAX_INT_DIGITS = 100
# What XML 1.0 forbids (tab, newline and carriage return are allowed), and
# lone surrogates, which no UTF-8 file can hold but a YAML "\ud800" makes.
ILLEGAL = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\ud800-\udfff\ufffe\uffff]")

Notes = list[tuple[int, str]]  # (file line, message) of each repair made

_Base: Any = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
# Read the simple front matter most posts have by hand first (plainyaml: the
# same result, several times faster); tests turn it off to compare.
PLAIN_FIRST = True


class FrontMatterTooBig(yaml.YAMLError):
    """Front matter over MAX_FRONT_MATTER characters."""

    def __init__(self, size: int) -> None:
        super().__init__(
            f"front matter is {size:,} characters long, more than {MAX_FRONT_MATTER:,}"
        )
        self.problem = str(self)


class BoundedLoader(_Base):  # type: ignore[misc]
    """The safe loader (libyaml's when there is one) with the bounds above."""

    def __init__(self, stream: str) -> None:
        super().__init__(stream)
        self.notes: Notes = []

    def construct_document(self, node: Node) -> Any:
        _check_expansion(node)
        return super().construct_document(node)

    def construct_scalar(self, node: Node) -> Any:
        value = super().construct_scalar(node)
        if isinstance(value, str) and ILLEGAL.search(value):
            codes = ", ".join(sorted({f"U+{ord(c):04X}" for c in ILLEGAL.findall(value)}))
            # Marks count from the line after the opening `---`, from zero;
            # +1 makes the file line, as for YAML errors (posts._yaml_problem).
            self.notes.append(
                (node.start_mark.line + 1,
                 f"removed control characters not allowed in XML ({codes})")
            )
            value = ILLEGAL.sub("", value)
        return value

    def construct_yaml_int(self, node: Node) -> Any:
        text = str(node.value)
        digits = sum(c.isalnum() for c in text)
        if digits > MAX_INT_DIGITS:
            raise ConstructorError(
                None, None,
                f"a number of {digits:,} digits is too large (at most {MAX_INT_DIGITS}); "
                "put it in quotes if it is text",
                node.start_mark,
            )
        return super().construct_yaml_int(node)

    def construct_yaml_timestamp(self, node: Node) -> Any:
        try:
            return super().construct_yaml_timestamp(node)
        except (ValueError, OverflowError) as exc:
            raise ConstructorError(
                None, None, f"{node.value!r} is not a valid date: {exc}", node.start_mark
            ) from exc


BoundedLoader.add_constructor("tag:yaml.org,2002:int", BoundedLoader.construct_yaml_int)
BoundedLoader.add_constructor(
    "tag:yaml.org,2002:timestamp", BoundedLoader.construct_yaml_timestamp
)


def _check_expansion(root: Node) -> None:
    """Refuse a node graph whose aliases multiply it, or that contains itself.

    Counts each node once as written (`own`) and as every reader will walk it
    (`expanded`, each alias counted in full), iteratively: no recursion limit
    to hit, and linear in the distinct nodes.
    """
    expanded: dict[int, int] = {}
    own = 0
    on_path: set[int] = set()
    stack: list[tuple[Node, bool]] = [(root, False)]
    while stack:
        node, children_done = stack.pop()
        key = id(node)
        if children_done:
            on_path.discard(key)
            total = 1 + sum(expanded[id(c)] for c in _children(node))
            expanded[key] = total
            if total - own > MAX_ALIAS_NODES:
                _refuse(node, f"aliases (*name) expand this value to more than "
                              f"{MAX_ALIAS_NODES:,} values (an alias bomb?)")
            continue
        if key in expanded:
            continue  # an alias of a node already measured
        if key in on_path:
            _refuse(node, "an alias (*name) refers to the value that contains it")
        own += 1
        on_path.add(key)
        stack.append((node, True))
        for child in _children(node):
            if id(child) not in expanded:
                stack.append((child, False))


def _children(node: Node) -> list[Node]:
    if isinstance(node, SequenceNode):
        return list(node.value)
    if isinstance(node, MappingNode):
        return [part for pair in node.value for part in pair]
    return []


def _refuse(node: Node, why: str) -> None:
    raise ConstructorError(
        None, None, f"refused: {why}", node.start_mark
    )


class Handler(YAMLHandler):  # type: ignore[misc]
    """python-frontmatter's YAML handler, loading through BoundedLoader."""

    def load(self, fm: str, **kwargs: object) -> Any:
        return self.load_with_notes(fm)[0]

    def load_with_notes(self, fm: str) -> tuple[Any, Notes]:
        """The data, and the repairs made to it (control characters removed)."""
        if len(fm) > MAX_FRONT_MATTER:
            raise FrontMatterTooBig(len(fm))
        if PLAIN_FIRST:
            data = plainyaml.parse(fm)
            if data is not None:
                return data, []  # plainyaml declines text with anything to repair
        loader = BoundedLoader(fm)
        try:
            return loader.get_single_data(), loader.notes
        except (ValueError, OverflowError, RecursionError, TypeError) as exc:
            # Whatever else PyYAML's constructors raise on strange input.
            raise yaml.YAMLError(f"front matter cannot be read: {exc}") from exc
        finally:
            loader.dispose()
