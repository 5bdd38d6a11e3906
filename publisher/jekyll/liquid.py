"""Liquid as Jekyll renders it in a post, with python-liquid.

Jekyll's objects (`site` with `site.data`, `site.posts`, `site.categories`,
`site.tags` and every _config key; `page`; `jekyll`), its tags (`link`,
`post_url`, `include` and `include_relative` from `_includes/` with
parameters, `highlight` with `linenos`; `raw` and `comment` are Liquid's)
and the filters it adds (`relative_url`, `absolute_url`, `date_to_xmlschema`,
`xml_escape`, `markdownify`, `slugify`, `jsonify`, `where`, `where_exp`,
`group_by`, …). A tag no one registered (a Ruby plugin's) is dropped, never
printed raw; `posts` warns about it with the file and line when it reads the
post. Everything else that goes wrong is a warning with the line, and the
rest of the post still renders.

Only posts that contain `{{` or `{%` are rendered with Liquid.
"""

from __future__ import annotations

import html
import json
import re
import threading
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, tzinfo
from functools import cached_property, lru_cache
from io import StringIO
from pathlib import Path
from typing import TYPE_CHECKING, Any, TextIO
from urllib.parse import quote, quote_plus, urlsplit

from .rules import DATE_FILENAME, parse_time, slugify
from .rules import settings as read_settings

if TYPE_CHECKING:
    from collections.abc import Sequence

    from liquid.stream import TokenStream
    from liquid.token import Token

    from ..config.settings import Config, JekyllSite
    from ..model import Post

JEKYLL_VERSION = "4.3.1"  # what `jekyll.version` says: the Jekyll these rules follow
# Tags Liquid and Jekyll know: `posts` warns about any other `{% name %}`.
BLOCK_TAGS = frozenset(
    ("capture", "case", "comment", "for", "if", "ifchanged", "tablerow", "unless", "highlight",
     "raw", "doc")
)
KNOWN_TAGS = BLOCK_TAGS | frozenset(
    ("assign", "break", "continue", "cycle", "decrement", "echo", "else", "elsif", "when",
     "increment", "liquid", "render", "include", "include_relative", "link", "post_url")
) | frozenset("end" + name for name in BLOCK_TAGS)
TAG_NAME = re.compile(r"\{%-?\s*(\w+)")
RAW_BLOCK = re.compile(r"\{%-?\s*raw\s*-?%\}.*?\{%-?\s*endraw\s*-?%\}", re.S)
COMMENT_BLOCK = re.compile(r"\{%-?\s*comment\s*-?%\}.*?\{%-?\s*endcomment\s*-?%\}", re.S)


def has_liquid(text: str) -> bool:
    """Jekyll renders a document with Liquid only when it has `{%` or `{{`."""
    return "{%" in text or "{{" in text


def unknown_tags(body: str) -> list[tuple[int, str]]:
    """(line in `body`, name) of every tag neither Liquid nor Jekyll knows."""
    if "{%" not in body:
        return []
    blanked = body
    for pattern in (RAW_BLOCK, COMMENT_BLOCK):
        blanked = pattern.sub(lambda m: "\n" * m.group(0).count("\n"), blanked)
    found = []
    for match in TAG_NAME.finditer(blanked):
        if match.group(1) not in KNOWN_TAGS:
            found.append((blanked.count("\n", 0, match.start()) + 1, match.group(1)))
    return found


