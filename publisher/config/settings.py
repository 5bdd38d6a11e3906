"""Load and validate publisher.toml into one frozen Config.

Every table is a dataclass; its fields are the schema (name, type, default).
Validation collects every problem and raises once, each line naming the file,
the table and the key, so a user fixes them all in one pass.

`load` checks what every run needs. The rules for the mail and schedule
settings are next door, in settings_rules.py, asked for only by what uses
those settings: a bad [smtp] setting blocks mail, never the feeds.
"""

from __future__ import annotations

import dataclasses
import difflib
import math
import string
import tomllib
import types
import typing
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from ..errors import ConfigError
from ..model import Person, Problem, xml_illegal, xml_text

DEFAULT_FILE = "publisher.toml"


@dataclass(frozen=True)
class SiteConfig:
    url: str = ""
    title: str = "Untitled site"
    description: str = ""
    author: Person | None = None
    language: str = "en"
    timezone: str = "UTC"
    icon: str = ""
    logo: str = ""


@dataclass(frozen=True)
class ContentConfig:
    posts: str = "content"
    # Jekyll's default post permalink style.
    permalink: str = "/:categories/:year/:month/:day/:title:output_ext"
    excerpt_separator: str = ""
    # Above this size a post's full text stays out of the feeds (summary only).
    max_post_bytes: int = 1_000_000
    # Follow symbolic links that lead out of the posts folder (never by default:
    # a link could publish any file this user can read).
    follow_symlinks: bool = False


@dataclass(frozen=True)
class OutputConfig:
    path: str = "out"


@dataclass(frozen=True)
class FeedsConfig:
    limit: int = 20
    atom: str = "feed.xml"
    rss: str = "rss.xml"
    json: str = "feed.json"  # JSON Feed 1.1; "" writes none
    # Per-category and per-tag feeds: "all", "none" or a list of names.
    categories: str | tuple[str, ...] = "none"
    tags: str | tuple[str, ...] = "none"
    hub: str = ""  # a WebSub hub to announce and ping; "" for none
    hub_timeout: float = 10.0  # seconds per request to the hub
    page: str = "feeds.html"  # the page listing every feed; "" writes none
    # Summaries only, no full text, as jekyll-feed's `feed: {excerpt_only: true}`.
    excerpt_only: bool = False


@dataclass(frozen=True)
class DigestConfig:
    subject: str = "{site} digest: {first_title}"
    max_posts: int = 20
    first_window_days: int = 7
    # A post dated more than this before a run first sees it is an archive
    # import: recorded, not mailed (store/seen.py).
    backdated_days: int = 7
    # Gmail clips HTML bodies past ~102 KB; stay under with margin.
    max_html_bytes: int = 95_000
    templates: str = "templates/email"
    # The sender's postal address in every footer (CAN-SPAM asks for one); "" = none.
    postal_address: str = ""


@dataclass(frozen=True)
class StateConfig:
    path: str = ".publisher/state.db"


@dataclass(frozen=True)
class DeliveryConfig:
    transport: str = "outbox"
    outbox: str = ".publisher/outbox"
    sender: str = ""
    reply_to: str = ""
    unsubscribe_url: str = ""
    unsubscribe_mailto: str = ""
    list_id: str = ""
    max_failures: int = 3
    # Envelope sender for bounces: "bounces@example.org" becomes the VERP
    # address bounces+<token>@example.org per message; "" = the From address.
    return_path: str = ""
    # DKIM signing with dkimpy: a private key file (mode 0600), selector, domain.
    dkim_key: str = ""
    dkim_selector: str = ""
    dkim_domain: str = ""


@dataclass(frozen=True)
class SmtpConfig:
    host: str = "localhost"
    port: int = 587
    security: str = "starttls"
    username: str = ""
    timeout: float = 30.0
    rate: float = 0.0
    messages_per_connection: int = 100
    connections: int = 1
    retries: int = 5
    # Backoff between retries of one message: doubles from retry_delay, capped.
    retry_delay: float = 1.0
    retry_max_delay: float = 60.0


