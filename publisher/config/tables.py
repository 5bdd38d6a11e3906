"""The tables of publisher.toml: every key declared once.

Each table is a frozen dataclass; each field one key, with its type (the
annotation), its default, its docstring, the work that needs it and its bounds
(`declare.setting`). Bounds and choices are checked by `declare.bound_problems`
for every table alike; what a table checks across its own keys, or beyond
what a bound can say, is its `problems()` method, next to the keys.
The README's key table is held to these declarations by tests/test_docs.py.
"""

from __future__ import annotations

import ipaddress
import string
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from ..model import Person
from . import defaults
from .declare import Setting, declared, setting

MAX_DAYS = 36_500  # [digest] first_window_days: a century
MAX_HOURS = 87_600  # [web] confirm_hours: ten years
MAX_SECONDS = 315_360_000  # ten years
MAX_WAIT_SECONDS = 3600  # [web] header_timeout, body_timeout: longer lets slow clients pile up

def _public_url_problems(table: str, key: str, value: str) -> list[str]:
    """A URL that is published: no user name or password in it."""
    if value and (urlsplit(value).username is not None or "@" in urlsplit(value).netloc):
        return [
            f"[{table}] {key}: must not hold a user name or password "
            "(user:pass@): it would be published in every feed"
        ]
    return []


def _http_url(value: str) -> bool:
    parts = urlsplit(value)
    return parts.scheme in ("http", "https") and bool(parts.netloc)


@dataclass(frozen=True)
class SiteConfig:
    """[site]: what every feed says about the site."""

    url: str = setting("", "absolute URL of the site, with any base path", needs="publish",
                       required=True)
    title: str = setting("Untitled site", "feed title", needs="publish", text=True)
    description: str = setting("", "feed subtitle/description", needs="publish", text=True)
    author: Person | None = setting(None, "default post author", needs="publish", text=True)
    language: str = setting("en", "feed language", needs="publish", text=True)
    timezone: str = setting("UTC", "IANA name; applied to dates written without a zone",
                            needs="publish")
    icon: str = setting("", "site-relative or absolute URL for the Atom feed", needs="publish")
    logo: str = setting("", "site-relative or absolute URL for the Atom feed", needs="publish")

    def problems(self) -> list[str]:
        problems = []
        if not self.url:
            problems.append(
                '[site] url: required, the absolute URL of the site (e.g. "https://example.org")'
            )
        elif not _http_url(self.url):
            problems.append(f"[site] url: must be an absolute http(s) URL, got {self.url!r}")
        try:
            ZoneInfo(self.timezone)
        except (ZoneInfoNotFoundError, ValueError):
            problems.append(
                f"[site] timezone: unknown timezone {self.timezone!r} "
                '(use an IANA name such as "Europe/Paris" or "UTC")'
            )
        problems += _public_url_problems("site", "url", self.url)
        for key in ("icon", "logo"):
            value = getattr(self, key)
            if value and ":" in value.split("/", 1)[0] and urlsplit(value).scheme not in (
                "http", "https"
            ):
                problems.append(f"[site] {key}: must be a site path or an http(s) URL, "
                                f"got {value!r}")
        if self.author is not None and self.author.uri and urlsplit(
            self.author.uri
        ).scheme not in ("http", "https"):
            problems.append(f"[site] author: uri must be an http(s) URL, got {self.author.uri!r}")
        return problems


@dataclass(frozen=True)
class ContentConfig:
    """[content]: where the posts are and how they are read."""

    posts: str = setting("content", "the posts folder", needs="publish")
    permalink: str = setting(
        "/:categories/:year/:month/:day/:title:output_ext",
        "URL pattern for posts (Jekyll's default `date` style)", needs="publish",
    )
    excerpt_separator: str = setting("", "marker that ends the excerpt; \"\" = the first "
                                     "paragraph", needs="publish")
    max_post_bytes: int = setting(1_000_000, "above this size a post's full text stays out "
                                  "of the feeds (summary only)", needs="publish", low=0)
    # Never by default: a link could publish any file this user can read.
    follow_symlinks: bool = setting(False, "follow symbolic links that lead out of the posts "
                                    "folder", needs="publish")


@dataclass(frozen=True)
class OutputConfig:
    """[output]: the public folder the feeds are written to."""

    path: str = setting("out", "the public output folder", needs="publish")


