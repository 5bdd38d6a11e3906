"""Turn a post's body into HTML and a plain-text excerpt.

Rendering costs far more than reading front matter, so it happens only for the
posts that a feed or a digest will hold. Every relative URL is made absolute
against the post's URL: feed readers and mail clients have no base to resolve
it against.
"""

from __future__ import annotations

import html
import logging
import re
from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from functools import lru_cache
from typing import TYPE_CHECKING
from urllib.parse import urljoin

import nh3

from ..model import Post, Problem, printable, xml_illegal, xml_text
from .posts import read_body, read_page
from .urls import safe_srcset, safe_url

if TYPE_CHECKING:
    from markdown_it import MarkdownIt

    # Only a type here: the caller hands the cache in, so this module loads
    # without the cache module and the cache never needs this one.
    from ..incremental.cache import RenderCache
    from ..jekyll.liquid import LiquidSite

log = logging.getLogger(__name__)

URL_ATTRIBUTES = {"href", "src", "poster", "cite", "background"}
# A Markdown reference-link definition; Jekyll keeps those an excerpt uses.
LINK_DEFINITION = re.compile(r"^ {0,3}(\[[^\]]+\])(:.+)$", re.M)
SRCSET_ATTRIBUTES = {"srcset"}
EXCERPT_LIMIT = 600
# Source text rendered for an excerpt: far more than EXCERPT_LIMIT characters
# of text, and a bound on the work a huge first paragraph can cost.
EXCERPT_SOURCE_LIMIT = 64 * 1024
# nh3 (html5ever) takes time quadratic in nesting depth: 100,000 nested <div>s
# cost a minute. Real posts nest a few dozen levels; deeper ones are hostile
# and published as text (see `tame`).
MAX_NESTING = 500
_TAG = re.compile(r"<(/?)([A-Za-z][A-Za-z0-9:-]*)[^>]*>")
# Elements that never hold others (void), or that the HTML parser closes by
# itself when the next one starts: neither makes the tree deeper.
_FLAT = frozenset({
    "area", "base", "br", "col", "embed", "hr", "img", "input", "link", "meta", "source",
    "track", "wbr", "p", "li", "dt", "dd", "option", "optgroup", "tr", "td", "th", "tbody",
    "thead", "tfoot", "rb", "rt", "rp", "colgroup", "caption",
})

# Feed content keeps what a reader can show; scripts, styles and forms go.
FEED_TAGS = set(nh3.ALLOWED_TAGS) | {
    "figure",
    "figcaption",
    "picture",
    "source",
    "video",
    "audio",
    "track",
    "iframe",
    "details",
    "summary",
    "mark",
    "section",
    "aside",
}
# Email clients are stricter still: no iframes or media elements.
EMAIL_TAGS = FEED_TAGS - {"iframe", "video", "audio", "track", "source", "picture"}
GENERIC_ATTRIBUTES = {"title", "lang", "dir", "id", "class"}
TAG_ATTRIBUTES: dict[str, set[str]] = {
    "a": {"href", "hreflang", "name"},
    "img": {"src", "srcset", "sizes", "alt", "width", "height", "loading"},
    "source": {"src", "srcset", "sizes", "type", "media"},
    "video": {"src", "poster", "controls", "width", "height", "loop", "muted"},
    "audio": {"src", "controls", "loop"},
    "track": {"src", "kind", "srclang", "label"},
    "iframe": {"src", "width", "height", "allowfullscreen", "title"},
    "td": {"colspan", "rowspan", "align"},
    "th": {"colspan", "rowspan", "align", "scope"},
    "ol": {"start", "reversed", "type"},
    "blockquote": {"cite"},
    "q": {"cite"},
    "del": {"cite"},
    "ins": {"cite"},
    "abbr": {"title"},
    "time": {"datetime"},
}
ATTRIBUTES = {"*": GENERIC_ATTRIBUTES, **TAG_ATTRIBUTES}


@dataclass(frozen=True)
class Rendered:
    post: Post
    html: str  # full body, URLs absolute, sanitised for feeds
    excerpt: str  # plain text
    problems: tuple[Problem, ...] = ()  # what Liquid met (a Jekyll site's posts only)


@lru_cache(maxsize=1)
def _markdown() -> MarkdownIt:
    from markdown_it import MarkdownIt  # noqa: PLC0415  # lazy: a render-cache hit loads render.py but renders nothing

    return MarkdownIt("commonmark", {"html": True}).enable(["table", "strikethrough"])


