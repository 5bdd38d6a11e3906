"""Load the configuration of a Jekyll site: `_config.yml` first, publisher.toml on top.

A site is a Jekyll site when publisher.toml says `[jekyll] site = "PATH"`, or
when there is no publisher.toml and the current folder has a `_config.yml`.
Its `_config` files give the defaults of every setting jekyll-feed would use
(url and baseurl, title, description, author, lang, timezone, permalink,
excerpt_separator, feed.path, feed.posts_limit, feed.excerpt_only,
feed.categories, feed.tags, feed.icon, feed.logo); a key set in
publisher.toml wins. The rest (front matter defaults, markdown_ext,
collections_dir, exclude, `_data/authors`) travels in `Config.jekyll_site`.
"""

from __future__ import annotations

import dataclasses
import json
import os
import tomllib
from collections.abc import Sequence
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from ..config import settings as config_mod
from ..config.settings import Config, JekyllSite
from ..errors import ConfigError
from .rules import deep_merge

CONFIG_NAMES = ("_config.yml", "_config.yaml", "_config.toml")


def is_jekyll_site(folder: Path) -> bool:
    return any((folder / name).is_file() for name in CONFIG_NAMES)


def load(
    path: Path | None = None,
    *,
    jekyll_config: Sequence[str] = (),
    drafts: bool = False,
) -> Config:
    """The Config for `path` (default ./publisher.toml), reading the Jekyll site it
    names, or the current folder's when it is a Jekyll site without publisher.toml.

    `jekyll_config` replaces the list of `_config` files read (as `jekyll build
    --config a.yml,b.yml`); `drafts` publishes `_drafts` too. Raises ConfigError
    naming the file and key of each problem.
    """
    file = path if path is not None else Path.cwd() / config_mod.DEFAULT_FILE
    if path is None and not file.is_file() and is_jekyll_site(Path.cwd()):
        root = Path.cwd().resolve()
        toml: dict[str, Any] = {}
        file = root / next(n for n in CONFIG_NAMES if (root / n).is_file())
    else:
        toml = config_mod.read_toml(file)
        file = file.resolve()
        wanted = toml.get("jekyll")
        site = wanted.get("site") if isinstance(wanted, dict) else None
        if not site or not isinstance(site, str):
            if jekyll_config or drafts:
                raise ConfigError(
                    f"{file.name}: --jekyll-config and --drafts need a Jekyll site",
                    hint='add [jekyll] site = "." (the folder with _config.yml)',
                )
            return config_mod.from_dict(toml, file)
        root = (file.parent / site).resolve()
        if not is_jekyll_site(root):
            raise ConfigError(
                f"{file.name}: [jekyll] site: {root} has no _config.yml",
                hint="point it at the folder of your Jekyll site (where _config.yml is)",
            )
    found = toml.get("jekyll")
    table: dict[str, Any] = found if isinstance(found, dict) else {}
    listed = list(jekyll_config) or [str(c) for c in table.get("config", ()) or ()]
    names = _config_files(root, listed)
    settings = _read_settings(names)
    drafts = drafts or bool(table.get("drafts")) or bool(settings.get("show_drafts"))
    derived = _derived(settings, root, names[0].name if names else "_config.yml", toml, drafts)
    merged = _toml_over(derived, toml, drafts)
    config = config_mod.from_dict(merged, file, _origins(derived, toml, names))
    site = JekyllSite(
        root=str(root),
        settings=json.dumps(settings, sort_keys=True, default=str, ensure_ascii=False),
        config_files=tuple(str(n) for n in names),
        authors=json.dumps(_authors(root, settings), sort_keys=True, default=str),
        stamp=_stamp(root, settings),
        drafts=drafts,
    )
    return dataclasses.replace(config, jekyll_site=site)


def _toml_over(
    derived: dict[str, dict[str, Any]], toml: dict[str, Any], drafts: bool
) -> dict[str, Any]:
    """publisher.toml's tables over those the _config files imply, key by key."""
    merged: dict[str, Any] = {key: dict(value) for key, value in derived.items()}
    for key, value in toml.items():
        if isinstance(value, dict) and isinstance(merged.get(key), dict):
            merged[key] = {**merged[key], **value}
        else:
            merged[key] = value
    if drafts:
        merged.setdefault("jekyll", {})["drafts"] = True
    return merged


# publisher.toml keys taken from a _config file, and the key they were read from.
FROM_JEKYLL = {
    ("site", "title"): "title",
    ("site", "description"): "description",
    ("site", "author"): "author",
    ("site", "language"): "lang",
    ("feeds", "categories"): "feed.categories",
    ("feeds", "tags"): "feed.tags",
}