@dataclass(frozen=True)
class FeedsConfig:
    """[feeds]: which feeds are written, and where. A main feed's file name is
    declared here per format of `feeds.formats` (marked `out_file`)."""

    limit: int = setting(20, "entries per feed", needs="publish", low=1)
    atom: str = setting("feed.xml", "the Atom feed's file name in out/", needs="publish",
                        out_file="required")
    rss: str = setting("rss.xml", "the RSS feed's file name in out/", needs="publish",
                       out_file="required")
    json: str = setting("feed.json", "the JSON Feed 1.1 file name in out/; \"\" writes none",
                        needs="publish", out_file="optional")
    categories: str | tuple[str, ...] = setting(
        "none", 'per-category feeds: "all", "none" or a list of names', needs="publish",
        text=True,
    )
    tags: str | tuple[str, ...] = setting(
        "none", 'per-tag feeds: "all", "none" or a list of names', needs="publish", text=True
    )
    hub: str = setting("", "a WebSub hub to announce and ping; \"\" for none", needs="publish")
    hub_timeout: float = setting(10.0, "seconds per request to the hub", needs="publish",
                                 low=0, above=True, says="must be positive")
    page: str = setting("feeds.html", "the page listing every feed; \"\" writes none",
                        needs="publish", out_file="optional")
    excerpt_only: bool = setting(False, "summaries only, no full text, as jekyll-feed's "
                                 "`feed: {excerpt_only: true}`", needs="publish")

    def out_files(self) -> dict[str, str]:
        """Key -> file name of every file named here (the main feeds, the page)."""
        return {key: getattr(self, key) for key, decl in declared(self) if decl.out_file}

    def problems(self) -> list[str]:
        problems = []
        names = self.out_files()
        for key, name in names.items():
            problems += self._name_problems(key, name)
        used = [name for name in names.values() if name]
        for name in sorted({n for n in used if used.count(n) > 1}):
            keys = ", ".join(k for k, v in names.items() if v == name)
            problems.append(f"[feeds] {keys}: each needs its own file name, all are {name!r}")
        for key in ("categories", "tags"):
            value = getattr(self, key)
            if isinstance(value, str) and value not in ("all", "none"):
                problems.append(
                    f'[feeds] {key}: must be "all", "none" or a list of names, got {value!r}'
                )
            elif isinstance(value, tuple) and not all(v.strip() for v in value):
                problems.append(f"[feeds] {key}: a name in the list is empty")
        if self.hub and not _http_url(self.hub):
            problems.append(f"[feeds] hub: must be an absolute http(s) URL, got {self.hub!r}")
        problems += _public_url_problems("feeds", "hub", self.hub)
        for key, name in names.items():
            if name and (
                any(ord(c) < 0x20 or c == "\x7f" or c == "\\" for c in name)
                or name in (".", "..")
                or name.endswith("/")
            ):
                problems.append(
                    f"[feeds] {key}: must be a file name in the output folder "
                    f"(no control characters, backslashes or trailing /), got {name!r}"
                )
        return problems

    def _name_problems(self, key: str, name: str) -> list[str]:
        if not name and _declared(self, key).out_file == "required":
            # The digest links to both, so neither can be switched off.
            return [f"[feeds] {key}: required, a file name in the output folder"]
        if name and (name.startswith(("/", "\\")) or ".." in name.split("/")):
            return [f"[feeds] {key}: must be a path inside the output folder, got {name!r}"]
        if name.split("/")[0] == "feed":
            return [
                f"[feeds] {key}: feed/ holds the category and tag feeds; "
                f"choose another name than {name!r}"
            ]
        return []


def _declared(table: Any, key: str) -> Setting:
    return dict(declared(table))[key]


SUBJECT_FIELDS = {"site", "first_title", "count", "new_posts", "date"}


@dataclass(frozen=True)
class DigestConfig:
    """[digest]: what goes in the next digest and how it looks."""

    subject: str = setting("{site} digest: {first_title}", "the subject, with placeholders "
                           "{site}, {first_title}, {count}, {new_posts}, {date}",
                           needs="publish", text=True)
    max_posts: int = setting(20, "posts shown; the rest become an \"and N more\" link",
                             needs="publish", low=1)
    first_window_days: int = setting(7, "how far back the very first digest looks",
                                     needs="publish", low=0, cap=MAX_DAYS)
    # store/seen.py
    backdated_days: int = setting(7, "a post dated more than this before a run first sees "
                                  "it is an archive import: recorded, not mailed",
                                  needs="publish", low=0)
    # Gmail clips HTML bodies past ~102 KB; stay under with margin.
    max_html_bytes: int = setting(95_000, "size budget of the HTML part as sent, encoded",
                                  needs="publish")
    templates: str = setting("templates/email", "site templates; each file falls back to "
                             "the built-in one", needs="publish")
    # CAN-SPAM asks for one.
    postal_address: str = setting("", "the sender's postal address in every footer; \"\" = "
                                  "none", needs="publish", text=True)

    def problems(self) -> list[str]:
        problem = _subject_problem(self.subject)
        if problem:
            return [f"[digest] subject: {problem} (use {{site}}, {{first_title}}, "
                    "{count}, {new_posts}, {date})"]
        return []


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


