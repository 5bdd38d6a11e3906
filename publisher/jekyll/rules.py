"""Jekyll's rules, as Jekyll 4.3 applies them to posts, written from its behaviour.

File names (`2014-3-3-slug.ext`, unpadded), dates (what Ruby's `Time.parse`
makes of front matter strings; YAML timestamps without a zone are UTC, as
Psych reads them), slugs (`Utils.slugify`), titles from file names
(`Utils.titleize_slug`), permalinks and URL escaping (`Jekyll::URL`), the
document `id` that jekyll-feed uses as the entry id, categories from folders
and front matter defaults. Pure functions: no I/O.
"""

from __future__ import annotations

import json
import re
import unicodedata
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta, timezone, tzinfo
from functools import lru_cache
from typing import Any
from urllib.parse import quote

from ..config.settings import JekyllSite

# Documents in _posts: an optional folder, a date, a slug and an extension.
DATE_FILENAME = re.compile(r"^(?:.*/)?(\d{2,4})-(\d{1,2})-(\d{1,2})-([^/]*)(\.[^./]+)$")
# Drafts have no date in their name.
DATELESS_FILENAME = re.compile(r"^(?:.*/)?([^/]*)(\.[^./]+)$")

STYLES = {
    "date": "/:categories/:year/:month/:day/:title:output_ext",
    "pretty": "/:categories/:year/:month/:day/:title/",
    "ordinal": "/:categories/:year/:y_day/:title:output_ext",
    "weekdate": "/:categories/:year/W:week/:short_day/:title:output_ext",
    "none": "/:categories/:title:output_ext",
}
DEFAULT_MARKDOWN_EXT = "markdown,mkdown,mkdn,mkd,md"
# Jekyll skips these folders unless `include`d (Configuration::DEFAULT_EXCLUDES).
DEFAULT_EXCLUDES = (
    ".sass-cache", ".jekyll-cache", "gemfiles", "Gemfile", "Gemfile.lock",
    "node_modules", "vendor/bundle/", "vendor/cache/", "vendor/gems/", "vendor/ruby/",
)

_PATH_SAFE = re.compile(r"^[a-zA-Z0-9./-]+$")


@dataclass(frozen=True)
class Settings:
    """The parts of a Jekyll site's configuration that posts need."""

    root: str
    raw: dict[str, Any]  # the merged _config files
    authors: dict[str, Any]  # _data/authors

    @property
    def markdown_exts(self) -> frozenset[str]:
        value = self.raw.get("markdown_ext") or DEFAULT_MARKDOWN_EXT
        return frozenset("." + e.strip().lower() for e in str(value).split(",") if e.strip())

    @property
    def permalink(self) -> str:
        collections = self.raw.get("collections")
        if isinstance(collections, dict):
            posts = collections.get("posts")
            if isinstance(posts, dict) and isinstance(posts.get("permalink"), str):
                return expand_style(posts["permalink"])
        return expand_style(str(self.raw.get("permalink") or "date"))

    @property
    def collections_dir(self) -> str:
        return str(self.raw.get("collections_dir") or "").strip("/")

    @property
    def defaults(self) -> list[dict[str, Any]]:
        sets = self.raw.get("defaults")
        if not isinstance(sets, list):
            return []
        return [s for s in sets if isinstance(s, dict) and isinstance(s.get("values"), dict)]

    @property
    def exclude(self) -> tuple[str, ...]:
        value = self.raw.get("exclude")
        listed = tuple(str(v) for v in value) if isinstance(value, list) else ()
        return listed + DEFAULT_EXCLUDES

    @property
    def include(self) -> tuple[str, ...]:
        value = self.raw.get("include")
        return tuple(str(v) for v in value) if isinstance(value, list) else (".htaccess",)

    @property
    def destination(self) -> str:
        return str(self.raw.get("destination") or "_site")

    def feed(self) -> dict[str, Any]:
        value = self.raw.get("feed")
        return value if isinstance(value, dict) else {}


@lru_cache(maxsize=4)
def settings(site: JekyllSite) -> Settings:
    """The parsed settings of `site`, once per process (workers included)."""
    return Settings(site.root, json.loads(site.settings), json.loads(site.authors))


def expand_style(permalink: str) -> str:
    return STYLES.get(permalink.strip().lstrip(":"), permalink)


# -- slugs, titles, URLs ---------------------------------------------------------