def to_html(source: str, fmt: str, jekyll: LiquidSite | None = None) -> str:
    if fmt == "markdown":
        if jekyll is not None:
            from ..jekyll.markdown import to_html as kramdown_like  # noqa: PLC0415  # lazy: Jekyll sites only

            return kramdown_like(source, jekyll.smart)
        rendered: str = _markdown().render(source)
        return rendered
    if fmt == "text":
        blocks = [b.strip() for b in re.split(r"\n\s*\n", source) if b.strip()]
        return "".join(
            "<p>" + html.escape(b).replace("\n", "<br>\n") + "</p>\n" for b in blocks
        )
    return source


def too_deep(fragment: str, limit: int = MAX_NESTING) -> bool:
    """True if elements in `fragment` nest more than `limit` deep (one linear scan)."""
    if fragment.count("<") <= limit:
        return False  # the common case: not even that many tags
    depth = 0
    for m in _TAG.finditer(fragment):
        name = m.group(2).lower()
        if name in _FLAT or m.group(0).endswith("/>"):
            continue
        if m.group(1):
            depth = max(depth - 1, 0)
        else:
            depth += 1
            if depth > limit:
                return True
    return False


def tame(fragment: str) -> str:
    """`fragment`, or its text as one escaped paragraph when it nests too deep
    for the sanitiser to handle in reasonable time."""
    if not too_deep(fragment):
        return fragment
    text = " ".join(html.unescape(_TAG.sub(" ", fragment)).split())
    return f"<p>{html.escape(text, quote=False)}</p>\n"


def _safe_attribute(tag: str, attribute: str, value: str) -> str | None:
    """Only web addresses in URL attributes (and mailto: in links); see `urls`."""
    if attribute in URL_ATTRIBUTES:
        return safe_url(value, allow_mailto=attribute == "href")
    if attribute in SRCSET_ATTRIBUTES:
        return safe_srcset(value)
    return value


def absolutize(fragment: str, base_url: str, tags: set[str] | None = None) -> str:
    """Sanitise `fragment` and make every URL in it absolute against `base_url`.

    A URL that is not a web address afterwards (`javascript:`, `data:`) is
    removed with its attribute; a fragment nested too deep becomes its text.
    """

    def fix(tag: str, attribute: str, value: str) -> str | None:
        if attribute in URL_ATTRIBUTES:
            value = urljoin(base_url, value.strip())
        elif attribute in SRCSET_ATTRIBUTES:
            value = _absolute_srcset(value, base_url)
        return _safe_attribute(tag, attribute, value)

    cleaned: str = nh3.clean(
        tame(fragment),
        tags=tags if tags is not None else FEED_TAGS,
        attributes=ATTRIBUTES,
        attribute_filter=fix,
        link_rel=None,
        strip_comments=True,
    )
    return cleaned


def _absolute_srcset(value: str, base_url: str) -> str:
    candidates = []
    for candidate in value.split(","):
        parts = candidate.strip().split(None, 1)
        if not parts:
            continue
        url = urljoin(base_url, parts[0])
        candidates.append(" ".join([url, *parts[1:]]))
    return ", ".join(candidates)


def plain_text(fragment: str) -> str:
    """Visible text of an HTML fragment, whitespace collapsed."""
    text = nh3.clean(tame(fragment), tags=set())
    return " ".join(html.unescape(text).split())


def excerpt_of(
    post: Post, body: str, jekyll: LiquidSite | None = None, html_body: str | None = None
) -> str:
    """The plain-text summary: front matter `description` or `excerpt`, else the
    body up to the excerpt separator, else its first block that reads as prose
    (tables, code, headings, forms and image-only paragraphs are passed over).
    Markdown link definitions the excerpt uses come along, as in Jekyll.

    A Jekyll site keeps Jekyll's own rule, the first paragraph with text, not
    shortened, as jekyll-feed shows it. `html_body` is `to_html(body)` when the
    caller has it already.
    """
    if post.excerpt is not None:
        return plain_text(to_html(post.excerpt, post.format, jekyll))
    if post.excerpt_separator and post.excerpt_separator in body:
        chunk, _, rest = body.partition(post.excerpt_separator)
        return plain_text(to_html(_with_definitions(chunk, rest), post.format, jekyll))
    if jekyll is not None:
        # Jekyll's default: the first paragraph. Skip blocks with no text (images).
        # Blocks are found one at a time: a 50 MB body is not split whole.
        start = 0
        for gap in _BLANK_LINE.finditer(body + "\n\n"):
            block, start = body[start : gap.start()], gap.end()
            if block.strip():
                source = _with_definitions(block[:EXCERPT_SOURCE_LIMIT], body[start:])
                text = plain_text(to_html(source, post.format, jekyll))
                if text:
                    return text
        return ""
    # Elsewhere: the first block that reads as prose. Without the converted
    # body (a post published with its summary only), only its beginning is
    # converted: the summary is in it, and a 50 MB body costs no more.
    converted = (
        html_body if html_body is not None
        else to_html(body[:EXCERPT_SOURCE_LIMIT], post.format)
    )
    return _shorten(first_prose(converted))