@dataclass(frozen=True)
class StateConfig:
    """[state]: the private SQLite state store."""

    path: str = setting(defaults.STATE_PATH, "the private SQLite state store",
                        needs="publish")


@dataclass(frozen=True)
class DeliveryConfig:
    """[delivery]: how digests and list mail go out. Its addresses, the
    unsubscribe link and the DKIM key are checked by rules.mail_problems."""

    transport: str = setting("outbox", '"outbox" (.eml files) or "smtp"', needs="send",
                             choices=("outbox", "smtp"))
    outbox: str = setting(".publisher/outbox", "where the outbox transport writes",
                          needs="send")
    sender: str = setting("", '"Site name <news@your-domain>"', needs="send", toml="from",
                          required=True)
    reply_to: str = setting("", "a Reply-To address; \"\" = none", needs="send")
    unsubscribe_url: str = setting("", "https URL of the unsubscribe page (default "
                                   "<[web] base_url>/unsubscribe)", needs="send",
                                   required=True)
    unsubscribe_mailto: str = setting("", "an address for unsubscribing by mail too",
                                      needs="send")
    list_id: str = setting("", "the List-Id header; \"\" = one of this list's own",
                           needs="send")
    max_failures: int = setting(3, "failures in a row before a subscriber is bounced",
                                needs="send", low=1)
    # "bounces@example.org" becomes bounces+<token>@example.org per message (VERP).
    return_path: str = setting("", "envelope sender for bounces; \"\" = the From address",
                               needs="send")
    dkim_key: str = setting("", "DKIM private key file (PEM, mode 0600)", needs="send")
    dkim_selector: str = setting("", "DKIM selector", needs="send")
    dkim_domain: str = setting("", "DKIM signing domain", needs="send")


@dataclass(frozen=True)
class SmtpConfig:
    """[smtp]: the mail server, for `transport = "smtp"`."""

    host: str = setting("localhost", "the SMTP server", needs="send")
    port: int = setting(587, "the SMTP server's port", needs="send", low=1, high=65535)
    security: str = setting("starttls", "how the connection is encrypted", needs="send",
                            choices=("starttls", "ssl", "none"))
    username: str = setting("", "login name, \"\" = no login (the password is "
                            "PUBLISHER_SMTP_PASSWORD)", needs="send")
    timeout: float = setting(30.0, "seconds, for every network call", needs="send", low=0,
                             above=True)
    rate: float = setting(0.0, "messages per second over all connections; 0 = no limit",
                          needs="send", low=0, rule="0 (unlimited) or more")
    messages_per_connection: int = setting(100, "then the connection is closed and reopened",
                                           needs="send", low=1)
    connections: int = setting(1, "parallel connections", needs="send", low=1, high=20,
                               rule="1 to 20")
    retries: int = setting(5, "per message, for 4xx replies and dropped connections",
                           needs="send", low=0, high=20, rule="0 to 20")
    # Backoff between retries of one message: doubles from retry_delay, capped.
    retry_delay: float = setting(1.0, "seconds before the first retry", needs="send", low=0)
    retry_max_delay: float = setting(60.0, "the longest wait between retries", needs="send",
                                     low="retry_delay")


@dataclass(frozen=True)
class ScheduleConfig:
    """[schedule]: what `publisher run` does when."""

    poll_seconds: float = setting(5.0, "how often `publisher run` scans the posts folder",
                                  needs="run", low=0, above=True, says="must be positive",
                                  cap=MAX_SECONDS)
    digest: str = setting("0 8 * * mon", "cron expression, in [site] timezone; \"\" = no "
                          "digest", needs="run")
    lock_timeout: float = setting(60.0, "seconds a job waits for the site lock", needs="run",
                                  low=0, says="must be 0 or more", cap=MAX_SECONDS)
    misfire_grace_seconds: int = setting(6 * 3600, "a digest run up to this late still "
                                         "happens", needs="run", low=1,
                                         says="must be at least 1", cap=MAX_SECONDS)

    def problems(self) -> list[str]:
        if self.digest.strip() and len(self.digest.split()) != 5:
            # Fully checked by rules.schedule_problems (`publisher check` and
            # `run`); this catch is cheap and needs no scheduler import.
            return [
                '[schedule] digest: expected a cron expression of five fields '
                f'such as "0 8 * * mon", got {self.digest!r}'
            ]
        return []


@dataclass(frozen=True)
class BouncesConfig:
    """[bounces]: where `publisher bounces` (and `publisher run`) reads bounce
    and complaint reports. The IMAP password comes from the environment."""

    maildir: str = setting("", "a Maildir that receives bounces and complaints",
                           needs="bounces")
    imap_host: str = setting("", "an IMAP server (over TLS) that receives them",
                             needs="bounces")
    imap_port: int = setting(993, "its port", needs="bounces", low=1, high=65535)
    imap_user: str = setting("", "its login name", needs="bounces")
    imap_mailbox: str = setting("INBOX", "the mailbox to read", needs="bounces")
    poll_minutes: int = setting(0, "`publisher run` reads them this often; 0 = never",
                                needs="bounces", low=0, rule="0 (never) or more")


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


