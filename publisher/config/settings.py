"""Load and validate publisher.toml into one frozen Config.

The tables and their keys are declared in tables.py (type, default, bounds,
the work that needs each, its docstring); `declare.bound_problems` checks
every bound, each table's `problems()` what crosses its own keys, and this
module what crosses tables (private paths under the output folder, the
default unsubscribe link). Validation collects every problem and raises once,
each line naming the file, the table and the key, so a user fixes them all in
one pass.

`load` checks what every run needs. The rules for the mail and schedule
settings are next door, in rules.py, asked for only by what uses those
settings: a bad [smtp] setting blocks mail, never the feeds.
"""

from __future__ import annotations

import dataclasses
import difflib
import tomllib
import types
import typing
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

from ..errors import ConfigError
from ..model import Person, Problem, xml_illegal, xml_text
from . import defaults
from .declare import MAX_NUMBER, bound_problems, declared, number_problems
from .tables import (
    TABLES,
    BouncesConfig,
    ContentConfig,
    DeliveryConfig,
    DigestConfig,
    FeedsConfig,
    JekyllConfig,
    OutputConfig,
    ScheduleConfig,
    SiteConfig,
    SmtpConfig,
    StateConfig,
    WebConfig,
    parse_listen,
)

__all__ = [
    "MAX_NUMBER", "TABLES", "BouncesConfig", "Config", "ContentConfig", "DeliveryConfig",
    "DigestConfig", "FeedsConfig", "JekyllConfig", "JekyllSite", "OutputConfig",
    "ScheduleConfig", "SiteConfig", "SmtpConfig", "StateConfig", "WebConfig", "load",
    "parse_listen",
]

DEFAULT_FILE = defaults.DEFAULT_FILE

# (table, TOML key) -> field, where the key is no Python name ([delivery] from).
RENAMED = {
    (table, decl.toml): attr
    for table, cls in TABLES.items()
    for attr, decl in declared(cls)
    if decl.toml
}


@dataclass(frozen=True)
class JekyllSite:
    """What was read from a Jekyll site, carried in the Config so that every
    cache and the run guard change when it does. Built by `jekyll.siteconfig`.

    Plain strings and tuples: the Config stays hashable and cheap to send to
    worker processes; `jekyll.site_settings` parses `settings` once per process.
    """

    root: str  # the site folder, absolute
    settings: str  # the merged _config files, as canonical JSON
    config_files: tuple[str, ...]  # the _config files read, for messages
    authors: str = "{}"  # _data/authors (JSON), which jekyll-feed resolves authors from
    # Names, sizes and mtimes of the _data and _includes files: Liquid reads them.
    stamp: str = ""
    drafts: bool = False  # _drafts are read too ([jekyll] drafts, --drafts, show_drafts)


@dataclass(frozen=True)
class Config:
    # Derived values below are cached_property: they are read once per post.
    file: Path
    site: SiteConfig
    content: ContentConfig = field(default_factory=ContentConfig)
    output: OutputConfig = field(default_factory=OutputConfig)
    feeds: FeedsConfig = field(default_factory=FeedsConfig)
    digest: DigestConfig = field(default_factory=DigestConfig)
    state: StateConfig = field(default_factory=StateConfig)
    delivery: DeliveryConfig = field(default_factory=DeliveryConfig)
    smtp: SmtpConfig = field(default_factory=SmtpConfig)
    schedule: ScheduleConfig = field(default_factory=ScheduleConfig)
    web: WebConfig = field(default_factory=WebConfig)
    jekyll: JekyllConfig = field(default_factory=JekyllConfig)
    # Set when this is a Jekyll site: see `publisher.jekyll.siteconfig.load`.
    jekyll_site: JekyllSite | None = None
    bounces: BouncesConfig = field(default_factory=BouncesConfig)
    # What was repaired on load (control characters removed from a text that
    # goes out), reported with the posts' problems. Follows from the settings
    # above, so it takes no part in comparing or fingerprinting a Config.
    notes: tuple[Problem, ...] = field(default=(), compare=False, repr=False)

    @property
    def root(self) -> Path:
        return self.file.parent

    def resolve(self, relative: str) -> Path:
        """Paths in publisher.toml are relative to the file, not the cwd."""
        return (self.root / relative).resolve()

    @cached_property
    def tz(self) -> ZoneInfo:
        return ZoneInfo(self.site.timezone)

    @cached_property
    def posts_dir(self) -> Path:
        return self.resolve(self.content.posts)

    @cached_property
    def out_dir(self) -> Path:
        return self.resolve(self.output.path)

    @cached_property
    def state_file(self) -> Path:
        return self.resolve(self.state.path)

    @cached_property
    def state_dir(self) -> Path:
        return self.state_file.parent

    @cached_property
    def site_url(self) -> str:
        """The site URL with exactly one trailing slash, for joining."""
        return self.site.url.rstrip("/") + "/"