def _origins(
    derived: dict[str, dict[str, Any]], toml: dict[str, Any], names: list[Path]
) -> dict[tuple[str, str], tuple[str, str]]:
    """Where each setting taken from a _config file came from, for messages
    (`from_dict`): the first file, as for the other messages about them."""
    name = names[0].name if names else "_config.yml"
    origins = {}
    for (table, key), jekyll_key in FROM_JEKYLL.items():
        given = toml.get(table)
        if key in derived.get(table, {}) and not (isinstance(given, dict) and key in given):
            origins[(table, key)] = (name, jekyll_key)
    return origins


def _config_files(root: Path, listed: list[str]) -> list[Path]:
    if not listed:
        return [next(root / n for n in CONFIG_NAMES if (root / n).is_file())]
    files = []
    for entry in listed:
        for name in entry.split(","):
            name = name.strip()
            if not name:
                continue
            candidate = Path(name)
            if not candidate.is_absolute():
                here = Path.cwd() / candidate
                candidate = here if here.is_file() else root / candidate
            if not candidate.is_file():
                raise ConfigError(
                    f"Jekyll configuration file {name} not found "
                    f"(looked in {Path.cwd()} and {root})",
                    hint="list _config files separated by commas, as `jekyll build --config`",
                )
            files.append(candidate.resolve())
    return files


def _read_settings(files: list[Path]) -> dict[str, Any]:
    """The _config files merged in order (later files win, mappings merge)."""
    import yaml  # noqa: PLC0415  # lazy: PyYAML, only for a Jekyll site; every command loads this module

    merged: dict[str, Any] = {}
    for file in files:
        try:
            text = file.read_text(encoding="utf-8")
            data = tomllib.loads(text) if file.suffix == ".toml" else yaml.safe_load(text)
        except (OSError, UnicodeDecodeError) as exc:
            raise ConfigError(f"{file}: cannot read: {exc}") from exc
        except (yaml.YAMLError, tomllib.TOMLDecodeError) as exc:
            mark = getattr(exc, "problem_mark", None)
            where = f"{file.name}:{mark.line + 1}" if mark is not None else file.name
            raise ConfigError(
                f"{where}: not valid YAML: {getattr(exc, 'problem', None) or exc}",
                hint="fix it; `jekyll build` cannot read it either",
            ) from exc
        if data is None:
            continue
        if not isinstance(data, dict):
            raise ConfigError(f"{file.name}: must be a mapping of settings, not a list or value")
        merged = deep_merge(merged, data)
    return merged


def _text(value: Any) -> str:
    return "" if value is None else " ".join(str(value).split())


def _derived(
    settings: dict[str, Any], root: Path, name: str, toml: dict[str, Any], drafts: bool
) -> dict[str, dict[str, Any]]:
    """publisher.toml tables as the _config files imply them; bad values are
    reported against the _config file unless publisher.toml sets the key."""
    problems: list[str] = []
    found = settings.get("feed")
    feed: dict[str, Any] = found if isinstance(found, dict) else {}
    site = _site_table(settings, feed, name, toml, problems)
    content = _content_table(settings, root)
    feeds = _feeds_table(feed, name, toml, problems)
    destination = settings.get("destination")
    out = root / (str(destination) if isinstance(destination, str) and destination else "_site")
    if problems:
        raise ConfigError(
            "\n".join(problems), hint=f"fix {name} (or set the key in publisher.toml)"
        )
    jekyll: dict[str, Any] = {"site": str(root)}
    if drafts:
        jekyll["drafts"] = True
    return {
        "site": site,
        "content": content,
        "feeds": feeds,
        "output": {"path": str(out)},
        "jekyll": jekyll,
    }


def _given(toml: dict[str, Any], table: str, key: str) -> bool:
    """True if publisher.toml sets [table] key itself (it wins over _config)."""
    value = toml.get(table)
    return isinstance(value, dict) and key in value


def _site_table(
    settings: dict[str, Any],
    feed: dict[str, Any],
    name: str,
    toml: dict[str, Any],
    problems: list[str],
) -> dict[str, Any]:
    """[site]: url (with baseurl), title, description, author, language,
    timezone, and the feed's icon and logo."""
    site: dict[str, Any] = {}
    url = _text(settings.get("url")).rstrip("/")
    baseurl = _text(settings.get("baseurl")).strip("/")
    if not _given(toml, "site", "url"):
        parts = urlsplit(url)
        if not url:
            problems.append(
                f"{name}: url: not set; jekyll-feed needs it too (for absolute links): "
                'add url: "https://your.site" to it, or [site] url to publisher.toml'
            )
        elif parts.scheme not in ("http", "https") or not parts.netloc:
            problems.append(f"{name}: url: must be an absolute http(s) URL, got {url!r}")
        site["url"] = url + ("/" + baseurl if baseurl else "")
    title = settings.get("title") or settings.get("name")
    if title:
        site["title"] = _text(title)
    if settings.get("description"):
        site["description"] = _text(settings["description"])
    author = _person(settings.get("author"))
    if author is not None:
        site["author"] = author
    if settings.get("lang"):
        site["language"] = _text(settings["lang"])
    zone = settings.get("timezone")
    if zone and not _given(toml, "site", "timezone"):
        try:
            ZoneInfo(str(zone))
            site["timezone"] = str(zone)
        except (ZoneInfoNotFoundError, ValueError):
            problems.append(f"{name}: timezone: unknown time zone {zone!r} (use an IANA name)")
    for key in ("icon", "logo"):
        if isinstance(feed.get(key), str):
            site[key] = feed[key]
    return site