# Leading blocks that do not read as prose in a summary: "Quarter Revenue (€m)
# Change Q1 2026 41.2…" from a table, "[Unit] Description=…" from code.
_NOT_PROSE = {"table", "pre", "h1", "h2", "h3", "h4", "h5", "h6", "form", "hr", "script",
              "style", "figure", "img", "picture", "svg", "iframe", "video", "audio",
              "select", "textarea", "noscript", "template", "dl"}


def first_prose(fragment: str) -> str:
    """The plain text of the first top-level block of `fragment` that reads as
    prose: not a table, code block, heading or form, and not a paragraph of
    images alone (which has no text). Text and inline elements outside any
    block (an .html post) count as one block of their own."""
    from html.parser import HTMLParser  # noqa: PLC0415  # lazy: only when an excerpt is made, not on a cache hit

    class Blocks(HTMLParser):
        def __init__(self) -> None:
            super().__init__(convert_charrefs=True)
            self.depth = 0  # open block elements
            self.skip = False  # inside a top-level block that is not prose
            self.text: list[str] = []
            self.found = ""

        def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
            if tag not in _BLOCKS:
                return  # inline: its text belongs to the block around it
            if self.depth == 0:
                self.flush()
                self.skip = tag in _NOT_PROSE
            if tag not in _VOID:
                self.depth += 1

        def handle_endtag(self, tag: str) -> None:
            if tag not in _BLOCKS or tag in _VOID or self.depth == 0:
                return
            self.depth -= 1
            if self.depth == 0:
                self.flush()

        def handle_data(self, data: str) -> None:
            if not self.skip or self.depth == 0:
                self.text.append(data)

        def flush(self) -> None:
            text = " ".join("".join(self.text).split())
            if text and not self.skip and not self.found:
                self.found = text
            self.text, self.skip = [], False

    parser = Blocks()
    parser.feed(fragment)
    parser.close()
    parser.flush()
    return parser.found


_BLOCKS = _NOT_PROSE | {
    "p", "div", "ul", "ol", "li", "blockquote", "section", "article", "aside", "header",
    "footer", "main", "nav", "details", "summary", "address", "center", "dd", "dt",
    "figcaption",
}
_VOID = {"hr", "img"}



_BLANK_LINE = re.compile(r"\n\s*\n")


def _with_definitions(head: str, tail: str) -> str:
    """`head` and the reference-link definitions in `tail` that it uses."""
    if "[" not in head or "]:" not in tail:
        return head
    used = [m.group(0).strip() for m in LINK_DEFINITION.finditer(tail) if m.group(1) in head]
    return head + "\n\n" + "\n".join(used) if used else head


def _shorten(text: str, limit: int = EXCERPT_LIMIT) -> str:
    if len(text) <= limit:
        return text
    cut = text[:limit].rsplit(" ", 1)[0]
    return cut.rstrip(",;:.") + "…"


def render(
    post: Post, jekyll: LiquidSite | None = None, max_post_bytes: int | None = None
) -> Rendered:
    """The post's body as sanitised HTML with absolute URLs, and its plain-text excerpt.

    Reads the post's file again (the model holds no bodies), converts Markdown
    or text to HTML, sanitises it for feeds (FEED_TAGS), resolves every
    relative URL against the post's URL and takes the excerpt: the front matter
    `excerpt`, else the text up to the excerpt separator, else the first
    paragraph. Raises `ContentError` if the file can no longer be read.

    Cost: the expensive step of a run (~0.6 ms a typical post, more for long
    ones), which is why only the posts a feed or a digest shows are rendered,
    through a `Renderer`.

    A post over `max_post_bytes` is published with its summary only, so its
    body is never converted or sanitised: `html` is "".
    """
    body = read_body(post)
    if max_post_bytes is not None and post.size > max_post_bytes:
        return Rendered(post=post, html="", excerpt=excerpt_of(post, body, jekyll))
    problems: tuple[Problem, ...] = ()
    if jekyll is not None:
        from ..jekyll.liquid import has_liquid  # noqa: PLC0415  # lazy: Jekyll sites only

        if has_liquid(body):
            body, problems = _liquid(post, body, jekyll)
    converted = to_html(body, post.format, jekyll)
    if too_deep(converted):
        log.warning(
            "%s: HTML elements nest more than %d levels deep: published as plain text",
            printable(post.name), MAX_NESTING,
        )
        converted = tame(converted)
    full = absolutize(converted, post.url)
    excerpt = excerpt_of(post, body, jekyll, converted)
    return Rendered(post=post, html=full, excerpt=excerpt, problems=problems)