def load(path: Path | str | None = None) -> Config:
    """Read and validate `path` (default `./publisher.toml`) into a frozen Config.

    Every problem is collected and raised once as a ConfigError, one line per
    problem naming the file, the table and the key. Relative paths in the file
    are resolved against its folder. Rules that only block some work (mail,
    the digest schedule) are in `settings_rules`, checked where that work runs.
    """
    file = Path(path) if path is not None else Path.cwd() / DEFAULT_FILE
    return from_dict(read_toml(file), file.resolve())


def read_toml(file: Path) -> dict[str, Any]:
    """The tables of `file`, unvalidated; ConfigError if it is missing or not TOML."""
    if not file.is_file():
        raise ConfigError(
            f"{file}: no such configuration file",
            hint=f"create {DEFAULT_FILE} with at least [site] url, or pass --config FILE",
        )
    try:
        return tomllib.loads(file.read_text(encoding="utf-8"))
    except UnicodeDecodeError as exc:
        raise ConfigError(f"{file}: not UTF-8 text ({exc.reason} at byte {exc.start})") from exc
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"{file}: invalid TOML: {exc}", hint="see https://toml.io") from exc


def from_dict(
    raw: dict[str, Any],
    file: Path,
    origins: dict[tuple[str, str], tuple[str, str]] | None = None,
) -> Config:
    """The Config of the tables `raw` (as publisher.toml holds them) read from
    `file`. `origins` names, for a (table, key) whose value was taken from
    another file, that file's name and key (a Jekyll site's _config.yml)."""
    problems: list[str] = []
    tables: dict[str, Any] = {}
    for name, value in raw.items():
        if name not in TABLES:
            problems.append(f"{file.name}: [{name}]: unknown table{_suggest(name, TABLES)}")
            continue
        if not isinstance(value, dict):
            problems.append(f"{file.name}: {name}: expected a table [{name}], got {_kind(value)}")
            continue
        tables[name] = _build_table(name, TABLES[name], value, file, problems)
    if "site" not in tables:
        tables["site"] = SiteConfig()
    for name in TABLES:
        if name in tables:
            problems += [f"{file.name}: {p}" for p in _table_problems(tables[name], name)]
    _default_unsubscribe_url(tables)
    _check_private_paths(tables, file, problems)
    if problems:
        raise ConfigError(
            "\n".join(problems),
            hint=f"fix {file} and run `publisher check`",
        )
    notes = _clean_texts(tables, file, origins or {})
    return Config(file=file, **tables, notes=notes)


# The settings whose text goes out as it is, into the feeds, the mail and the
# web pages: what XML cannot carry (a `"\u001b"` escape) is removed from them
# here, once for every output, as it is from a post's text (render.finish).
TEXT_SETTINGS = {
    table: names
    for table, cls in TABLES.items()
    if (names := tuple(attr for attr, decl in declared(cls) if decl.text))
}


def _clean_texts(
    tables: dict[str, Any], file: Path, origins: dict[tuple[str, str], tuple[str, str]]
) -> tuple[Problem, ...]:
    """Remove what XML cannot carry from the TEXT_SETTINGS in `tables` (in
    place); one warning per file it came from, naming the keys."""
    keys: dict[str, list[str]] = {}
    codes: dict[str, set[str]] = {}
    for table, names in TEXT_SETTINGS.items():
        values = tables.get(table)
        if values is None:
            continue
        changed = {}
        for name in names:
            value = getattr(values, name)
            found = xml_illegal(_joined(value))
            if not found:
                continue
            changed[name] = _cleaned(value)
            where, key = origins.get((table, name), (file.name, f"[{table}] {name}"))
            keys.setdefault(where, []).append(key)
            codes.setdefault(where, set()).update(found.split(", "))
        if changed:
            tables[table] = dataclasses.replace(values, **changed)
    return tuple(
        Problem(
            where,
            f"removed control characters not allowed in XML ({', '.join(sorted(codes[where]))}) "
            f"from {', '.join(names)}; remove them there",
            severity="warning",
        )
        for where, names in keys.items()
    )


def _joined(value: Any) -> str:
    if isinstance(value, Person):
        return f"{value.name}\n{value.email}\n{value.uri}"
    if isinstance(value, tuple):
        return "\n".join(value)
    return value if isinstance(value, str) else ""


def _cleaned(value: Any) -> Any:
    if isinstance(value, Person):
        return Person(xml_text(value.name), xml_text(value.email), xml_text(value.uri))
    if isinstance(value, tuple):
        return tuple(xml_text(v) for v in value)
    return xml_text(value)