@dataclass
class LiquidSite:
    """The site as Liquid sees it, made once per run (lazily: `site.posts` and
    `site.data` are built on first use)."""

    root: Path
    settings: dict[str, Any]
    site_url: str  # with baseurl and a trailing slash
    tz: tzinfo
    posts: tuple[Post, ...]  # every post of the run, published or not
    now: datetime
    smart: bool = True
    jekyll: JekyllSite | None = None  # for the front matter defaults of `page`
    by_name: dict[str, Post] = field(default_factory=dict)

    @classmethod
    def of(cls, config: Config, posts: Sequence[Post], now: datetime) -> LiquidSite | None:
        """The Liquid site of a Jekyll site's run; None for a plain posts folder."""
        site = config.jekyll_site
        if site is None:
            return None
        return cls(
            root=Path(site.root),
            settings=read_settings(site).raw,
            site_url=config.site_url,
            tz=config.tz,
            posts=tuple(posts),
            now=now,
            smart=config.jekyll.smart_quotes,
            jekyll=site,
        )

    def __post_init__(self) -> None:
        self.by_name = {post.name: post for post in self.posts}

    @property
    def baseurl(self) -> str:
        value = self.settings.get("baseurl")
        return "/" + str(value).strip("/") if value and str(value).strip("/") else ""

    def path_of(self, post: Post) -> str:
        """The post's site-relative URL (Jekyll's `page.url`)."""
        url = post.url
        return "/" + url[len(self.site_url) :] if url.startswith(self.site_url) else url

    def relative_url(self, path: str) -> str:
        if urlsplit(path).scheme:
            return path
        path = path if path.startswith("/") else "/" + path
        return _normalize(self.baseurl + path)

    def absolute_url(self, path: str) -> str:
        if urlsplit(path).scheme:
            return path
        origin = str(self.settings.get("url") or "").rstrip("/")
        return origin + self.relative_url(path)

    def post_drop(self, post: Post) -> dict[str, Any]:
        path = self.path_of(post)
        return {
            "title": post.title,
            "url": path,
            "date": post.date.astimezone(self.tz),
            "id": path.rsplit("/", 1)[0] + "/" + _slug(post),
            "categories": list(post.categories),
            "tags": list(post.tags),
            "path": post.name,
            "relative_path": post.name,
            "slug": _slug(post),
            "excerpt": post.excerpt or "",
            "collection": "posts",
            "draft": False,
            "author": post.author.name if post.author else None,
            "image": post.image.url if post.image else None,
        }

    @cached_property
    def site_drop(self) -> Mapping[str, Any]:
        return _SiteDrop(self)

    @cached_property
    def data(self) -> dict[str, Any]:
        return read_data(self.root / str(self.settings.get("data_dir") or "_data"))

    @cached_property
    def includes(self) -> Path:
        return self.root / str(self.settings.get("includes_dir") or "_includes")


def _slug(post: Post) -> str:
    stem = post.name.rsplit("/", 1)[-1].rsplit(".", 1)[0]
    match = DATE_FILENAME.match(post.name)
    return re.sub(r"\.+$", "", match.group(4)) if match else stem


def _normalize(url: str) -> str:
    """What Addressable's normalize does to a path Jekyll builds: non-ASCII and
    spaces percent-encoded."""
    return quote(url, safe="/:@-._~!$&'()*+,;=%?#[]")


class _SiteDrop(Mapping[str, Any]):
    """`site`: the _config keys, plus posts, data, categories, tags and time, built on use."""

    def __init__(self, site: LiquidSite) -> None:
        self.site = site
        self.cache: dict[str, Any] = {}

    def _computed(self, key: str) -> Any:
        site = self.site
        if key == "posts":
            shown = [p for p in site.posts if p.visible and p.date <= site.now]
            shown.sort(key=lambda p: p.date, reverse=True)
            return [site.post_drop(p) for p in shown]
        if key in ("categories", "tags"):
            groups: dict[str, list[dict[str, Any]]] = {}
            for drop in self["posts"]:
                for name in drop[key]:
                    groups.setdefault(name, []).append(drop)
            return groups
        if key == "data":
            return site.data
        if key == "time":
            return site.now.astimezone(site.tz)
        if key == "url":
            return str(site.settings.get("url") or "").rstrip("/")
        if key == "baseurl":
            return site.baseurl
        raise KeyError(key)

    def __getitem__(self, key: str) -> Any:
        if key in self.cache:
            return self.cache[key]
        try:
            value = self._computed(key)
        except KeyError:
            value = self.site.settings[key]
        self.cache[key] = value
        return value

    def __iter__(self) -> Iterator[str]:
        yield from dict.fromkeys(
            [*self.site.settings, "posts", "categories", "tags", "data", "time", "url",
             "baseurl"]
        )

    def __len__(self) -> int:
        return sum(1 for _ in self)