def _liquid(post: Post, body: str, jekyll: LiquidSite) -> tuple[str, tuple[Problem, ...]]:
    """The body with Liquid rendered as Jekyll would, and what went wrong (with lines)."""
    from ..jekyll.liquid import render as render_liquid  # noqa: PLC0415  # lazy: Jekyll sites only

    page, first_line = read_page(post, jekyll)
    output, found = render_liquid(body, jekyll, post, page)
    problems = tuple(
        Problem(
            post.name,
            message,
            line=first_line + line - 1 if line is not None else None,
            severity="warning",
        )
        for line, message in found
    )
    for problem in problems:
        log.warning("%s", problem)
    return output, problems


@dataclass
class Renderer:
    """Renders each post at most once per run, only when asked.

    With `stored`, a post whose file is unchanged since an earlier run rendered
    it is taken from that cache, and what is rendered now is put in it; `save`
    writes it back at the end of the run.
    """

    memo: dict[str, Rendered] = field(default_factory=dict)
    stored: RenderCache | None = None  # what earlier runs rendered
    jekyll: LiquidSite | None = None  # a Jekyll site: Liquid and kramdown-like Markdown
    max_post_bytes: int | None = None  # [content] max_post_bytes: bigger posts, summary only

    def __call__(self, posts: Sequence[Post]) -> list[Rendered]:
        out = []
        for post in posts:
            item = self.memo.get(post.key)
            if item is None:
                known = self.stored.get(post) if self.stored is not None else None
                if known is not None:
                    item = Rendered(post=post, html=known[0], excerpt=known[1])
                else:
                    item = render(post, self.jekyll, self.max_post_bytes)
                    if self.stored is not None:
                        self.stored.put(post, item.html, item.excerpt)
                item = finish(item)
                self.memo[post.key] = item
            out.append(item)
        return out

    def save(self) -> None:
        if self.stored is not None:
            self.stored.save()


def finish(item: Rendered) -> Rendered:
    """The one boundary every text of a post passes on its way to XML (Atom,
    RSS), JSON and email: what XML cannot carry is removed here, with one
    warning naming the post's file.

    The file's own text was cleaned as it was read (`posts.read_text`); what
    reaches this point besides comes from everywhere Liquid and Jekyll take
    text: an include, a data file, a site setting, front matter defaults, an
    author in `_data/authors`, a file name. Cost: a regexp search per text of
    the posts a feed or digest shows, and nothing else when all are clean.
    """
    post = item.post
    author = post.author
    image = post.image
    texts = {
        "body": item.html,
        "summary": item.excerpt,
        "title": post.title,
        "author": f"{author.name}\n{author.email}\n{author.uri}" if author else "",
        "categories": "\n".join(post.categories),
        "tags": "\n".join(post.tags),
        "image": image.alt if image else "",
        "id": post.key,
    }
    found = {field: xml_illegal(text) for field, text in texts.items()}
    dirty = [field for field, codes in found.items() if codes]
    if not dirty:
        return item
    codes = ", ".join(sorted({c for f in dirty for c in found[f].split(", ")}))
    problem = Problem(
        post.name,
        f"removed control characters not allowed in XML ({codes}) from its "
        f"{', '.join(dirty)}: they came from an include, a data file, a Liquid variable, "
        "the site settings or the file name; remove them there",
        severity="warning",
    )
    log.warning("%s", problem)
    post = replace(
        post,
        title=xml_text(post.title),
        author=replace(author, name=xml_text(author.name), email=xml_text(author.email),
                       uri=xml_text(author.uri)) if author else None,
        categories=tuple(xml_text(c) for c in post.categories),
        tags=tuple(xml_text(t) for t in post.tags),
        image=replace(image, alt=xml_text(image.alt)) if image else None,
        key=xml_text(post.key),
    )
    return Rendered(
        post=post,
        html=xml_text(item.html),
        excerpt=xml_text(item.excerpt),
        problems=(*item.problems, problem),
    )


def for_email(fragment: str) -> str:
    """Post HTML as an email may carry it: no scripts, handlers, forms or embeds."""
    cleaned: str = nh3.clean(
        tame(fragment),
        tags=EMAIL_TAGS,
        attributes=ATTRIBUTES,
        attribute_filter=_safe_attribute,
        link_rel=None,
    )
    return cleaned
