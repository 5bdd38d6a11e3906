"""The digest's HTML part in headless Chromium at 375 and 600 px, with its
`<style>` block and without it (as clients that strip it show it): nothing
runs off the right edge, images keep their own size up to the container's.
Screenshots are saved (and copied under $PUBLISHER_ARTIFACTS/digest/)."""

from __future__ import annotations

import os
import re
import shutil
import struct
import zlib
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from publisher.app import pipeline
from publisher.store.store import Store

from .browser_support import start_browser
from .delivery_support import NOW, SECRET, make_site, parse, write_config

WIDTHS = (375, 600)
POSTS = {
    "2026-03-01-results.md": (
        "title: Quarterly results are in, and a title long enough to wrap on a phone screen\n"
        "date: 2026-03-01T09:00:00\nimage: {path: img/chart.png, alt: Revenue by quarter}\n"
        "author: Desk",
        "| Quarter | Revenue |\n|---|---|\n| Q1 | 41.2 |\n\nRevenue rose again this "
        "quarter, driven by the new subscription plans and a steady rise in renewals.\n",
    ),
    "2026-03-01-wide.md": (
        "title: A wide photograph\ndate: 2026-03-01T08:30:00\n"
        "image: {path: img/wide.png, alt: A wide street at dusk}",
        "A photograph wider than the email, which must shrink to fit.\n",
    ),
    "2026-03-01-tokyo.md": (
        'title: "東京の読者のみなさんへ、今週の記事をお届けします"\ndate: 2026-03-01T08:00:00',
        "東京の読者のみなさん、こんにちは。今週の記事をお届けします。" * 6 + "\n",
    ),
    "2026-03-01-arabic.md": (
        'title: "أخبار الأسبوع في المدينة"\ndate: 2026-03-01T07:00:00',
        "هذه فقرة باللغة العربية عن أخبار الأسبوع في المدينة.\n",
    ),
}


def png(width: int, height: int, rgb: tuple[int, int, int]) -> bytes:
    """A solid-colour PNG, made here (no image library needed)."""
    row = b"\x00" + bytes(rgb) * width
    raw = zlib.compress(row * height)

    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(
            ">I", zlib.crc32(kind + data) & 0xFFFFFFFF)

    header = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", raw) + chunk(
        b"IEND", b"")


@pytest.fixture
def browser(tmp_path: Path) -> Iterator[Any]:
    driver = start_browser(tmp_path / "profile")
    try:
        yield driver
    finally:
        driver.quit()


def digest_html(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> str:
    monkeypatch.setenv("PUBLISHER_SECRET", SECRET)
    folder = tmp_path / "content"
    folder.mkdir(parents=True)
    for name, (front, body) in POSTS.items():
        (folder / name).write_text(f"---\n{front}\n---\n\n{body}", encoding="utf-8")
    write_config(tmp_path)
    config = make_site(tmp_path, posts=0)
    state = Store.open(config.state_file)
    try:
        with state.transaction():
            state.subscribers.add("ann.lee@example.com", "Ann Lee", NOW, first_name="Ann")
    finally:
        state.close()
    pipeline.publish(config, NOW)
    (eml,) = config.resolve(".publisher/outbox").glob("*.eml")
    html: str = list(parse(eml.read_bytes()).iter_parts())[1].get_content()
    return html


def test_the_digest_fits_375_and_600_px_with_and_without_its_style_block(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, browser: Any
) -> None:
    html = digest_html(tmp_path / "site", monkeypatch)
    pages = tmp_path / "pages"
    pages.mkdir()
    # Local images, so the browser fetches nothing from the network: a chart
    # smaller than the column (must not be upscaled) and a photo wider than it.
    (pages / "chart.png").write_bytes(png(300, 150, (26, 95, 180)))
    (pages / "wide.png").write_bytes(png(1200, 400, (120, 120, 110)))
    html = re.sub(r'src="https://[^"]*/img/([a-z]+\.png)"', r'src="\1"', html)
    assert "https://" not in re.sub(r'href="[^"]*"', "", html)  # nothing else to fetch
    variants = {
        "styled": html,
        "unstyled": re.sub(r"<style>.*?</style>", "", html, flags=re.DOTALL),
    }
    assert "<style>" not in variants["unstyled"]
    shots = tmp_path / "screenshots"
    shots.mkdir()
    saved = []
    for variant, page in variants.items():
        path = pages / f"{variant}.html"
        path.write_text(page, encoding="utf-8")
        for width in WIDTHS:
            browser.execute_cdp_cmd("Emulation.setDeviceMetricsOverride", {
                "width": width, "height": 900, "deviceScaleFactor": 1, "mobile": width < 600})
            browser.get(path.as_uri())
            scroll = browser.execute_script("return document.documentElement.scrollWidth")
            assert scroll <= width, f"{variant} at {width} px: content is {scroll} px wide"
            images = browser.execute_script(
                "return [...document.images].map(i => [i.getAttribute('src'), i.naturalWidth,"
                " i.getBoundingClientRect().width, i.getBoundingClientRect().right])")
            for src, natural, shown, right in images:
                assert natural > 0, f"{src} did not load"
                assert shown <= natural + 0.5, f"{src} upscaled to {shown} px at {width} px"
                assert right <= width, f"{src} runs off the edge at {width} px"
            chart = next(i for i in images if i[0] == "chart.png")
            assert chart[2] == 300  # its own size: the column is wider at both widths
            height = browser.execute_script("return document.documentElement.scrollHeight")
            browser.execute_cdp_cmd("Emulation.setDeviceMetricsOverride", {
                "width": width, "height": min(int(height), 4000), "deviceScaleFactor": 1,
                "mobile": width < 600})
            shot = shots / f"digest-{variant}-{width}.png"
            browser.get_screenshot_as_file(str(shot))
            saved.append(shot)
    target = os.environ.get("PUBLISHER_ARTIFACTS")
    if target:
        folder = Path(target) / "digest"
        folder.mkdir(parents=True, exist_ok=True)
        for shot in saved:
            shutil.copy2(shot, folder / shot.name)
    assert len(saved) == 4