def read_data(folder: Path) -> dict[str, Any]:
    """`site.data`: every .yml, .yaml, .json, .csv and .tsv file under `folder`,
    by name (sub-folders nest)."""
    # lazy: csv and PyYAML, only for a Jekyll site's _data folder
    import csv  # noqa: PLC0415

    import yaml  # noqa: PLC0415

    data: dict[str, Any] = {}
    if not folder.is_dir():
        return data
    for path in sorted(folder.rglob("*")):
        if not path.is_file() or path.name.startswith((".", "_")):
            continue
        target = data
        for part in path.relative_to(folder).parts[:-1]:
            target = target.setdefault(part, {})
        try:
            text = path.read_text(encoding="utf-8")
            suffix = path.suffix.lower()
            if suffix in (".yml", ".yaml"):
                target[path.stem] = yaml.safe_load(text)
            elif suffix == ".json":
                target[path.stem] = json.loads(text)
            elif suffix in (".csv", ".tsv"):
                dialect = "excel-tab" if suffix == ".tsv" else "excel"
                target[path.stem] = list(csv.DictReader(StringIO(text), dialect=dialect))
        except (OSError, UnicodeDecodeError, ValueError, yaml.YAMLError):
            continue  # Jekyll would stop the build; a feed can do without it
    return data


# -- rendering ---------------------------------------------------------------------

_LOCK = threading.Lock()


@dataclass
class Rendering:
    """What one post's rendering needs and what it found wrong."""

    site: LiquidSite
    post: Post | None
    source_dir: Path
    problems: list[tuple[int | None, str]] = field(default_factory=list)


def render(
    source: str, site: LiquidSite, post: Post | None, page: dict[str, Any]
) -> tuple[str, list[tuple[int | None, str]]]:
    """`source` rendered; and (line in `source`, message) for each problem met."""
    env = environment()
    source_dir = Path(post.path).parent if post is not None else site.root
    state = Rendering(site, post, source_dir)
    with _LOCK:
        env.current = state
        try:
            template = env.from_string(source)
            output = template.render(
                site=site.site_drop,
                page=page,
                jekyll={"version": JEKYLL_VERSION, "environment": "production"},
                paginator={},
            )
        except Exception as exc:  # noqa: BLE001 - python-liquid may raise anything; never lose a post
            state.problems.append((None, f"Liquid failed ({exc}); its tags were removed"))
            output = re.sub(r"\{%.*?%\}|\{\{.*?\}\}", "", source, flags=re.S)
        finally:
            env.current = None
    return output, state.problems


def _line(token: Token | None) -> int | None:
    if token is None or not getattr(token, "source", None) or token.start_index < 0:
        return None
    return token.source.count("\n", 0, token.start_index) + 1


@lru_cache(maxsize=1)
def environment() -> Any:
    """The one Jekyll Liquid environment of this process (python-liquid imported now)."""
    return _make_environment()


def _make_environment() -> Any:
    # lazy: python-liquid, only when a post has Liquid (every render loads this module)
    from liquid import Environment, Mode  # noqa: PLC0415
    from liquid.exceptions import LiquidError  # noqa: PLC0415

    class _Filters(dict[str, Callable[..., Any]]):
        """An unknown filter (a plugin's) passes its value through, with a warning."""

        env: Any = None

        def __missing__(self, name: str) -> Callable[..., Any]:
            state = self.env.current if self.env is not None else None
            if state is not None:
                state.problems.append(
                    (None, f"unknown Liquid filter '{name}' (a Jekyll plugin's?): "
                           "its value is left as it was")
                )
            return lambda value, *args, **kwargs: value

    class JekyllEnvironment(Environment):  # type: ignore[misc]
        current: Rendering | None = None

        def __init__(self) -> None:
            super().__init__(tolerance=Mode.LAX, strict_filters=True)
            filters = _Filters(self.filters)
            filters.env = self
            self.filters = filters
            _register(self)

        def error(self, exc: Any, msg: str | None = None, token: Token | None = None) -> None:
            if not isinstance(exc, LiquidError):
                exc = exc(msg, token=token)
            state = self.current
            if state is None:
                return
            message = getattr(exc, "message", None) or str(exc).splitlines()[0]
            if message.startswith("unexpected tag"):
                return  # unknown tags: reported by `posts` (with the line), dropped here
            state.problems.append((_line(exc.token or token), f"Liquid: {message}"))

    return JekyllEnvironment()


def _state(context: Any) -> Rendering:
    state: Rendering | None = context.env.current
    assert state is not None
    return state


