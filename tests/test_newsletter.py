"""The digest email as a reader's client gets it: real messages from the
outbox, parsed with the email package, their HTML walked with lxml."""

from __future__ import annotations

import re
from pathlib import Path

import lxml.html
import pytest

from publisher.app import pipeline
from publisher.config.settings import Config
from publisher.digest.letter import cut, display_width, wrap
from publisher.store.store import Store

from .delivery_support import NOW, SECRET, parse, write_config

LONG_EXCERPT = (
    "A first paragraph long enough that the preheader has to be cut somewhere in the "
    "middle of it, which must happen between two words and never inside one of them."
)
POSTS = {
    "2026-03-01-chart.md": (
        "title: Quarterly results\ndate: 2026-03-01T09:00:00\n"
        "image: {path: img/chart.png, alt: Revenue rose in every quarter}",
        "| Quarter | Revenue (€m) | Change |\n|---|---|---|\n| Q1 2026 | 41.2 | +3 |\n\n"
        f"{LONG_EXCERPT}\n",
    ),
    "2026-03-01-unit.md": (
        "title: A systemd unit\ndate: 2026-03-01T08:00:00\nimage: img/unit.png",
        "## Setup\n\n```ini\n[Unit]\n\nDescription=publisher\n```\n\n"
        "![](img/diagram.png)\n\n<form><input name=q></form>\n\nRun it as a service.\n",
    ),
    "2026-03-01-arabic.md": (
        'title: "مرحبا بالعالم"\ndate: 2026-03-01T07:00:00',
        "هذه فقرة باللغة العربية تنتهي بنقطة.\n",
    ),
    "2026-03-01-tokyo.md": (
        'title: "東京の読者のみなさんへ、長いタイトルが'
        'どのように折り返されるかを確かめるための記事です"\ndate: 2026-03-01T06:00:00',
        "東京の読者のみなさん、こんにちは。" * 12 + "\n",
    ),
}


def site(tmp_path: Path, posts: dict[str, tuple[str, str]] = POSTS, **digest: object) -> Config:
    folder = tmp_path / "content"
    folder.mkdir(parents=True, exist_ok=True)
    for name, (front, body) in posts.items():
        (folder / name).write_text(f"---\n{front}\n---\n\n{body}", encoding="utf-8")
    path = write_config(tmp_path)
    if digest:
        text = path.read_text().replace("[digest]\n", "[digest]\n" + "".join(
            f"{k} = {v!r}\n".replace("'", '"') for k, v in digest.items()))
        path.write_text(text)
    from publisher.config import settings as config_mod

    return config_mod.load(path)


def mail(config: Config, monkeypatch: pytest.MonkeyPatch, first_name: str = "Ann") -> bytes:
    monkeypatch.setenv("PUBLISHER_SECRET", SECRET)
    state = Store.open(config.state_file)
    try:
        with state.transaction():
            state.subscribers.add("ann.lee@example.com", "Ann Lee", NOW, first_name=first_name)
    finally:
        state.close()
    result = pipeline.publish(config, NOW)
    assert result.delivery is not None and result.delivery.sent == 1
    (eml,) = config.resolve(".publisher/outbox").glob("*.eml")
    return eml.read_bytes()


def parts(raw: bytes) -> tuple[str, str]:
    text, html = (p.get_content() for p in parse(raw).iter_parts())
    return text, html


def styles(element: lxml.html.HtmlElement) -> dict[str, str]:
    style = element.get("style") or ""
    found = {}
    for item in style.split(";"):
        if ":" in item:
            key, value = item.split(":", 1)
            found[key.strip().lower()] = value.strip().lower().replace("!important", "").strip()
    return found


def test_layout_holds_without_the_style_block(tmp_path: Path,
                                              monkeypatch: pytest.MonkeyPatch) -> None:
    _, html = parts(mail(site(tmp_path), monkeypatch))
    tree = lxml.html.fromstring(html)
    containers = tree.find_class("container")
    assert containers
    for table in containers:
        # Fluid when a client strips <style>: the inline style alone does it.
        assert styles(table)["width"] == "100%" and styles(table)["max-width"] == "600px"
    for img in tree.iter("img"):
        assert img.get("height") is None and img.get("width") is None  # never upscaled
        css = styles(img)
        assert css["max-width"] == "100%" and css["height"] == "auto"
        assert "font-family" in css and "color" in css  # styled alt text, images blocked
    assert 'height="auto"' not in html