@dataclass(frozen=True)
class WebConfig:
    """[web]: the list's public pages (`publisher serve`, and `publisher run`
    when base_url is set)."""

    listen: str = setting("127.0.0.1:8080", "where `publisher serve` listens (HOST:PORT)",
                          needs="serve")
    base_url: str = setting("", "the public URL of the app, e.g. "
                            "https://news.example.org/list", needs="serve")
    trusted_proxies: tuple[str, ...] = setting(
        (), "only requests from these addresses (IPs or CIDR ranges) may set "
        "X-Forwarded-For", needs="serve",
    )
    confirm_hours: int = setting(48, "how long a confirmation link works", needs="serve",
                                 low=1, cap=MAX_HOURS)
    rate_per_ip: int = setting(20, "subscribe requests per client address per hour; 0 = no "
                               "limit", needs="serve", low=0, rule="0 (no limit) or more")
    rate_per_address: int = setting(3, "confirmation mails per email address per hour; 0 = "
                                    "no limit", needs="serve", low=0,
                                    rule="0 (no limit) or more")
    templates: str = setting("templates/web", "site page templates; each file falls back to "
                             "the built-in one", needs="serve")
    # Slow clients: beyond these a request gets 408, beyond max_connections 503.
    header_timeout: float = setting(10.0, "seconds to send a request's headers (from "
                                    "connecting, or from the previous answer)", needs="serve",
                                    low=0, above=True, rule="more than 0 seconds",
                                    cap=MAX_WAIT_SECONDS)
    body_timeout: float = setting(30.0, "seconds to send a request's body", needs="serve",
                                  low=0, above=True, rule="more than 0 seconds",
                                  cap=MAX_WAIT_SECONDS)
    max_connections: int = setting(500, "open connections served at once", needs="serve",
                                   low=1)

    def problems(self) -> list[str]:
        problems = []
        if parse_listen(self.listen) is None:
            problems.append(
                '[web] listen: expected "HOST:PORT" such as "127.0.0.1:8080" or '
                f'"[::1]:8080", got {self.listen!r}'
            )
        if self.base_url:
            parts = urlsplit(self.base_url)
            if not _http_url(self.base_url):
                problems.append(
                    f"[web] base_url: must be an absolute http(s) URL, got {self.base_url!r}"
                )
            elif parts.query or parts.fragment:
                problems.append(
                    f"[web] base_url: must not have a query or #fragment, got {self.base_url!r}"
                )
        problems += _public_url_problems("web", "base_url", self.base_url)
        for proxy in self.trusted_proxies:
            try:
                ipaddress.ip_network(proxy, strict=False)
            except ValueError:
                problems.append(
                    f"[web] trusted_proxies: {proxy!r} is not an IP address or a range "
                    'such as "10.0.0.0/8"'
                )
        return problems

    def unsubscribe_url(self) -> str:
        """The default of [delivery] unsubscribe_url: `<base_url>/unsubscribe`
        ("" unless base_url is a good one)."""
        if not self.base_url or not _http_url(self.base_url):
            return ""
        parts = urlsplit(self.base_url)
        return "" if parts.query or parts.fragment else self.base_url.rstrip("/") + "/unsubscribe"


@dataclass(frozen=True)
class JekyllConfig:
    """[jekyll]: read a Jekyll site's own settings (see `publisher.jekyll`)."""

    site: str = setting("", "the Jekyll site folder; \"\" = not a Jekyll site (unless "
                        "found, see jekyll)", needs="publish")
    config: tuple[str, ...] = setting((), "the _config files to read, in order (Jekyll's "
                                      "--config); [] = _config.yml", needs="publish")
    drafts: bool = setting(False, "publish _drafts too, as `jekyll build --drafts`",
                           needs="publish")
    smart_quotes: bool = setting(True, "curly quotes, dashes and ellipses in bodies and "
                                 "titles, as kramdown's defaults", needs="publish")


# TOML table name -> dataclass. The order is the order of the problems and
# of the keys named in the warning about control characters.
TABLES: dict[str, type] = {
    "site": SiteConfig,
    "content": ContentConfig,
    "output": OutputConfig,
    "digest": DigestConfig,
    "feeds": FeedsConfig,
    "state": StateConfig,
    "delivery": DeliveryConfig,
    "smtp": SmtpConfig,
    "schedule": ScheduleConfig,
    "web": WebConfig,
    "jekyll": JekyllConfig,
    "bounces": BouncesConfig,
}