@dataclass(frozen=True)
class ScheduleConfig:
    poll_seconds: float = 5.0
    digest: str = "0 8 * * mon"
    lock_timeout: float = 60.0
    misfire_grace_seconds: int = 6 * 3600


@dataclass(frozen=True)
class BouncesConfig:
    """[bounces]: where `publisher bounces` (and `publisher run`) reads bounce
    and complaint reports. The IMAP password comes from the environment."""

    maildir: str = ""
    imap_host: str = ""
    imap_port: int = 993  # IMAP over TLS
    imap_user: str = ""
    imap_mailbox: str = "INBOX"
    poll_minutes: int = 0  # `publisher run` reads them this often; 0 = never


@dataclass(frozen=True)
class WebConfig:
    """[web]: the list's public pages (`publisher serve`, and `publisher run`
    when base_url is set)."""

    listen: str = "127.0.0.1:8080"
    # The public URL of the app, e.g. https://news.example.org/list.
    base_url: str = ""
    # Only requests from these addresses (IPs or CIDR ranges) may set X-Forwarded-For.
    trusted_proxies: tuple[str, ...] = ()
    confirm_hours: int = 48
    # Subscribe requests per client address per hour, and confirmation mails
    # per email address per hour; 0 = no limit.
    rate_per_ip: int = 20
    rate_per_address: int = 3
    templates: str = "templates/web"
    # Slow clients: seconds to send a request's headers (from connecting, or
    # from the previous answer on the connection) and then its body; and the
    # open connections served at once (beyond it, requests get 503).
    header_timeout: float = 10.0
    body_timeout: float = 30.0
    max_connections: int = 500


@dataclass(frozen=True)
class JekyllConfig:
    """[jekyll]: read a Jekyll site's own settings (see `publisher.jekyll`)."""

    site: str = ""  # the Jekyll site folder; "" = not a Jekyll site (unless found, see jekyll)
    # The _config files to read, in order (Jekyll's --config); () = _config.yml.
    config: tuple[str, ...] = ()
    drafts: bool = False  # publish _drafts too, as `jekyll build --drafts`
    # Curly quotes, dashes and ellipses in bodies and titles, as kramdown's defaults.
    smart_quotes: bool = True


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


# TOML table name -> dataclass.  `from` is a Python keyword, so [delivery] from
# is renamed on load.
TABLES: dict[str, type] = {
    "site": SiteConfig,
    "content": ContentConfig,
    "output": OutputConfig,
    "feeds": FeedsConfig,
    "digest": DigestConfig,
    "state": StateConfig,
    "delivery": DeliveryConfig,
    "smtp": SmtpConfig,
    "schedule": ScheduleConfig,
    "web": WebConfig,
    "jekyll": JekyllConfig,
    "bounces": BouncesConfig,
}
RENAMED = {("delivery", "from"): "sender"}


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
    _check_semantics(tables, file, problems)
    _check_web(tables, file, problems)
    _check_inbox(tables, file, problems)
    _check_safety(tables, file, problems)
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
    "site": ("title", "description", "author", "language"),
    "digest": ("subject", "postal_address"),
    "feeds": ("categories", "tags"),
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


