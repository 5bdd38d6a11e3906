"""The README says what the code does: its key table is the schema, its
command table the CLI (after sqlite-utils' test_docs.py)."""

from __future__ import annotations

import dataclasses
import json
import re
import typing
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import click
import pytest
from click.testing import CliRunner

from publisher.cli import cli
from publisher.config import declare as config_declare
from publisher.config import rules as settings_rules
from publisher.config import settings as config_mod
from publisher.config.declare import key_of
from publisher.errors import ConfigError

README = Path(__file__).parent.parent / "README.md"


def table_rows(header: str) -> list[list[str]]:
    """The cells of each row of the README table that starts with `header`."""
    lines = README.read_text(encoding="utf-8").splitlines()
    start = lines.index(header)
    rows = []
    for line in lines[start + 2 :]:
        if not line.startswith("|"):
            break
        # A cell may hold an escaped pipe (`a\|b`); split only on bare ones.
        cells = re.split(r"(?<!\\)\|", line.strip()[1:-1])
        rows.append([cell.strip().replace("\\|", "|") for cell in cells])
    return rows


# --- [table] key | default | meaning ------------------------------------------


def documented_keys() -> dict[str, str]:
    """`[table] key` -> the default as the README writes it, one entry per key."""
    documented: dict[str, str] = {}
    for keys_cell, default_cell, _meaning in table_rows("| key | default | meaning |"):
        keys = re.findall(r"`([^`]*)`", keys_cell)
        assert keys and keys_cell == ", ".join(f"`{k}`" for k in keys), (
            f"README key cell {keys_cell!r}: write `[table] key`, `other_key`, ..."
        )
        table = re.fullmatch(r"\[(\w+)\] \w+", keys[0])
        assert table, f"README key cell {keys_cell!r}: the first key needs its [table]"
        names = [keys[0], *(f"[{table[1]}] {k}" for k in keys[1:])]
        defaults = re.findall(r"`[^`]*`|required|none", default_cell)
        assert default_cell == ", ".join(defaults) and len(defaults) == len(names), (
            f"README default cell {default_cell!r} does not give one default per key in "
            f"{keys_cell!r}"
        )
        for name, default in zip(names, defaults, strict=True):
            assert name not in documented, f"README documents {name} twice"
            documented[name] = default
    return documented


def schema_keys() -> dict[str, Any]:
    """`[table] key` -> default, for every field of every table, under its TOML name."""
    toml_name = {(table, attr): key for (table, key), attr in config_mod.RENAMED.items()}
    return {
        f"[{table}] {toml_name.get((table, f.name), f.name)}": f.default
        for table, cls in config_mod.TABLES.items()
        for f in dataclasses.fields(cls)
    }


def required_keys(tmp_path: Path) -> set[str]:
    """The keys whose rules say "required" when left at their default."""
    file = tmp_path / "publisher.toml"
    with pytest.raises(ConfigError) as info:
        config_mod.from_dict({}, file)
    lines = info.value.message.splitlines()
    config = config_mod.from_dict({"site": {"url": "https://example.org"}}, file)
    lines += [p.message for p in settings_rules.mail_problems(config)]
    return {m[1] for line in lines if (m := re.match(r"[^:]+: (\[\w+\] \w+): required", line))}


def render(value: Any) -> str:
    if value is None:
        return "none"
    if isinstance(value, bool):
        return f"`{str(value).lower()}`"
    if isinstance(value, str):
        return "`" + json.dumps(value, ensure_ascii=False) + "`"
    if isinstance(value, tuple):  # a TOML array, kept as a tuple so Config stays hashable
        return "`" + json.dumps(list(value), ensure_ascii=False) + "`"
    return f"`{value!r}`"


def test_the_key_table_is_the_schema(tmp_path: Path) -> None:
    documented, schema = documented_keys(), schema_keys()
    missing = sorted(set(schema) - set(documented))
    extra = sorted(set(documented) - set(schema))
    assert not missing, f"keys missing from the README's key table: {missing}"
    assert not extra, f"keys in the README's key table but not in config.py: {extra}"
    required = required_keys(tmp_path)
    assert "[site] url" in required
    wrong = {
        key: (documented[key], expected)
        for key, default in schema.items()
        if documented[key] != (expected := "required" if key in required else render(default))
    }
    assert not wrong, f"README default differs from the code (README, code): {wrong}"