def slugify(text: str | None, mode: str = "default", cased: bool = False) -> str:
    """`Jekyll::Utils.slugify`: runs of characters the mode does not keep become
    one hyphen, hyphens at either end go, and it is lower-cased unless `cased`."""
    if text is None:
        return ""
    if mode not in ("raw", "default", "pretty", "ascii", "latin"):
        return text if cased else text.lower()
    if mode == "latin":
        text = "".join(
            c for c in unicodedata.normalize("NFKD", text) if not unicodedata.combining(c)
        )
        mode = "default"
    slug = _slug_sub(text, mode)
    slug = re.sub(r"^-|-$", "", slug)
    return slug if cased else slug.lower()


def _slug_sub(text: str, mode: str) -> str:
    if mode == "raw":
        return re.sub(r"\s+", "-", text)
    if mode == "ascii":
        return re.sub(r"[^A-Za-z0-9]+", "-", text)
    keep = "._~!$&'()+,;=@" if mode == "pretty" else ""
    out: list[str] = []
    gap = False
    for char in text:
        # \p{M}\p{L}\p{Nd}, plus the mode's punctuation
        kind = unicodedata.category(char)
        if kind[0] in "LM" or kind == "Nd" or char in keep:
            if gap:
                out.append("-")
                gap = False
            out.append(char)
        else:
            gap = True
    if gap:
        out.append("-")
    return "".join(out)


def titleize(slug: str) -> str:
    """`Utils.titleize_slug`: each hyphen-separated word capitalised, as Ruby does
    (first letter up, the rest down)."""
    return " ".join(word.capitalize() for word in slug.split("-"))


def escape_path(value: str) -> str:
    """`Jekyll::URL.escape_path`: a value put into a URL template, percent-encoded
    but for unreserved characters, sub-delimiters, ':', '@' and '/'."""
    if not value or _PATH_SAFE.match(value):
        return value
    return quote(value, safe="/:@-._~!$&'()*+,;=%")


def sanitize_url(url: str) -> str:
    """`Jekyll::URL#sanitize_url`: one leading slash, no `..` or `./`, no `//`."""
    url = ("/" + url).replace("..", "/").replace("./", "")
    return re.sub(r"/{2,}", "/", url)


def placeholders(
    when: datetime,
    slug: str,
    categories: tuple[str, ...],
    output_ext: str,
    cleaned_path: str,
    basename: str,
) -> dict[str, str]:
    """`Drops::UrlDrop`: every value a permalink template may use. `when` is in the
    site's time zone; `slug` is the front matter slug or the file's."""
    lower: list[str] = []
    for name in categories:
        if name.lower() not in lower:
            lower.append(name.lower())
    slugged: list[str] = []
    for name in categories:
        if slugify(name) not in slugged:
            slugged.append(slugify(name))
    return {
        "collection": "posts",
        "path": cleaned_path,
        "name": slugify(basename),
        "title": slugify(slug, "pretty", cased=True) or slugify(basename, "pretty", cased=True),
        "slug": slugify(slug) or slugify(basename),
        "categories": "/".join(lower),
        "slugified_categories": "/".join(slugged),
        "year": f"{when.year:04d}",
        "month": f"{when.month:02d}",
        "day": f"{when.day:02d}",
        "hour": f"{when.hour:02d}",
        "minute": f"{when.minute:02d}",
        "second": f"{when.second:02d}",
        "i_day": str(when.day),
        "i_month": str(when.month),
        "short_month": when.strftime("%b"),
        "long_month": when.strftime("%B"),
        "short_year": when.strftime("%y"),
        "w_year": str(when.isocalendar().year),
        "week": f"{when.isocalendar().week:02d}",
        "w_day": str(when.isoweekday()),
        "short_day": when.strftime("%a"),
        "long_day": when.strftime("%A"),
        "y_day": f"{when.timetuple().tm_yday:03d}",
        "output_ext": output_ext,
    }


def url_from(template: str, values: dict[str, str]) -> str:
    """`Jekyll::URL#to_s` for a template and its placeholder values; an unknown
    placeholder is left as written."""

    def fill(match: re.Match[str]) -> str:
        name = match.group(1)
        for key in (name, name[:-1] if name.endswith("_") else None):
            if key is not None and key in values:
                rest = "_" if key != name else ""
                return escape_path(values[key]) + rest
        return match.group(0)

    return sanitize_url(re.sub(r":([a-z_]+)", fill, template))