def _register(env: Any) -> None:
    """Jekyll's tags and filters on the Liquid environment `env`. (The tag
    classes are made by functions: liquid is imported on first use.)"""
    dropped = _dropped_tag()
    env.add_tag(dropped)
    env.tags["illegal"] = dropped(env)
    env.add_tag(_highlight_tag())
    env.add_tag(_inline_tag("post_url", _post_url))
    env.add_tag(_inline_tag("link", _link))
    env.add_tag(_inline_tag("include", _include))
    env.add_tag(_inline_tag("include_relative", _include_relative))
    for name, fn in FILTERS.items():
        env.add_filter(name, fn)
    for name in CONTEXT_FILTERS:
        fn = CONTEXT_FILTERS[name]
        fn.with_context = True  # type: ignore[attr-defined]
        env.add_filter(name, fn)


def _markup(stream: TokenStream) -> tuple[Token, str]:
    """The tag's token, and the text written after its name ("" if none)."""
    from liquid.token import TOKEN_EXPRESSION  # noqa: PLC0415  # lazy: python-liquid, as _make_environment

    token = stream.current
    if stream.peek.kind == TOKEN_EXPRESSION:
        next(stream)
        return token, stream.current.value.strip()
    return token, ""


def _dropped_tag() -> type:
    """The tag for tags no one registered: rendered as nothing."""
    # lazy: python-liquid, as _make_environment
    from liquid import Tag  # noqa: PLC0415
    from liquid.ast import Node  # noqa: PLC0415

    class Dropped(Tag):  # type: ignore[misc]
        """A tag no one registered: rendered as nothing."""

        name = "illegal"
        block = False

        def parse(self, stream: TokenStream) -> Node:
            token, _ = _markup(stream)
            return _Empty(token)

    class _Empty(Node):  # type: ignore[misc]
        def render_to_output(self, context: Any, buffer: TextIO) -> int:
            return 0

    return Dropped


def _inline_tag(tag_name: str, fn: Callable[[Any, str], str]) -> type:
    """A tag `{% tag_name text %}` that renders as fn(context, text)."""
    # lazy: python-liquid, as _make_environment
    from liquid import Tag  # noqa: PLC0415
    from liquid.ast import Node  # noqa: PLC0415

    class _Inline(Node):  # type: ignore[misc]
        __slots__ = ("markup", "fn")

        def __init__(self, token: Token, markup: str, fn: Callable[[Any, str], str]) -> None:
            super().__init__(token)
            self.markup = markup
            self.fn = fn
            self.blank = False

        def render_to_output(self, context: Any, buffer: TextIO) -> int:
            text = self.fn(context, self.markup)
            buffer.write(text)
            return len(text)

    class InlineTag(Tag):  # type: ignore[misc]
        name = tag_name
        block = False

        def parse(self, stream: TokenStream) -> Node:
            token, text = _markup(stream)
            return _Inline(token, text, fn)

    return InlineTag


def _highlight_tag() -> type:
    """`{% highlight lang [linenos] %}…{% endhighlight %}`, as Rouge writes it."""
    # lazy: python-liquid, as _make_environment
    from liquid import Tag  # noqa: PLC0415
    from liquid.ast import Node  # noqa: PLC0415
    from liquid.exceptions import LiquidSyntaxError  # noqa: PLC0415
    from liquid.parser import get_parser  # noqa: PLC0415
    from liquid.token import TOKEN_EOF, TOKEN_TAG  # noqa: PLC0415

    class _Highlight(Node):  # type: ignore[misc]
        __slots__ = ("lang", "linenos", "body")

        def __init__(self, token: Token, lang: str, linenos: bool, body: Any) -> None:
            super().__init__(token)
            self.lang, self.linenos, self.body = lang, linenos, body
            self.blank = False

        def render_to_output(self, context: Any, buffer: TextIO) -> int:
            inner = StringIO()
            self.body.render(context, inner)
            text = highlight(inner.getvalue(), self.lang, self.linenos)
            buffer.write(text)
            return len(text)

    class HighlightTag(Tag):  # type: ignore[misc]
        name = "highlight"
        end = "endhighlight"

        def parse(self, stream: TokenStream) -> Node:
            token, text = _markup(stream)
            words = text.split()
            lang = words[0].lower() if words else "plaintext"
            linenos = any(w == "linenos" or w.startswith("linenos=") for w in words[1:])
            next(stream)
            body = get_parser(self.env).parse_block(stream, ("endhighlight", TOKEN_EOF))
            if stream.current.kind != TOKEN_TAG:
                self.env.error(LiquidSyntaxError("highlight was never closed", token=token))
            return _Highlight(token, lang, linenos, body)

    return HighlightTag


