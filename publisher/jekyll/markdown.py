"""Markdown as Jekyll's kramdown (GFM input) writes it, where a feed reader sees it.

markdown-it (CommonMark, tables, strikethrough) with the plugins made for
the rest: footnotes and definition lists from mdit-py-plugins; and small
rules here for what kramdown adds:

- inline attribute lists: `{: .class #id key="value"}` after a block (on the
  next line), before one, or right after a span (`*a*{: .x}`); header ids
  written `## Title {#id}`; `{:toc}` lists, ALDs and `{::options /}` dropped;
- math: `$$…$$` kept for MathJax exactly as kramdown outputs it, `\\(…\\)`
  inline and `\\[…\\]` for a block, backslashes untouched;
- header ids as kramdown's GFM parser makes them (lower case, word
  characters and hyphens, `-1`, `-2` for repeats);
- typography: smart quotes, dashes, ellipses, guillemets (kramdown's default).
"""

from __future__ import annotations

import html
import re
from functools import lru_cache
from typing import TYPE_CHECKING

from markdown_it import MarkdownIt
from mdit_py_plugins.deflist import deflist_plugin
from mdit_py_plugins.footnote import footnote_plugin

from .typography import symbols

if TYPE_CHECKING:
    from markdown_it.rules_block import StateBlock
    from markdown_it.rules_core import StateCore
    from markdown_it.rules_inline import StateInline
    from markdown_it.token import Token

IAL = re.compile(r"\{:(?!:)\s*([^}]*)\}")
IAL_ONLY = re.compile(r"^\s*\{:(?!:)[^}]*\}\s*$")
EXTENSION_ONLY = re.compile(r"^\s*\{::[^}]*/?\}\s*$")
ALD = re.compile(r"^\s*\{:[\w-]+:[^}]*\}\s*$")
HEADER_ID = re.compile(r"\s*\{#([A-Za-z][\w:.-]*)\}\s*$")
ATTRIBUTE = re.compile(
    r"""([.#][\w:-]+)|([\w-]+)\s*=\s*(?:"([^"]*)"|'([^']*)'|([^\s"']+))|([\w-]+)"""
)
GFM_NON_WORD = re.compile(r"[^\w\- \t]")
BLOCK_CLOSERS = {"fence", "code_block", "html_block", "hr", "math_block"}


@lru_cache(maxsize=2)
def markdown(smart: bool = True) -> MarkdownIt:
    md = MarkdownIt("commonmark", {"html": True, "typographer": smart})
    md.enable(["table", "strikethrough"])
    md.use(footnote_plugin, inline=False)
    md.use(deflist_plugin)
    md.block.ruler.before("paragraph", "math_block", _math_block)
    md.inline.ruler.before("escape", "math_inline", _math_inline)
    md.add_render_rule("math_block", lambda self, tokens, idx, options, env: tokens[idx].content)
    md.add_render_rule("math_inline", lambda self, tokens, idx, options, env: tokens[idx].content)
    md.core.ruler.after("inline", "kramdown_ial", _ial)
    if smart:
        md.enable("smartquotes")
        md.core.ruler.before("smartquotes", "kramdown_symbols", _symbols)
    md.core.ruler.push("kramdown_header_ids", _header_ids)
    return md


# kramdown replaces a list marked {:toc} with a table of contents; a feed has no use for one.
TOC_LIST = re.compile(r"^[ \t]*(?:[*+-]|1\.)[ \t]+.*\n[ \t]*\{:[ \t]*toc[ \t]*\}[ \t]*$", re.M)


def to_html(source: str, smart: bool = True) -> str:
    if "toc" in source:
        source = TOC_LIST.sub("", source)
    rendered: str = markdown(smart).render(source)
    return rendered


# -- math ---------------------------------------------------------------------------


def _math_block(state: StateBlock, start: int, end: int, silent: bool) -> bool:
    pos = state.bMarks[start] + state.tShift[start]
    if state.sCount[start] - state.blkIndent >= 4 or not state.src.startswith("$$", pos):
        return False
    line = start
    while line < end:
        text = state.src[state.bMarks[line] + state.tShift[line] : state.eMarks[line]]
        closes = text.rstrip().endswith("$$") and (line > start or len(text.strip()) > 2)
        if not text.strip() and line > start:
            return False  # a blank line before the closing $$: not a math block
        if closes:
            break
        line += 1
    else:
        return False
    if silent:
        return True
    body = state.src[pos : state.eMarks[line]].strip()[2:-2]
    token = state.push("math_block", "", 0)
    token.block = True
    token.content = "\\[" + html.escape(body.strip("\n"), quote=False) + "\\]\n"
    token.map = [start, line + 1]
    state.line = line + 1
    return True


def _math_inline(state: StateInline, silent: bool) -> bool:
    if not state.src.startswith("$$", state.pos):
        return False
    end = state.src.find("$$", state.pos + 2)
    if end < 0 or end == state.pos + 2:
        return False
    if not silent:
        token = state.push("math_inline", "", 0)
        body = state.src[state.pos + 2 : end]
        token.content = "\\(" + html.escape(body, quote=False) + "\\)"
    state.pos = end + 2
    return True


# -- typography ----------------------------------------------------------------------


def _symbols(state: StateCore) -> None:
    for block in state.tokens:
        if block.type != "inline" or not block.children:
            continue
        for token in block.children:
            if token.type == "text" and any(s in token.content for s in ("--", "...", "<<", ">>")):
                token.content = symbols(token.content)


# -- inline attribute lists ----------------------------------------------------------