def document_id(url: str, slug: str) -> str:
    """`Document#id`: the URL's folder (Ruby's `File.dirname`) joined with the
    slug. jekyll-feed makes this absolute for the entry id: `/2016/11/10/snyk`,
    not the page URL `/2016/11/10/snyk.html`."""
    folder = url.rstrip("/").rsplit("/", 1)[0]
    return folder.rstrip("/") + "/" + slug


def categories_from_path(relative: str) -> tuple[str, ...]:
    """The folders above `_posts` (or `_drafts`): `en/news/_posts/x.md` is in
    categories en and news. Folders inside `_posts` are not categories."""
    parts = relative.split("/")
    for index, part in enumerate(parts[:-1]):
        if part in ("_posts", "_drafts"):
            return tuple(p for p in parts[:index] if p)
    return ()


# -- front matter defaults ---------------------------------------------------------


def defaults_for(sets: list[dict[str, Any]], relative: str, kind: str = "posts") -> dict[str, Any]:
    """`FrontmatterDefaults#all`: the values of every `defaults` set whose scope
    (path prefix or glob, and type) covers the file, the most specific last."""
    merged: dict[str, Any] = {}
    old_scope: dict[str, Any] | None = None
    for item in sets:
        found = item.get("scope")
        scope: dict[str, Any] = found if isinstance(found, dict) else {}
        if not _applies(scope, relative, kind):
            continue
        values = item["values"]
        if old_scope is None or _precedes(old_scope, scope):
            merged = deep_merge(merged, values)
            old_scope = scope
        else:
            merged = deep_merge(values, merged)
    return merged


def _scope_path(scope: dict[str, Any]) -> str:
    path = scope.get("path")
    if not isinstance(path, str):
        return ""
    return path.strip("/") if path.startswith("/") else path.rstrip("/") if path else ""


def _applies(scope: dict[str, Any], relative: str, kind: str) -> bool:
    wanted = scope.get("type")
    if wanted is not None:
        wanted = {"post": "posts", "draft": "drafts", "page": "pages"}.get(str(wanted), str(wanted))
        if wanted != kind:
            return False
    path = _scope_path(scope)
    if not path:
        return True
    if "*" in path:
        return _glob(path).match(relative) is not None
    return relative.startswith(path)


@lru_cache(maxsize=64)
def _glob(pattern: str) -> re.Pattern[str]:
    out = []
    i = 0
    while i < len(pattern):
        if pattern.startswith("**", i):
            out.append(".*")
            i += 2
        elif pattern[i] == "*":
            out.append("[^/]*")
            i += 1
        elif pattern[i] == "?":
            out.append("[^/]")
            i += 1
        else:
            out.append(re.escape(pattern[i]))
            i += 1
    return re.compile("".join(out))


def _precedes(old: dict[str, Any], new: dict[str, Any]) -> bool:
    new_path, old_path = _scope_path(new), _scope_path(old)
    if len(new_path) != len(old_path):
        return len(new_path) >= len(old_path)
    if "type" in new:
        return True
    return "type" not in old


def deep_merge(base: dict[str, Any], over: dict[str, Any]) -> dict[str, Any]:
    """`Utils.deep_merge_hashes`: `over` wins; mappings merge; a null keeps `base`."""
    out = dict(base)
    for key, value in over.items():
        if value is None and key in out:
            continue
        if isinstance(value, dict) and isinstance(out.get(key), dict):
            out[key] = deep_merge(out[key], value)
        else:
            out[key] = value
    return out


# -- dates ------------------------------------------------------------------------

