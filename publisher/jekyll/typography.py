"""kramdown's typographic symbols and smart quotes, for text outside Markdown.

Jekyll's `smartify` filter (and so jekyll-feed's titles) turns `--` into an
en dash, `---` into an em dash, `...` into an ellipsis, `<<`/`>>` into
guillemets and straight quotes into curly ones. Bodies get the same through
markdown-it's typographer (see `markdown`); this is for plain strings.
"""

from __future__ import annotations

import re

SYMBOLS = (("---", "\u2014"), ("--", "\u2013"), ("...", "\u2026"), ("<<", "\u00ab"),
           (">>", "\u00bb"))
_OPENS_AFTER = set(" \t\n([{\u2014\u2013-/")


def symbols(text: str) -> str:
    for plain, fancy in SYMBOLS:
        if plain in text:
            text = text.replace(plain, fancy)
    return text


def smartify(text: str) -> str:
    """Straight quotes made curly and symbols replaced, as kramdown's SmartyPants
    would; markup (`<…>`) and entities pass through untouched."""
    out: list[str] = []
    before = " "  # the last character of text seen: tags do not count
    for piece in re.split(r"(<[^>]*>)", text):
        if piece.startswith("<") and piece.endswith(">"):
            out.append(piece)
            continue
        out.append(_quotes(symbols(piece), before))
        before = out[-1][-1] if out[-1] else before
    return "".join(out)


def _quotes(text: str, before: str) -> str:
    chars = list(text)
    for i, char in enumerate(chars):
        if char not in "'\"":
            continue
        prev = chars[i - 1] if i else before
        following = chars[i + 1] if i + 1 < len(chars) else " "
        opening = prev in _OPENS_AFTER and not following.isspace()
        if char == "'":
            chars[i] = "\u2018" if opening else "\u2019"
        else:
            chars[i] = "\u201c" if opening else "\u201d"
    return "".join(chars)