def highlight(code: str, lang: str, linenos: bool) -> str:
    """Jekyll's highlight block without colours (Rouge is Ruby): the same
    `figure.highlight > pre > code.language-x` markup, on one line so that
    Markdown leaves it whole (newlines become `&#10;` inside the `pre`)."""
    code = re.sub(r"\A[\r\n]+|[\r\n]+\Z", "", code)
    escaped = html.escape(code, quote=False)
    attrs = f'class="language-{lang.replace("+", "-")}" data-lang="{html.escape(lang)}"'
    if linenos:
        count = code.count("\n") + 1
        numbers = "&#10;".join(str(n) for n in range(1, count + 1))
        inner = (
            '<table class="rouge-table"><tbody><tr>'
            f'<td class="gutter gl"><pre class="lineno">{numbers}</pre></td>'
            f'<td class="code"><pre>{escaped.replace(chr(10), "&#10;")}</pre></td>'
            "</tr></tbody></table>"
        )
    else:
        inner = escaped.replace("\n", "&#10;")
    return f'<figure class="highlight"><pre><code {attrs}>{inner}</code></pre></figure>'


# -- tags -----------------------------------------------------------------------------


def _render_markup(context: Any, text: str) -> str:
    if not has_liquid(text):
        return text
    template = context.env.from_string(text)
    buffer = StringIO()
    template.render_with_context(context, buffer, partial=True)
    return buffer.getvalue()


def _warn(context: Any, token_text: str, message: str) -> str:
    _state(context).problems.append((None, f"{token_text}: {message}"))
    return ""


POST_NAME = re.compile(r"^(.+/)*(\d+-\d+-\d+)-(.*)$")


def _post_url(context: Any, text: str) -> str:
    """`{% post_url 2010-07-21-name %}`: the post's URL with the baseurl, by its file name."""
    state = _state(context)
    wanted = text.strip().lstrip("/")
    match = POST_NAME.match(wanted)
    if match is None:
        return _warn(context, f"post_url {wanted}", "not a post name (YYYY-MM-DD-title)")
    folder, day, slug = match.group(1) or "", match.group(2), match.group(3)
    pattern = re.compile(
        rf"(?:^|/)_posts/{re.escape(folder)}{re.escape(day)}-{re.escape(slug)}\.[^./]+$"
        rf"|(?:^|/){re.escape(folder)}_posts/?{re.escape(day)}-{re.escape(slug)}\.[^./]+$"
    )
    for post in state.site.posts:
        if pattern.search(post.name):
            return state.site.relative_url(state.site.path_of(post))
    parsed = parse_time(day, state.site.tz)
    for post in state.site.posts:
        when = post.date.astimezone(state.site.tz)
        if parsed is not None and _slug(post) == slug and when.date() == parsed.date():
            return state.site.relative_url(state.site.path_of(post))
    return _warn(context, f"post_url {wanted}", "no such post; the link is left out")


def _link(context: Any, text: str) -> str:
    """`{% link _posts/2016-01-01-x.md %}` or `{% link about.md %}`: that file's URL."""
    state = _state(context)
    path = _render_markup(context, text).strip().lstrip("/")
    post = state.site.by_name.get(path)
    if post is not None:
        return state.site.relative_url(state.site.path_of(post))
    file = state.site.root / path
    if not file.is_file() or ".." in Path(path).parts:
        return _warn(context, f"link {path}", "no such file in the site; the link is left out")
    return state.site.relative_url(page_url(file, path, state.site.settings))


def page_url(file: Path, path: str, settings: dict[str, Any]) -> str:
    """The URL Jekyll gives a page or static file: its permalink, else its path
    with .html for Markdown and HTML (index pages end in /)."""
    stem, _, suffix = path.rpartition(".")
    markdown_exts = {
        e.strip().lower()
        for e in str(settings.get("markdown_ext") or "markdown,mkdown,mkdn,mkd,md").split(",")
    }
    converted = suffix.lower() in markdown_exts | {"html", "htm"}
    try:
        head = file.read_text(encoding="utf-8")[:4096]
    except (OSError, UnicodeDecodeError):
        head = ""
    if head.startswith("---"):
        found = re.search(r"^permalink:\s*['\"]?([^'\"\n]+)", head, re.M)
        if found:
            return found.group(1).strip()
    if not converted or not stem:
        return "/" + path
    if stem == "index" or stem.endswith("/index"):
        return "/" + stem[: -len("index")]
    pretty = str(settings.get("permalink") or "") == "pretty"
    return "/" + stem + ("/" if pretty else ".html")