MONTHS = {
    m: i + 1
    for i, m in enumerate(
        ("jan", "feb", "mar", "apr", "may", "jun", "jul", "aug", "sep", "oct", "nov", "dec")
    )
}
# Zone abbreviations Ruby's Date._parse knows that real posts use; others are ignored.
ZONES = {
    "utc": 0, "gmt": 0, "z": 0, "ut": 0, "wet": 0, "west": 1, "bst": 1, "cet": 1, "cest": 2,
    "met": 1, "mest": 2, "eet": 2, "eest": 3, "msk": 3, "ist": 5.5, "sgt": 8, "hkt": 8,
    "jst": 9, "kst": 9, "aest": 10, "aedt": 11, "nzst": 12, "nzdt": 13, "hst": -10,
    "akst": -9, "akdt": -8, "pst": -8, "pdt": -7, "mst": -7, "mdt": -6, "cst": -6,
    "cdt": -5, "est": -5, "edt": -4, "ast": -4, "adt": -3,
}
_ISO_DATE = re.compile(r"(?<!\d)(\d{4}|\d{2})([-/.])(\d{1,2})\2(\d{1,2})(?!\d)")
_DAY_MONTH = re.compile(
    r"(?<!\d)(\d{1,2})(?:st|nd|rd|th)?\s+([A-Za-z]{3,9})\.?,?\s+(\d{4})(?!\d)", re.I
)
_MONTH_DAY = re.compile(
    r"\b([A-Za-z]{3,9})\.?\s+(\d{1,2})(?:st|nd|rd|th)?,?\s+(\d{4})(?!\d)", re.I
)
_TIME = re.compile(
    r"(?:^|[\sT])(\d{1,2}):(\d{2})(?::(\d{2})(?:[.,](\d+))?)?"
    r"(?:\s*([ap])\.?m\.?(?![a-z]))?"
    r"(?:\s*(z\b|[+-]\d{1,2}(?::?\d{2})?(?!\d)|[a-z]{1,4}\b))?",
    re.I,
)


def parse_time(text: str, local: tzinfo) -> datetime | None:
    """What Ruby's `Time.parse` makes of `text`, in `local` when it names no zone;
    None when Ruby would raise. A zone counts only right after the time, as in
    Ruby: `2023-01-29 18:30:22 2023 -0800` is 18:30:22 local time."""
    found = _find_date(text)
    if found is None:
        return None
    (year, month, day), end = found
    hour = minute = second = micro = 0
    zone: tzinfo = local
    match = _TIME.search(text, end)
    if match:
        hour, minute = int(match.group(1)), int(match.group(2))
        second = int(match.group(3) or 0)
        micro = int((match.group(4) or "0")[:6].ljust(6, "0"))
        meridian = (match.group(5) or "").lower()
        if meridian:
            if not 1 <= hour <= 12:
                return None
            hour = hour % 12 + (12 if meridian == "p" else 0)
        named = _zone(match.group(6) or "")
        if named is not None:
            zone = named
    try:
        return datetime(year, month, day, hour, minute, second, micro, tzinfo=zone)
    except ValueError:
        return None


def _find_date(text: str) -> tuple[tuple[int, int, int], int] | None:
    match = _ISO_DATE.search(text)
    if match:
        year = int(match.group(1))
        if len(match.group(1)) == 2:
            year += 2000 if year < 69 else 1900
        return (year, int(match.group(3)), int(match.group(4))), match.end()
    match = _DAY_MONTH.search(text)
    if match and match.group(2)[:3].lower() in MONTHS:
        month = MONTHS[match.group(2)[:3].lower()]
        return (int(match.group(3)), month, int(match.group(1))), match.end()
    match = _MONTH_DAY.search(text)
    if match and match.group(1)[:3].lower() in MONTHS:
        month = MONTHS[match.group(1)[:3].lower()]
        return (int(match.group(3)), month, int(match.group(2))), match.end()
    return None


def _zone(text: str) -> tzinfo | None:
    if not text:
        return None
    if text[0] in "+-":
        digits = text[1:].replace(":", "")
        hours = int(digits[:2]) if len(digits) >= 2 and len(digits) != 3 else int(digits[:1])
        minutes = int(digits[-2:]) if len(digits) in (3, 4) else 0
        if len(digits) == 3:
            hours = int(digits[0])
        delta = timedelta(hours=hours, minutes=minutes)
        if delta >= timedelta(hours=24):
            return None
        return timezone(-delta if text[0] == "-" else delta)
    offset = ZONES.get(text.lower())
    if offset is None:
        return None
    return UTC if offset == 0 else timezone(timedelta(hours=offset))


def front_matter_date(value: Any, local: tzinfo) -> datetime | None:
    """A front matter `date` as Jekyll reads it: a YAML timestamp without a zone
    is UTC (Psych), a YAML date is local midnight, a string goes through
    `Time.parse` in the site's zone."""
    if isinstance(value, datetime):
        return value if value.tzinfo else value.replace(tzinfo=UTC)
    if isinstance(value, date):
        return datetime.combine(value, time(), tzinfo=local)
    if isinstance(value, (str, int)):
        return parse_time(str(value), local)
    return None
