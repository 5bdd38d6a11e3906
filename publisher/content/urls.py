"""Which URLs may reach a feed, an email or a digest page.

A post's front matter and body are written by anyone with access to the
posts folder, and feed readers and mail clients differ in what they do with a
`javascript:` or `data:` URL: some run it, some show it as a link. Only web
addresses go out:

- links (`href`): `http:`, `https:` and `mailto:`;
- everything fetched or shown as a resource (`src`, `srcset`, `poster`, an
  image, an author's `uri`, an icon): `http:` and `https:` only;
- entry ids: `http:`, `https:`, `tag:` (RFC 4151), `urn:`, or a site path
  (made absolute against the site).

Browsers ignore tabs and newlines inside a URL and spaces and control
characters around it (`java\\tscript:` is `javascript:`), so the scheme is
read the way they read it.
"""

from __future__ import annotations

import re
from dataclasses import replace
from urllib.parse import urlsplit

from ..model import Image, Person

WEB = frozenset({"http", "https"})
LINK = WEB | {"mailto"}
ID = WEB | {"tag", "urn"}
_SCHEME = re.compile(r"([A-Za-z][A-Za-z0-9+.\-]*):")
# An address as feeds may print it (RSS <author> must be one): one @, a dot in
# the domain, none of the characters that would end or break it.
_EMAIL = re.compile(r"[^@\s<>()\[\]\\,;:\"]{1,64}@[^@\s<>()\[\]\\,;:\"]+\.[^@\s<>()\[\]\\,;:\"]+")
_IGNORED = re.compile(r"[\t\n\r]")  # removed anywhere by the WHATWG URL parser
_AROUND = "".join(chr(c) for c in range(0x21))  # C0 controls and space, stripped
# The usual absolute URL: lowercase http(s), `//`, a plain host name and then
# the end or a path, query or fragment. Nothing in it is removed or stripped
# before the scheme is read (no tab, newline, control character or space), so
# its scheme is http(s) and urlsplit finds the host: safe_url may take it as it
# is. Every post's own URL and most images are such; checking this costs a
# tenth of the full reading (tests/test_urls.py compares the two).
_PLAIN_WEB = re.compile(r"https?://[A-Za-z0-9.-]+(?:[/?#]|\Z)")


def scheme_of(value: str) -> str | None:
    """The URL's scheme, lowercased, as a browser would read it; None if relative."""
    text = _IGNORED.sub("", value).strip(_AROUND)
    m = _SCHEME.match(text)
    return m.group(1).lower() if m else None


def safe_url(value: str, allow_mailto: bool = False) -> str | None:
    """`value` if it is an absolute http(s) URL (or `mailto:` when `allow_mailto`),
    else None. Relative references are None too: make them absolute first."""
    if _PLAIN_WEB.match(value):
        return value.strip()  # what _checked_url gives for it, in a tenth of the time
    return _checked_url(value, allow_mailto)


def _checked_url(value: str, allow_mailto: bool) -> str | None:
    """safe_url for any value: the scheme and host as a browser reads them."""
    scheme = scheme_of(value)
    if scheme is None or scheme not in (LINK if allow_mailto else WEB):
        return None
    if scheme in WEB and not urlsplit(_IGNORED.sub("", value).strip(_AROUND)).netloc:
        return None  # "http:evil" has no host; browsers guess one
    return value.strip()


def safe_id(value: str) -> bool:
    """True for an entry id that may be published: http(s), tag:, urn:, or a path."""
    if value.startswith(("https:", "http:")):
        return True  # the usual id, the post's URL: scheme_of would say http(s)
    return _checked_id(value)


def _checked_id(value: str) -> bool:
    """safe_id for any value."""
    scheme = scheme_of(value)
    return scheme is None or scheme in ID


def safe_srcset(value: str) -> str | None:
    """A `srcset` with only its http(s) candidates; None if none is left."""
    kept = []
    for candidate in value.split(","):
        parts = candidate.strip().split(None, 1)
        if parts and safe_url(parts[0]) is not None:
            kept.append(" ".join(parts))
    return ", ".join(kept) or None


WEB_ADDRESS = "a web address (http or https)"


def clean_post_urls(
    image: Image | None, author: Person | None, banner: str | None, key: str, url: str
) -> tuple[Image | None, Person | None, str | None, str, list[tuple[str, str, str]]]:
    """A post's URL fields with what may not be published taken out.

    Returns the fields and a list of (front matter key, value, what it should
    have been) for each value dropped, for a warning each. An unsafe `id`
    falls back to the post's URL; an author's `email` that is not an address
    is dropped too (RSS prints it raw in <author>).
    """
    dropped: list[tuple[str, str, str]] = []
    if image is not None and safe_url(image.url) is None:
        dropped.append(("image", image.url, WEB_ADDRESS))
        image = None
    if banner is not None and safe_url(banner) is None:
        dropped.append(("banner_image", banner, WEB_ADDRESS))
        banner = None
    if author is not None and author.uri and safe_url(author.uri) is None:
        dropped.append(("author", author.uri, WEB_ADDRESS))
        author = replace(author, uri="")
    if author is not None and author.email and not (
        len(author.email) <= 254 and _EMAIL.fullmatch(author.email)
    ):
        dropped.append(("author", author.email, "an email address"))
        author = replace(author, email="")
    if not safe_id(key):
        dropped.append(("id", key, "a web address, tag:, urn: or a path"))
        key = url
    return image, author, banner, key, dropped