def _content_table(settings: dict[str, Any], root: Path) -> dict[str, Any]:
    """[content]: the site folder, its permalink and its excerpt separator."""
    content: dict[str, Any] = {"posts": str(root)}
    permalink = settings.get("permalink")
    if isinstance(permalink, str) and permalink.strip():
        content["permalink"] = permalink.strip()
    separator = settings.get("excerpt_separator")
    if isinstance(separator, str) and separator != "\n\n":
        content["excerpt_separator"] = separator
    return content


def _feeds_table(
    feed: dict[str, Any], name: str, toml: dict[str, Any], problems: list[str]
) -> dict[str, Any]:
    """[feeds] from jekyll-feed's `feed:` settings: path, posts_limit,
    categories, tags, excerpt_only."""
    feeds: dict[str, Any] = {"limit": 10}  # jekyll-feed's posts_limit default
    path = feed.get("path")
    listed = feed.get("collections")
    posts_feed: dict[str, Any] = {}
    if isinstance(listed, dict) and isinstance(listed.get("posts"), dict):
        posts_feed = listed["posts"]
    path = path or posts_feed.get("path")
    if isinstance(path, str) and path.strip("/"):
        feeds["atom"] = path.strip().lstrip("/")
    limit = feed.get("posts_limit")
    if limit is not None:
        if isinstance(limit, int) and not isinstance(limit, bool) and limit >= 1:
            feeds["limit"] = limit
        elif not _given(toml, "feeds", "limit"):
            problems.append(f"{name}: feed.posts_limit: must be a whole number ≥ 1, got {limit!r}")
    categories = feed.get("categories")
    categories = categories or posts_feed.get("categories")
    if isinstance(categories, list) and categories:
        feeds["categories"] = [str(c) for c in categories]
    tags = feed.get("tags")
    if tags is True:
        feeds["tags"] = "all"
    elif isinstance(tags, dict):
        only = tags.get("only")
        feeds["tags"] = [str(t) for t in only] if isinstance(only, list) else "all"
    if feed.get("excerpt_only") is True:
        feeds["excerpt_only"] = True
    return feeds


def _person(value: Any) -> str | dict[str, str] | None:
    """A _config `author` in publisher.toml's shape: a name, or name/email/uri."""
    if isinstance(value, str) and value.strip():
        return _text(value)
    if isinstance(value, dict) and value.get("name"):
        person = {"name": _text(value["name"])}
        for key, source in (("email", "email"), ("uri", "uri"), ("uri", "url")):
            if isinstance(value.get(source), str) and key not in person:
                person[key] = value[source].strip()
        return person
    return None


def data_dir(root: Path, settings: dict[str, Any]) -> Path:
    return root / str(settings.get("data_dir") or "_data")


def includes_dir(root: Path, settings: dict[str, Any]) -> Path:
    return root / str(settings.get("includes_dir") or "_includes")


def _authors(root: Path, settings: dict[str, Any]) -> dict[str, Any]:
    """`_data/authors.yml` (or .yaml, .json): jekyll-feed resolves post authors in it."""
    import yaml  # noqa: PLC0415  # lazy: PyYAML, only for a Jekyll site; every command loads this module

    folder = data_dir(root, settings)
    for suffix in (".yml", ".yaml", ".json"):
        file = folder / f"authors{suffix}"
        if file.is_file():
            try:
                data = yaml.safe_load(file.read_text(encoding="utf-8"))
            except (OSError, UnicodeDecodeError, yaml.YAMLError) as exc:
                raise ConfigError(
                    f"{file}: cannot read the authors: {exc}",
                    hint="fix it; jekyll-feed reads it too",
                ) from exc
            return data if isinstance(data, dict) else {}
    return {}


def _stamp(root: Path, settings: dict[str, Any]) -> str:
    """Names, sizes and mtimes of every file Liquid may read (_data, _includes)."""
    parts = []
    for folder in (data_dir(root, settings), includes_dir(root, settings)):
        for dirpath, _dirs, files in os.walk(folder):
            for file in sorted(files):
                full = os.path.join(dirpath, file)
                try:
                    st = os.stat(full)
                except OSError:
                    continue
                parts.append(f"{full}\0{st.st_size}\0{st.st_mtime_ns}")
    return "\n".join(sorted(parts))