INCLUDE_PARAM = re.compile(
    r"""([\w-]+)\s*=\s*(?:"([^"\\]*(?:\\.[^"\\]*)*)"|'([^'\\]*(?:\\.[^'\\]*)*)'|([\w.-]+))"""
)


def _include(context: Any, text: str) -> str:
    return _include_from(context, text, _state(context).site.includes, "include")


def _include_relative(context: Any, text: str) -> str:
    return _include_from(context, text, _state(context).source_dir, "include_relative")


def _include_from(context: Any, text: str, folder: Path, tag: str) -> str:
    """Jekyll's include: a file name (or `{{ variable }}`), then `key=value` parameters
    that the included file reads as `include.key`."""
    match = re.match(r"\s*(\{\{.*?\}\}\S*|\S+)(.*)$", text, re.S)
    if match is None:
        return _warn(context, tag, "needs a file name")
    name = _render_markup(context, match.group(1)).strip()
    if ".." in name.split("/") or name.startswith("/"):
        return _warn(context, f"{tag} {name}", "the file must be inside the folder")
    file = folder / name
    try:
        source = file.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError):
        return _warn(context, f"{tag} {name}", f"no such file in {folder.name}/; left out")
    params: dict[str, Any] = {}
    for found in INCLUDE_PARAM.finditer(match.group(2)):
        key, double, single, variable = found.groups()
        if double is not None:
            params[key] = double.replace('\\"', '"')
        elif single is not None:
            params[key] = single.replace("\\'", "'")
        else:
            params[key] = context.resolve(variable.split(".")[0], default=None)
            for part in variable.split(".")[1:]:
                params[key] = params[key].get(part) if isinstance(params[key], Mapping) else None
    template = context.env.from_string(source)
    buffer = StringIO()
    with context.extend({"include": params}):
        template.render_with_context(context, buffer, partial=True)
    return buffer.getvalue()


# -- filters ---------------------------------------------------------------------------


def _date(value: Any, context: Any = None) -> datetime | None:
    if isinstance(value, datetime):
        return value
    if isinstance(value, date):
        return datetime(value.year, value.month, value.day)
    if isinstance(value, str):
        tz = _state(context).site.tz if context is not None else None
        return parse_time(value, tz or UTC)
    return None


def _xmlschema(value: Any, context: Any) -> Any:
    when = _date(value, context)
    return when.isoformat(timespec="seconds") if when else value


def _rfc822(value: Any, context: Any) -> Any:
    when = _date(value, context)
    return when.strftime("%a, %d %b %Y %H:%M:%S %z") if when else value


def _to_string(value: Any, kind: str = "", style: str = "", *, context: Any) -> Any:
    when = _date(value, context)
    return _date_text(when, "%b", kind, style) if when else value


def _to_long_string(value: Any, kind: str = "", style: str = "", *, context: Any) -> Any:
    when = _date(value, context)
    return _date_text(when, "%B", kind, style) if when else value


def _date_text(when: datetime, month: str, kind: str, style: str) -> str:
    if kind == "ordinal":
        day = when.day
        suffix = "th" if 11 <= day % 100 <= 13 else {1: "st", 2: "nd", 3: "rd"}.get(day % 10, "th")
        if style == "US":
            return when.strftime(f"{month} ") + f"{day}{suffix}, {when.year}"
        return f"{day}{suffix} " + when.strftime(f"{month} %Y")
    if style == "US":
        return when.strftime(f"{month} ") + f"{when.day:02d}, {when.year}"
    return when.strftime(f"%d {month} %Y")


def _relative_url(value: Any, *, context: Any) -> Any:
    return _state(context).site.relative_url(str(value)) if value is not None else value


def _absolute_url(value: Any, *, context: Any) -> Any:
    return _state(context).site.absolute_url(str(value)) if value is not None else value