def _build_table(
    name: str, cls: type, values: dict[str, Any], file: Path, problems: list[str]
) -> Any:
    hints = typing.get_type_hints(cls)
    fields = {f.name for f in dataclasses.fields(cls)}
    aliases = {key: attr for (table, key), attr in RENAMED.items() if table == name}
    kwargs: dict[str, Any] = {}
    for key, value in values.items():
        attr = aliases.get(key, key)
        if attr not in fields:
            problems.append(
                f"{file.name}: [{name}] {key}: unknown key{_suggest(key, fields | set(aliases))}"
            )
            continue
        converted = _convert(value, hints[attr])
        if converted is _BAD:
            problems.append(
                f"{file.name}: [{name}] {key}: expected {_describe(hints[attr])}, "
                f"got {_kind(value)} {value!r}"
            )
            continue
        kwargs[attr] = converted
    return cls(**kwargs)


_BAD = object()


def _convert(value: Any, hint: Any) -> Any:
    if hint is Person or (isinstance(hint, types.UnionType) and Person in typing.get_args(hint)):
        if isinstance(value, str):
            return Person(name=value)
        if (
            isinstance(value, dict)
            and set(value) <= {"name", "email", "uri"}
            and isinstance(value.get("name"), str)
            and all(isinstance(v, str) for v in value.values())
        ):
            return Person(**value)
        return _BAD
    if hint is bool:
        return value if isinstance(value, bool) else _BAD
    if hint is int:
        return value if isinstance(value, int) and not isinstance(value, bool) else _BAD
    if hint is float:
        if isinstance(value, (int, float)) and not isinstance(value, bool):
            return float(value)
        return _BAD
    if hint is str:
        return value if isinstance(value, str) else _BAD
    names = _is_names(hint)
    if names and isinstance(value, str):
        return value
    if names or hint == tuple[str, ...]:
        if isinstance(value, list) and all(isinstance(v, str) for v in value):
            return tuple(value)  # a tuple: the Config stays hashable
        return _BAD
    return _BAD


def _is_names(hint: Any) -> bool:
    """`str | tuple[str, ...]`: a keyword such as "all", or a list of names."""
    return isinstance(hint, types.UnionType) and set(typing.get_args(hint)) == {
        str,
        tuple[str, ...],
    }


def _describe(hint: Any) -> str:
    if hint is int:
        return "an integer"
    if hint is float:
        return "a number"
    if hint is bool:
        return "true or false"
    if hint is str:
        return "a string"
    if _is_names(hint):
        return "a string or an array of strings"
    if hint == tuple[str, ...]:
        return "an array of strings"
    return 'a name or a table {name = "…", email = "…"}'


def _kind(value: Any) -> str:
    return {
        bool: "a boolean",
        int: "an integer",
        float: "a number",
        str: "a string",
        list: "an array",
        dict: "a table",
    }.get(type(value), type(value).__name__)


def _suggest(word: str, choices: Any) -> str:
    close = difflib.get_close_matches(word, list(choices), n=1)
    return f" (did you mean '{close[0]}'?)" if close else ""


def _table_problems(table: Any, name: str) -> list[str]:
    """A table's own rules, then its bounds and numbers, as "[table] key: ..."."""
    own = table.problems() if hasattr(table, "problems") else []
    return own + bound_problems(table, name, "load") + number_problems(table, name)


def _default_unsubscribe_url(tables: dict[str, Any]) -> None:
    """[delivery] unsubscribe_url defaults to `<[web] base_url>/unsubscribe`."""
    web: WebConfig | None = tables.get("web")
    url = web.unsubscribe_url() if web is not None else ""
    delivery: DeliveryConfig = tables.get("delivery", DeliveryConfig())
    if url and not delivery.unsubscribe_url:
        tables["delivery"] = dataclasses.replace(delivery, unsubscribe_url=url)


def _check_private_paths(tables: dict[str, Any], file: Path, problems: list[str]) -> None:
    """Nothing private under the public output folder, and that folder is not `/`."""
    f = file.name
    root = file.parent
    output: OutputConfig = tables.get("output", OutputConfig())
    if "\x00" in output.path:
        problems.append(f"{f}: [output] path: contains a NUL character")
        return
    out = (root / output.path).resolve()
    if out == Path(out.anchor):
        problems.append(
            f"{f}: [output] path: {output.path!r} is the root of the file system; "
            'use a folder of its own, such as "out"'
        )
        return
    private = [
        ("state", "path", tables.get("state", StateConfig()).path,
         "the subscriber list and the send log would be uploaded"),
        ("delivery", "outbox", tables.get("delivery", DeliveryConfig()).outbox,
         "messages with addresses and personal links would be uploaded"),
    ]
    for table_name, key, value, why in private:
        if "\x00" in value:
            problems.append(f"{f}: [{table_name}] {key}: contains a NUL character")
            continue
        where = (root / value).resolve()
        if where == out or out in where.parents:
            problems.append(
                f"{f}: [{table_name}] {key}: {value!r} is inside the output folder "
                f"{output.path!r}: {why}; keep it outside (the default is "
                f"{getattr(StateConfig() if table_name == 'state' else DeliveryConfig(), key)!r})"
            )
