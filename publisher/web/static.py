"""`out/` under `/site/`, for previewing the site locally as a static host would serve it.

Each answer carries a strong `ETag` (a hash of the bytes) and `Last-Modified`
(the file's modification time), and a conditional GET whose validator still
matches gets `304 Not Modified` with no body. Feeds are written only when their
bytes change, so both validators stay the same until the content does.
"""

from __future__ import annotations

import hashlib
import mimetypes
import os
from dataclasses import dataclass
from email.utils import formatdate, parsedate_to_datetime
from pathlib import Path

from starlette.requests import Request
from starlette.responses import Response

from ..config.settings import Config
from .security import PREVIEW_CSP


@dataclass(frozen=True)
class _Cached:
    stamp: tuple[int, int, int]  # inode, size, mtime_ns
    etag: str


def content_types(config: Config) -> dict[str, str]:
    """File name -> Content-Type for the feeds, whatever they are called."""
    types = {
        config.feeds.atom: "application/atom+xml; charset=utf-8",
        config.feeds.rss: "application/rss+xml; charset=utf-8",
    }
    json_feed = getattr(config.feeds, "json", "feed.json")
    if isinstance(json_feed, str) and json_feed:
        types[json_feed] = "application/feed+json; charset=utf-8"
    return types


_BY_SUFFIX = {
    ".html": "text/html; charset=utf-8",
    ".htm": "text/html; charset=utf-8",
    ".txt": "text/plain; charset=utf-8",
    ".xml": "application/xml; charset=utf-8",
    ".json": "application/json",
    ".css": "text/css; charset=utf-8",
    ".js": "text/javascript; charset=utf-8",
    ".svg": "image/svg+xml",
}


class SitePreview:
    def __init__(self, config: Config) -> None:
        self.root = config.out_dir
        self.by_name = content_types(config)
        self.etags: dict[str, _Cached] = {}

    def content_type(self, relative: str, path: Path) -> str:
        known = self.by_name.get(relative)
        if known:
            return known
        by_suffix = _BY_SUFFIX.get(path.suffix.lower())
        if by_suffix:
            return by_suffix
        guessed, _ = mimetypes.guess_type(path.name)
        return guessed or "application/octet-stream"

    def find(self, relative: str) -> tuple[str, Path] | None:
        """The file for a URL path under /site/, never outside out/ and never hidden."""
        parts = [p for p in relative.split("/") if p]
        if any(p.startswith(".") or "\\" in p or "\x00" in p for p in parts):
            return None
        # Every OSError here is a name the file system refuses (a part longer
        # than 255 bytes, a path longer than PATH_MAX: ENAMETOOLONG) or cannot
        # follow (a symlink loop): no file of the site has it, so 404.
        try:
            root = self.root.resolve()
            path = root.joinpath(*parts) if parts else root
            if path.is_dir():
                parts.append("index.html")
                path = path / "index.html"
            real = path.resolve(strict=True)
            if not real.is_relative_to(root) or not real.is_file():
                return None
        except (OSError, RuntimeError, ValueError):
            return None
        return "/".join(parts), real

    def etag(self, path: Path, st: os.stat_result, data: bytes) -> str:
        stamp = (st.st_ino, st.st_size, st.st_mtime_ns)
        cached = self.etags.get(str(path))
        if cached is not None and cached.stamp == stamp:
            return cached.etag
        tag = '"' + hashlib.sha256(data).hexdigest()[:32] + '"'
        self.etags[str(path)] = _Cached(stamp, tag)
        return tag

    def respond(self, request: Request, relative: str) -> Response | None:
        """The response for GET or HEAD of /site/<relative>; None when there is no such file."""
        found = self.find(relative)
        if found is None:
            return None
        name, path = found
        try:
            st = path.stat()
            data = path.read_bytes()
        except OSError:
            return None
        etag = self.etag(path, st, data)
        headers = {
            "etag": etag,
            "last-modified": formatdate(st.st_mtime, usegmt=True),
            # A preview: always revalidate, which is one cheap 304.
            "cache-control": "no-cache",
            "content-security-policy": PREVIEW_CSP,
        }
        if not_modified(request, etag, st.st_mtime):
            return Response(status_code=304, headers=headers)
        headers["content-type"] = self.content_type(name, path)
        if request.method == "HEAD":
            headers["content-length"] = str(len(data))
            return Response(status_code=200, headers=headers)
        return Response(data, status_code=200, headers=headers)


def not_modified(request: Request, etag: str, mtime: float) -> bool:
    """RFC 9110 section 13.2.2: If-None-Match wins; If-Modified-Since only without it."""
    match = request.headers.get("if-none-match")
    if match is not None:
        if match.strip() == "*":
            return True
        tags = {t.strip().removeprefix("W/") for t in match.split(",")}
        return etag in tags
    since = request.headers.get("if-modified-since")
    if since is None:
        return False
    try:
        when = parsedate_to_datetime(since)
    except (TypeError, ValueError):
        return False
    if when is None:
        return False
    return int(mtime) <= when.timestamp()