def _markdownify(value: Any, *, context: Any) -> str:
    from .markdown import to_html  # noqa: PLC0415  # lazy: markdown-it, only for this filter on a plain run

    return to_html(str(value or ""), _state(context).site.smart)


def _smartify(value: Any) -> str:
    from .typography import smartify  # noqa: PLC0415  # lazy: only for this filter

    return smartify(str(value or ""))


def _jsonify(value: Any) -> str:
    return json.dumps(value, default=str, ensure_ascii=False)


def _xml_escape(value: Any) -> str:
    return html.escape(str(value), quote=True) if value is not None else ""


def _where(items: Any, prop: Any, value: Any) -> list[Any]:
    """Jekyll's where: compares as strings; a list property matches when it contains the value."""
    out = []
    for item in _seq(items):
        got = item.get(str(prop)) if isinstance(item, Mapping) else None
        if isinstance(got, (list, tuple)):
            if str(value) in [str(g) for g in got]:
                out.append(item)
        elif str(got if got is not None else "") == str(value if value is not None else ""):
            out.append(item)
    return out


def _where_exp(items: Any, variable: Any, expression: Any, *, context: Any) -> list[Any]:
    template = context.env.from_string(f"{{% if {expression} %}}1{{% endif %}}")
    out = []
    for item in _seq(items):
        buffer = StringIO()
        with context.extend({str(variable): item}):
            template.render_with_context(context, buffer, partial=True)
        if buffer.getvalue() == "1":
            out.append(item)
    return out


def _group_by(items: Any, prop: Any) -> list[dict[str, Any]]:
    groups: dict[str, list[Any]] = {}
    for item in _seq(items):
        got = item.get(str(prop)) if isinstance(item, Mapping) else None
        groups.setdefault("" if got is None else str(got), []).append(item)
    return [{"name": k, "items": v, "size": len(v)} for k, v in groups.items()]


def _seq(items: Any) -> list[Any]:
    if isinstance(items, Mapping):
        return list(items.values())
    if isinstance(items, (list, tuple)):
        return list(items)
    return [] if items is None else [items]


def _sentence(items: Any, connector: str = "and") -> str:
    words = [str(i) for i in _seq(items)]
    if len(words) < 3:
        return f" {connector} ".join(words)
    return ", ".join(words[:-1]) + f", {connector} " + words[-1]


def _to_integer(value: Any) -> Any:
    if value is True or value is False:
        return int(value)
    try:
        return int(float(str(value)))
    except ValueError:
        return value


FILTERS: dict[str, Callable[..., Any]] = {
    "smartify": _smartify,
    "slugify": lambda value, mode="default", cased=False: slugify(
        str(value) if value is not None else None, str(mode), bool(cased)
    ),
    "xml_escape": _xml_escape,
    "cgi_escape": lambda value: quote_plus(str(value)),
    "uri_escape": lambda value: quote(str(value), safe="!#$&'()*+,/:;=?@[]~-._%"),
    "jsonify": _jsonify,
    "normalize_whitespace": lambda value: " ".join(str(value).split()),
    "number_of_words": lambda value, mode="": len(str(value).split()),
    "array_to_sentence_string": _sentence,
    "to_integer": _to_integer,
    "where": _where,
    "group_by": _group_by,
    "push": lambda items, value: [*_seq(items), value],
    "unshift": lambda items, value: [value, *_seq(items)],
    "pop": lambda items, n=1: _seq(items)[: -int(n)] if int(n) else _seq(items),
    "shift": lambda items, n=1: _seq(items)[int(n) :],
    "sample": lambda items, n=1: _seq(items)[: int(n)] if int(n) != 1 else next(
        iter(_seq(items)), None
    ),
    "inspect": lambda value: json.dumps(value, default=str),
    "strip_index": lambda value: re.sub(r"/index\.html?$", "/", str(value)) if value else value,
}
CONTEXT_FILTERS: dict[str, Callable[..., Any]] = {
    "relative_url": _relative_url,
    "absolute_url": _absolute_url,
    "date_to_xmlschema": lambda value, *, context: _xmlschema(value, context),
    "date_to_rfc822": lambda value, *, context: _rfc822(value, context),
    "date_to_string": _to_string,
    "date_to_long_string": _to_long_string,
    "markdownify": _markdownify,
    "where_exp": _where_exp,
}