def _check_semantics(tables: dict[str, Any], file: Path, problems: list[str]) -> None:
    f = file.name
    site: SiteConfig = tables["site"]
    if not site.url:
        problems.append(
            f'{f}: [site] url: required, the absolute URL of the site (e.g. "https://example.org")'
        )
    else:
        parts = urlsplit(site.url)
        if parts.scheme not in ("http", "https") or not parts.netloc:
            problems.append(
                f"{f}: [site] url: must be an absolute http(s) URL, got {site.url!r}"
            )
    try:
        ZoneInfo(site.timezone)
    except (ZoneInfoNotFoundError, ValueError):
        problems.append(
            f"{f}: [site] timezone: unknown timezone {site.timezone!r} "
            '(use an IANA name such as "Europe/Paris" or "UTC")'
        )
    feeds: FeedsConfig | None = tables.get("feeds")
    if feeds is not None:
        problems.extend(_feeds_problems(feeds, f))
    digest: DigestConfig | None = tables.get("digest")
    if digest is not None:
        if digest.max_posts < 1:
            problems.append(f"{f}: [digest] max_posts: must be at least 1, got {digest.max_posts}")
        if digest.first_window_days < 0:
            problems.append(
                f"{f}: [digest] first_window_days: must be 0 or more, "
                f"got {digest.first_window_days}"
            )
        problem = _subject_problem(digest.subject)
        if problem:
            problems.append(
                f"{f}: [digest] subject: {problem} (use {{site}}, {{first_title}}, "
                "{count}, {new_posts}, {date})"
            )
    delivery: DeliveryConfig | None = tables.get("delivery")
    if delivery is not None and delivery.transport not in ("outbox", "smtp"):
        problems.append(
            f'{f}: [delivery] transport: must be "outbox" or "smtp", got {delivery.transport!r}'
        )
    smtp: SmtpConfig | None = tables.get("smtp")
    if smtp is not None and smtp.security not in ("starttls", "ssl", "none"):
        problems.append(
            f'{f}: [smtp] security: must be "starttls", "ssl" or "none", got {smtp.security!r}'
        )
    schedule: ScheduleConfig | None = tables.get("schedule")
    if schedule is not None:
        if schedule.poll_seconds <= 0:
            problems.append(f"{f}: [schedule] poll_seconds: must be positive")
        if schedule.lock_timeout < 0:
            problems.append(f"{f}: [schedule] lock_timeout: must be 0 or more")
        if schedule.misfire_grace_seconds < 1:
            problems.append(f"{f}: [schedule] misfire_grace_seconds: must be at least 1")
        if schedule.digest.strip() and len(schedule.digest.split()) != 5:
            # Fully checked by settings_rules.schedule_problems (`publisher
            # check` and `run`); this catch is cheap and needs no scheduler import.
            problems.append(
                f'{f}: [schedule] digest: expected a cron expression of five fields '
                f'such as "0 8 * * mon", got {schedule.digest!r}'
            )


def _feeds_problems(feeds: FeedsConfig, f: str) -> list[str]:
    problems = []
    if feeds.limit < 1:
        problems.append(f"{f}: [feeds] limit: must be at least 1, got {feeds.limit}")
    names = {"atom": feeds.atom, "rss": feeds.rss, "json": feeds.json, "page": feeds.page}
    for key, name in names.items():
        if not name and key in ("atom", "rss"):
            # The digest links to both, so neither can be switched off.
            problems.append(f"{f}: [feeds] {key}: required, a file name in the output folder")
        elif name and (name.startswith(("/", "\\")) or ".." in name.split("/")):
            problems.append(
                f"{f}: [feeds] {key}: must be a path inside the output folder, got {name!r}"
            )
        elif name.split("/")[0] == "feed":
            problems.append(
                f"{f}: [feeds] {key}: feed/ holds the category and tag feeds; "
                f"choose another name than {name!r}"
            )
    used = [name for name in names.values() if name]
    for name in sorted({n for n in used if used.count(n) > 1}):
        keys = ", ".join(k for k, v in names.items() if v == name)
        problems.append(f"{f}: [feeds] {keys}: each needs its own file name, all are {name!r}")
    for key in ("categories", "tags"):
        value = getattr(feeds, key)
        if isinstance(value, str) and value not in ("all", "none"):
            problems.append(
                f'{f}: [feeds] {key}: must be "all", "none" or a list of names, got {value!r}'
            )
        elif isinstance(value, tuple) and not all(v.strip() for v in value):
            problems.append(f"{f}: [feeds] {key}: a name in the list is empty")
    if feeds.hub:
        parts = urlsplit(feeds.hub)
        if parts.scheme not in ("http", "https") or not parts.netloc:
            problems.append(
                f"{f}: [feeds] hub: must be an absolute http(s) URL, got {feeds.hub!r}"
            )
    if feeds.hub_timeout <= 0:
        problems.append(f"{f}: [feeds] hub_timeout: must be positive")
    return problems


SUBJECT_FIELDS = {"site", "first_title", "count", "new_posts", "date"}