def parse_ial(text: str) -> dict[str, str]:
    """`.a .b #x k="v"` as attributes; ALD references (bare words) are ignored."""
    attrs: dict[str, str] = {}
    classes: list[str] = []
    for match in ATTRIBUTE.finditer(text):
        short, key = match.group(1), match.group(2)
        if short:
            if short[0] == ".":
                classes.append(short[1:])
            else:
                attrs["id"] = short[1:]
        elif key:
            value = next((g for g in match.group(3, 4, 5) if g is not None), "")
            attrs[key] = value
    if classes:
        attrs["class"] = " ".join(classes)
    return attrs


def _apply(token: Token, attrs: dict[str, str]) -> None:
    for key, value in attrs.items():
        if key == "class" and token.attrGet("class"):
            value = f"{token.attrGet('class')} {value}"
        token.attrSet(key, value)


def _opening(tokens: list[Token], close: int) -> int:
    """The index of the token that opens the block closed at `close`."""
    if tokens[close].nesting != -1:
        return close
    depth = 0
    for index in range(close, -1, -1):
        depth += tokens[index].nesting
        if depth == 0:
            return index
    return close


def _ial(state: StateCore) -> None:
    tokens = state.tokens
    out: list[Token] = []
    pending: dict[str, str] | None = None  # a block IAL that precedes its block
    i = 0
    while i < len(tokens):
        token = tokens[i]
        if token.type == "paragraph_open" and i + 2 < len(tokens):
            inline = tokens[i + 1]
            text = inline.content
            if IAL_ONLY.match(text) or ALD.match(text) or EXTENSION_ONLY.match(text):
                if IAL_ONLY.match(text) and not ALD.match(text):
                    found = IAL.search(text)
                    attrs = parse_ial(found.group(1)) if found else {}
                    after_block = bool(out) and (
                        out[-1].nesting == -1 or out[-1].type in BLOCK_CLOSERS
                    )
                    if after_block and _adjacent(out, token):
                        _apply(out[_opening(out, len(out) - 1)], attrs)
                    else:
                        pending = attrs
                i += 3
                continue
            if inline.children:
                _span_ials(inline.children)
            first, _, rest = text.partition("\n")
            if rest and IAL_ONLY.match(first):
                found = IAL.search(first)
                _apply(token, parse_ial(found.group(1)) if found else {})
                _drop_line(inline, first=True)
            head, _, last = text.rpartition("\n")
            if head and IAL_ONLY.match(last):
                found = IAL.search(last)
                _apply(token, parse_ial(found.group(1)) if found else {})
                _drop_line(inline, first=False)
        elif token.type == "inline" and token.children:
            _span_ials(token.children)
        if token.type == "heading_open" and i + 1 < len(tokens):
            inline = tokens[i + 1]
            found = HEADER_ID.search(inline.content)
            if found and inline.children:
                tail = inline.children[-1]
                if tail.type == "text" and HEADER_ID.search(tail.content):
                    tail.content = HEADER_ID.sub("", tail.content)
                    inline.content = HEADER_ID.sub("", inline.content)
                    token.attrSet("id", found.group(1))
        if pending is not None and token.nesting == 1 and token.level == 0:
            _apply(token, pending)
            pending = None
        out.append(token)
        i += 1
    state.tokens[:] = out


def _adjacent(out: list[Token], paragraph: Token) -> bool:
    """True when the IAL paragraph starts on the line right after the block before it."""
    start = _opening(out, len(out) - 1)
    block = out[start]
    spans = block.map or out[-1].map
    if spans is None or paragraph.map is None:
        return True
    return spans[1] >= paragraph.map[0]


def _drop_line(inline: Token, first: bool) -> None:
    """Remove the IAL line (and its line break) from an inline token's children."""
    children = inline.children or []
    if first:
        while children and children[0].type != "softbreak":
            children.pop(0)
        if children:
            children.pop(0)
        inline.content = inline.content.split("\n", 1)[1]
    else:
        while children and children[-1].type != "softbreak":
            children.pop()
        if children:
            children.pop()
        inline.content = inline.content.rsplit("\n", 1)[0]
    inline.children = children


def _span_ials(children: list[Token]) -> None:
    """`*text*{: .x}`, `[a](b){:target="_blank"}`, `` `c`{: .y} ``."""
    for index, child in enumerate(children):
        if child.type != "text" or not child.content.startswith("{:") or index == 0:
            continue
        found = IAL.match(child.content)
        if not found:
            continue
        previous = children[index - 1]
        target: Token | None = None
        if previous.type == "code_inline" or previous.type == "image":
            target = previous
        elif previous.nesting == -1:
            depth = 0
            for back in range(index - 1, -1, -1):
                depth += children[back].nesting
                if depth == 0:
                    target = children[back]
                    break
        if target is None:
            continue
        _apply(target, parse_ial(found.group(1)))
        child.content = child.content[found.end() :]


# -- header ids ------------------------------------------------------------------


def _header_ids(state: StateCore) -> None:
    """Ids as kramdown's GFM parser makes them (unless an IAL or {#id} set one)."""
    seen: dict[str, int] = {}
    tokens = state.tokens
    for index, token in enumerate(tokens):
        if token.type != "heading_open" or token.attrGet("id"):
            continue
        inline = tokens[index + 1]
        text = "".join(
            c.content for c in (inline.children or []) if c.type in ("text", "code_inline")
        )
        base = GFM_NON_WORD.sub("", html.unescape(text).lower()).replace(" ", "-").replace(
            "\t", "-"
        )
        count = seen.get(base, -1) + 1
        seen[base] = count
        token.attrSet("id", f"{base}-{count}" if count else base)