def test_text_and_links_read_well(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    config = site(tmp_path, postal_address="1 Main Street, Springfield, USA")
    text, html = parts(mail(config, monkeypatch))
    tree = lxml.html.fromstring(html)
    titles = tree.find_class("post-title")
    assert titles and all(t.get("dir") == "auto" for t in titles)
    assert all(p.get("dir") == "auto" for p in tree.find_class("post-excerpt"))
    excerpts = [p.text_content() for p in tree.find_class("post-excerpt")]
    # Prose, not the table, the code, the heading or the form.
    assert LONG_EXCERPT in excerpts and "Run it as a service." in excerpts
    assert not any("Quarter" in e or "[Unit]" in e or "Setup" in e for e in excerpts)
    # Alt text as written, never the title again; none when there is none.
    alts = [img.get("alt") for img in tree.iter("img")]
    assert alts == ["Revenue rose in every quarter", ""]
    # Every link text says where it goes: none repeated for another target.
    targets: dict[str, set[str]] = {}
    for a in tree.iter("a"):
        targets.setdefault(" ".join(a.text_content().split()), set()).add(a.get("href"))
    assert all(len(hrefs) == 1 for hrefs in targets.values()), targets
    assert "Read “Quarterly results”" in targets
    # Preheader: the first post's excerpt, cut between words.
    (pre,) = tree.find_class("preheader")
    shown = pre.text_content().split("\u034f")[0].strip()
    assert shown.endswith("…") and LONG_EXCERPT.startswith(shown[:-1].rstrip())
    assert LONG_EXCERPT[len(shown) - 1] == " "
    assert "color" not in styles(pre)
    # Greeting by first name; the To line keeps the whole name.
    assert "Hi Ann, here are 4 new posts from Example News." in text
    assert "Hi Ann, here are 4 new posts" in " ".join(tree.text_content().split())
    assert "1 Main Street, Springfield, USA" in text and "1 Main Street" in html


def _luminance(colour: str) -> float:
    colour = colour.lstrip("#")
    if len(colour) == 3:
        colour = "".join(c * 2 for c in colour)
    channels = [int(colour[i : i + 2], 16) / 255 for i in (0, 2, 4)]
    lin = [c / 12.92 if c <= 0.03928 else ((c + 0.055) / 1.055) ** 2.4 for c in channels]
    return 0.2126 * lin[0] + 0.7152 * lin[1] + 0.0722 * lin[2]


def contrast(a: str, b: str) -> float:
    la, lb = sorted((_luminance(a), _luminance(b)), reverse=True)
    return (la + 0.05) / (lb + 0.05)


def test_every_text_passes_wcag_aa(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    _, html = parts(mail(site(tmp_path, postal_address="1 Main Street"), monkeypatch))
    tree = lxml.html.fromstring(html)
    checked = 0
    for element in tree.iter():
        if not isinstance(element.tag, str) or element.tag in ("style", "title", "head"):
            continue
        own = (element.text or "").strip()
        if not own or any("preheader" in (a.get("class") or "")
                          for a in element.iterancestors()) or \
                "preheader" in (element.get("class") or ""):
            continue
        colour = next((styles(e)["color"] for e in [element, *element.iterancestors()]
                       if "color" in styles(e)), "#000000")
        background = next(
            (styles(e).get("background-color") or e.get("bgcolor")
             for e in [element, *element.iterancestors()]
             if (styles(e).get("background-color") or e.get("bgcolor") or "transparent")
             != "transparent"),
            "#ffffff",
        )
        ratio = contrast(colour, background)
        assert ratio >= 4.5, f"{own!r}: {colour} on {background} is {ratio:.2f}:1"
        checked += 1
    assert checked > 10


def test_one_new_post_and_n_more_posts(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    one = {"2026-03-01-a.md": ("title: Only one\ndate: 2026-03-01T09:00:00", "Body.\n")}
    text, html = parts(mail(site(tmp_path / "one", one), monkeypatch))
    assert "here is 1 new post from" in text and "1 new posts" not in text
    many = {f"2026-03-01-p{i}.md": (f"title: Post {i}\ndate: 2026-03-01T0{i}:00:00", "Body.\n")
            for i in range(4)}
    config = site(tmp_path / "many", many, max_posts=1, subject="{new_posts}: {first_title}")
    raw = mail(config, monkeypatch)
    text, html = parts(raw)
    assert "here are 4 new posts from" in text
    assert parse(raw)["Subject"] == "4 new posts: Post 3"
    tree = lxml.html.fromstring(html)
    (more,) = [a for a in tree.iter("a") if "3 more posts" in a.text_content()]
    assert more.get("href") == "https://news.example.org/digest/index.html"


def test_cjk_text_part_is_wrapped_by_display_width(tmp_path: Path,
                                                    monkeypatch: pytest.MonkeyPatch) -> None:
    text, _ = parts(mail(site(tmp_path), monkeypatch))
    lines = text.replace("\r\n", "\n").split("\n")
    assert any("東京" in line for line in lines)
    for line in lines:
        if "://" not in line:
            assert display_width(line) <= 72, line
    # The long title is wrapped too, not cut.
    assert "どのように折り返されるかを確かめるための記事です" in text.replace("\r\n", "").replace(
        "\n", "")


def test_a_cjk_digest_fits_the_encoded_budget(tmp_path: Path,
                                              monkeypatch: pytest.MonkeyPatch) -> None:
    """Quoted-printable makes a CJK character 9 bytes: the budget is on the
    encoded part, and base64 (4 bytes) is chosen when it is smaller."""
    posts = {
        f"2026-03-01-jp{i:02d}.md": (
            f'title: "日本語の記事 {i}"\ndate: 2026-03-01T{i % 10:02d}:00:00\n'
            f'excerpt: "{"これは日本語の抜粋です。" * 30}"',
            "本文。\n",
        )
        for i in range(20)
    }
    config = site(tmp_path, posts, max_posts=20)
    raw = mail(config, monkeypatch)
    msg = parse(raw)
    html_part = list(msg.iter_parts())[1]
    assert html_part["Content-Transfer-Encoding"] == "base64"
    encoded = raw.split(b"Content-Type: text/html", 1)[1].split(b"\r\n\r\n", 1)[1]
    encoded = encoded.split(b"\r\n--", 1)[0]
    assert len(encoded) <= config.digest.max_html_bytes
    assert "日本語の記事" in html_part.get_content()


@pytest.mark.parametrize(
    ("text", "limit", "expected"),
    [
        ("short", 10, "short"),
        ("Hello world, this is long", 14, "Hello world…"),
        ("東京の読者のみなさん", 5, "東京の読…"),
    ],
)
def test_cut_at_a_word_boundary(text: str, limit: int, expected: str) -> None:
    assert cut(text, limit) == expected


def test_wrap_keeps_closing_punctuation_off_the_line_start() -> None:
    wrapped = wrap("あ" * 35 + "。" + "い" * 10, 72)
    assert not any(line.startswith("。") for line in wrapped.split("\n"))
    assert re.fullmatch(r"[^\n]+\n[^\n]+", wrapped)


def test_floating_images_still_get_align_for_outlook() -> None:
    from publisher.digest.letter import inline_css

    html = (
        "<html><head><style>.right { float: right }</style></head><body>"
        '<img class="right" src="a.png" alt=""><img style="float:left" src="b.png" alt="">'
        '<img src="c.png" alt=""></body></html>'
    )
    images = lxml.html.fromstring(inline_css(html)).findall(".//img")
    assert [img.get("align") for img in images] == ["right", "left", None]
    # Without any float the step is skipped (it costs cssutils' whole grammar).
    plain = lxml.html.fromstring(inline_css(html.replace("float", "clear")))
    assert all(img.get("align") is None for img in plain.findall(".//img"))