def _subject_problem(subject: str) -> str:
    """Only bare placeholder names: `{site.title}` or `{site[0]}` would format
    without error here and put a Python repr into every subject, and a format
    such as `{first_title:>99999999999}` would ask for gigabytes of padding."""
    try:
        parsed = [(f, spec, conv) for _, f, spec, conv in string.Formatter().parse(subject)]
        fields = [f for f, _, _ in parsed if f is not None]
        for name, spec, conversion in parsed:
            if spec or conversion:
                written = f"{name}{'!' + conversion if conversion else ''}:{spec}".rstrip(":")
                return f"placeholders take no format or conversion, got {{{written[:60]}}}"
        subject.format(site="", first_title="", count=0, new_posts="", date="")
    except (KeyError, IndexError, ValueError) as exc:
        return f"bad placeholder {exc}"
    for name in fields:
        if name not in SUBJECT_FIELDS:
            return f"unknown placeholder {{{name}}}"
    return ""


def _check_web(tables: dict[str, Any], file: Path, problems: list[str]) -> None:
    """[web], and the default it gives `[delivery] unsubscribe_url` (`<base_url>/unsubscribe`)."""
    import ipaddress

    web: WebConfig | None = tables.get("web")
    if web is None:
        return
    f = file.name
    if parse_listen(web.listen) is None:
        problems.append(
            f'{f}: [web] listen: expected "HOST:PORT" such as "127.0.0.1:8080" or '
            f'"[::1]:8080", got {web.listen!r}'
        )
    if web.base_url:
        parts = urlsplit(web.base_url)
        if parts.scheme not in ("http", "https") or not parts.netloc:
            problems.append(
                f"{f}: [web] base_url: must be an absolute http(s) URL, got {web.base_url!r}"
            )
        elif parts.query or parts.fragment:
            problems.append(
                f"{f}: [web] base_url: must not have a query or #fragment, got {web.base_url!r}"
            )
        else:
            delivery: DeliveryConfig = tables.get("delivery", DeliveryConfig())
            if not delivery.unsubscribe_url:
                tables["delivery"] = dataclasses.replace(
                    delivery, unsubscribe_url=web.base_url.rstrip("/") + "/unsubscribe"
                )
    for proxy in web.trusted_proxies:
        try:
            ipaddress.ip_network(proxy, strict=False)
        except ValueError:
            problems.append(
                f"{f}: [web] trusted_proxies: {proxy!r} is not an IP address or a range "
                'such as "10.0.0.0/8"'
            )
    if web.confirm_hours < 1:
        problems.append(f"{f}: [web] confirm_hours: must be at least 1, got {web.confirm_hours}")
    for key in ("rate_per_ip", "rate_per_address"):
        value = getattr(web, key)
        if value < 0:
            problems.append(f"{f}: [web] {key}: must be 0 (no limit) or more, got {value}")
    for key in ("header_timeout", "body_timeout"):
        value = getattr(web, key)
        if not value > 0:
            problems.append(f"{f}: [web] {key}: must be more than 0 seconds, got {value}")
    if web.max_connections < 1:
        problems.append(
            f"{f}: [web] max_connections: must be at least 1, got {web.max_connections}"
        )


def _check_inbox(tables: dict[str, Any], file: Path, problems: list[str]) -> None:
    """The digest and bounce settings' numbers; addresses and the DKIM key are
    checked with the other mail settings (settings_rules.mail_problems)."""
    f = file.name
    digest: DigestConfig | None = tables.get("digest")
    if digest is not None and digest.backdated_days < 0:
        problems.append(
            f"{f}: [digest] backdated_days: must be 0 or more, got {digest.backdated_days}"
        )
    bounces: BouncesConfig | None = tables.get("bounces")
    if bounces is not None:
        if not 1 <= bounces.imap_port <= 65535:
            problems.append(
                f"{f}: [bounces] imap_port: must be between 1 and 65535, got {bounces.imap_port}"
            )
        if bounces.poll_minutes < 0:
            problems.append(
                f"{f}: [bounces] poll_minutes: must be 0 (never) or more, "
                f"got {bounces.poll_minutes}"
            )