def test_defaults_render_as_toml() -> None:
    # The rendering the key table is held to: what a user would write in the file.
    assert render("feed.xml") == '`"feed.xml"`'
    assert render(1_000_000) == "`1000000`"
    assert render(30.0) == "`30.0`"
    assert render(None) == "none"


# --- command | what it does -------------------------------------------------------


def commands_of(group: click.Group) -> dict[str, click.Command]:
    """A group's commands by name; the main group imports each command's module on first use."""
    ctx = click.Context(group)
    found = {name: group.get_command(ctx, name) for name in group.list_commands(ctx)}
    return {name: command for name, command in found.items() if command is not None}


def cli_commands(group: click.Group = cli, prefix: tuple[str, ...] = ()) -> Iterator[str]:
    """Every command a user can run, as "sub sub"; a group counts through its commands."""
    for name, command in commands_of(group).items():
        if command.hidden:
            continue
        if isinstance(command, click.Group):
            yield from cli_commands(command, (*prefix, name))
        else:
            yield " ".join((*prefix, name))


def readme_commands() -> set[str]:
    """Commands in the README's table: `publisher subscribers add|remove` names two."""
    found: set[str] = set()
    for cell, _what in table_rows("| command | what it does |"):
        usage = re.fullmatch(r"`publisher ([^`]*)`", cell)
        assert usage, f"README command cell {cell!r} should be `publisher COMMAND ...`"
        path: list[str] = []
        for word in usage[1].split():
            if not re.fullmatch(r"[a-z][a-z-]*(\|[a-z][a-z-]*)*", word):
                break  # an option or an ARGUMENT: the command ends here
            path.append(word)
        *parents, last = path
        assert "|" not in " ".join(parents), f"README command cell {cell!r}"
        found.update(" ".join([*parents, alt]) for alt in last.split("|"))
    return found


def test_the_command_table_is_the_cli() -> None:
    commands, documented = set(cli_commands()), readme_commands()
    assert "subscribers add" in commands and "publish" in commands
    assert not commands - documented, (
        f"commands missing from the README's command table: {sorted(commands - documented)}"
    )
    assert not documented - commands, (
        f"README's command table names commands the CLI lacks: {sorted(documented - commands)}"
    )


@pytest.mark.parametrize("command", sorted(cli_commands()))
def test_every_command_has_help_text(command: str) -> None:
    group: click.Group = cli
    for name in command.split()[:-1]:
        sub = commands_of(group)[name]
        assert isinstance(sub, click.Group)
        assert (sub.help or "").strip(), f"`publisher {name}` has no --help text"
        group = sub
    leaf = commands_of(group)[command.split()[-1]]
    assert (leaf.help or "").strip(), f"`publisher {command}` has no --help text"
    result = CliRunner().invoke(cli, [*command.split(), "--help"])
    assert result.exit_code == 0, result.output
    first_line = " ".join((leaf.help or "").strip().splitlines()[0].split())
    assert first_line in " ".join(result.output.split())


def test_required_keys_are_declared_so(tmp_path: Path) -> None:
    # A key the README calls required is declared `required`, and the reverse.
    declared = {
        f"[{table}] {key_of(attr, decl)}"
        for table, cls in config_mod.TABLES.items()
        for attr, decl in config_declare.declared(cls)
        if decl.required
    }
    assert declared == required_keys(tmp_path)


def test_every_key_says_what_it_is_for() -> None:
    works = set(typing.get_args(config_declare.Work))
    for table, cls in config_mod.TABLES.items():
        for attr, decl in config_declare.declared(cls):
            assert decl.doc.strip(), f"[{table}] {attr} has no docstring"
            assert decl.needs in works, f"[{table}] {attr} needs {decl.needs!r}"