def parse_listen(text: str) -> tuple[str, int] | None:
    """("host", port) from "host:port" or "[v6]:port"; None if it is not one."""
    host, sep, port = text.strip().rpartition(":")
    if not sep or not port.isdigit() or not 1 <= int(port) <= 65535:
        return None
    if host.startswith("[") and host.endswith("]"):
        host = host[1:-1]
    if not host or any(c.isspace() or c in "/[]" for c in host):
        return None
    return host, int(port)


# Upper bounds on numbers: past these, settings overflow the clock, timers
# and timedeltas that use them. Every number must also be finite (TOML
# allows nan and inf).
MAX_NUMBER = 1_000_000_000
MAX_DAYS = 36_500  # [digest] first_window_days: a century
MAX_HOURS = 87_600  # [web] confirm_hours: ten years
MAX_SECONDS = 315_360_000  # ten years
MAX_WAIT_SECONDS = 3600  # [web] header_timeout, body_timeout: longer lets slow clients pile up


def _check_safety(tables: dict[str, Any], file: Path, problems: list[str]) -> None:
    """Settings that would publish private data, write outside the output
    folder, or overflow what uses them: each an error naming the key."""
    f = file.name
    for name, table in tables.items():
        for item in dataclasses.fields(table):
            value = getattr(table, item.name)
            key = next((k for (t, k), a in RENAMED.items() if t == name and a == item.name),
                       item.name)
            if isinstance(value, float) and not math.isfinite(value):
                problems.append(f"{f}: [{name}] {key}: must be a finite number, got {value!r}")
            elif (isinstance(value, (int, float)) and not isinstance(value, bool)
                  and abs(value) > MAX_NUMBER):
                problems.append(
                    f"{f}: [{name}] {key}: {value!r} is out of range (at most {MAX_NUMBER:,})"
                )
    bounds = [
        ("digest", "first_window_days", MAX_DAYS),
        ("web", "confirm_hours", MAX_HOURS),
        ("web", "header_timeout", MAX_WAIT_SECONDS),
        ("web", "body_timeout", MAX_WAIT_SECONDS),
        ("schedule", "misfire_grace_seconds", MAX_SECONDS),
        ("schedule", "poll_seconds", MAX_SECONDS),
        ("schedule", "lock_timeout", MAX_SECONDS),
    ]
    for table_name, key, bound in bounds:
        value = getattr(tables.get(table_name), key, None)
        if isinstance(value, (int, float)) and math.isfinite(value) and bound < value <= MAX_NUMBER:
            problems.append(f"{f}: [{table_name}] {key}: at most {bound:,}, got {value!r}")
    content: ContentConfig | None = tables.get("content")
    if content is not None and content.max_post_bytes < 0:
        problems.append(
            f"{f}: [content] max_post_bytes: must be 0 or more, got {content.max_post_bytes}"
        )
    for table_name, key in (("site", "url"), ("feeds", "hub"), ("web", "base_url")):
        value = getattr(tables.get(table_name), key, "")
        if value and (urlsplit(value).username is not None or "@" in urlsplit(value).netloc):
            problems.append(
                f"{f}: [{table_name}] {key}: must not hold a user name or password "
                "(user:pass@): it would be published in every feed"
            )
    site: SiteConfig = tables["site"]
    for key in ("icon", "logo"):
        value = getattr(site, key)
        if value and ":" in value.split("/", 1)[0] and urlsplit(value).scheme not in (
            "http", "https"
        ):
            problems.append(
                f"{f}: [site] {key}: must be a site path or an http(s) URL, got {value!r}"
            )
    if site.author is not None and site.author.uri and urlsplit(
        site.author.uri
    ).scheme not in ("http", "https"):
        problems.append(
            f"{f}: [site] author: uri must be an http(s) URL, got {site.author.uri!r}"
        )
    feeds: FeedsConfig = tables.get("feeds", FeedsConfig())
    for key in ("atom", "rss", "json", "page"):
        name = getattr(feeds, key)
        if name and (
            any(ord(c) < 0x20 or c == "\x7f" or c == "\\" for c in name)
            or name in (".", "..")
            or name.endswith("/")
        ):
            problems.append(
                f"{f}: [feeds] {key}: must be a file name in the output folder "
                f"(no control characters, backslashes or trailing /), got {name!r}"
            )
    _check_private_paths(tables, file, problems)


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
