from __future__ import annotations

import re
from datetime import datetime, timedelta
from html.parser import HTMLParser

import pytest

from publisher.app.digest import preview
from publisher.app.pipeline import publish
from publisher.digest.letter import NAME_MARK, UNSUBSCRIBE_MARK, personalise
from publisher.errors import OutputError, TemplateError
from publisher.store.store import Store

from .conftest import NOW, SiteDir


class Links(HTMLParser):
    """Collects what a reader of the HTML would see: links, images, text."""

    def __init__(self) -> None:
        super().__init__()
        self.hrefs: list[str] = []
        self.images: list[dict[str, str | None]] = []
        self.text: list[str] = []
        self.tags: list[str] = []
        self.styles: list[str] = []
        self._in_style = False

    def handle_starttag(self, tag, attrs):  # type: ignore[no-untyped-def]
        self.tags.append(tag)
        attrs = dict(attrs)
        if tag == "a" and attrs.get("href"):
            self.hrefs.append(attrs["href"])
        if tag == "img":
            self.images.append(attrs)
        self._in_style = tag == "style"

    def handle_endtag(self, tag):  # type: ignore[no-untyped-def]
        self._in_style = False

    def handle_data(self, data):  # type: ignore[no-untyped-def]
        (self.styles if self._in_style else self.text).append(data)


def read_html(path) -> Links:
    parser = Links()
    parser.feed(path.read_text(encoding="utf-8"))
    return parser


def recent(site: SiteDir, n: int, start: datetime = NOW - timedelta(days=1)) -> None:
    for i in range(n):
        when = (start - timedelta(hours=i)).strftime("%Y-%m-%d %H:%M:%S %z")
        site.post(f"p{i:03d}.md", f"title: Post {i}\ndate: {when}", body=f"Body of post {i}.\n")


def test_first_digest_holds_only_recent_posts(site: SiteDir) -> None:
    site.add_sample()  # from 2025: outside the first 7-day window
    recent(site, 3)
    result = publish(site.config(), NOW)
    d = result.digest
    assert d is not None and d.record is not None
    assert d.record.slug == "2026-01-10"
    assert d.posts == 3
    page = read_html(site.out / "digest" / "2026-01-10.html")
    titles = [t.strip() for t in page.text if re.fullmatch(r"Post \d+", t.strip())]
    assert titles == ["Post 0", "Post 1", "Post 2"]
    assert (site.out / "digest" / "latest.html").read_bytes() == (
        site.out / "digest" / "2026-01-10.html"
    ).read_bytes()
    text = (site.out / "digest" / "2026-01-10.txt").read_text()
    assert "Post 0" in text and "Read more: https://example.org/blog/2026/01/09/p000.html" in text
    assert "Breaking" not in text


def test_second_publish_issues_nothing_and_edits_are_not_resent(site: SiteDir) -> None:
    recent(site, 2)
    config = site.config()
    assert publish(config, NOW).digest.record is not None
    again = publish(config, NOW + timedelta(minutes=5))
    assert again.digest.record is None
    assert "no new posts" in again.digest.reason
    # Editing a sent post (new title, new updated date) never re-sends it.
    site.post(
        "p000.md",
        "title: Post 0 edited\ndate: 2026-01-09 12:00:00 +0100\nupdated: 2026-01-10 13:00:00",
    )
    assert publish(config, NOW + timedelta(hours=2)).digest.record is None


def test_imported_archive_is_never_mailed(site: SiteDir) -> None:
    recent(site, 1)
    config = site.config()
    publish(config, NOW)
    # An archive of old posts lands after the first digest.
    for i in range(5):
        site.post(f"old{i}.md", f"title: Old {i}\ndate: 2025-06-0{i + 1}")
    later = publish(config, NOW + timedelta(days=7))
    assert later.digest.record is None
    # A genuinely new post is mailed, alone.
    site.post("new.md", "title: Fresh\ndate: 2026-01-12 09:00:00")
    d = publish(config, NOW + timedelta(days=8)).digest
    assert d.record is not None and d.posts == 1
    state = Store.open(config.state_file)
    assert state.digests.last().post_keys == ("https://example.org/blog/2026/01/12/new.html",)
    state.close()


def test_two_digests_on_one_day_get_a_suffix(site: SiteDir) -> None:
    recent(site, 1)
    config = site.config()
    publish(config, NOW)
    site.post("later.md", "title: Later today\ndate: 2026-01-10 13:30:00 +0100")
    d = publish(config, NOW + timedelta(hours=3)).digest
    assert d.record.slug == "2026-01-10-2"
    assert (site.out / "digest" / "2026-01-10-2.html").exists()
    assert (site.out / "digest" / "2026-01-10.html").exists()


def test_html_is_real_email_craft(site: SiteDir) -> None:
    site.post(
        "img.md",
        """
        title: 'Pictures & <script>alert("x")</script>'
        date: 2026-01-09 10:00:00
        image: {path: img/cover.jpg, alt: "A cover"}
        excerpt: An excerpt with <b>markup</b> & an ampersand.
        """,
        body='Body <a href="x" onclick="evil()">link</a><form><input></form>\n',
    )
    result = publish(site.config(), NOW)
    path = site.out / "digest" / f"{result.digest.record.slug}.html"
    html = path.read_text()
    page = read_html(path)
    # 600px table layout with a preheader.
    assert 'width="600"' in html and "role=\"presentation\"" in html
    assert "preheader" in html
    # Title escaped as text; nothing executable survives.
    assert "<script" not in html and "onclick" not in html and "<form" not in html
    assert any('Pictures & <script>alert("x")</script>' in t for t in page.text)
    (img,) = page.images
    assert img["src"] == "https://example.org/blog/img/cover.jpg"
    assert img["alt"] == "A cover"
    assert "https://example.org/blog/2026/01/09/img.html" in page.hrefs
    assert "https://example.org/blog/feed.xml" in page.hrefs
    assert "https://example.org/blog/rss.xml" in page.hrefs
    assert any("An excerpt with markup & an ampersand." in t for t in page.text)
    # CSS inlined once, media queries kept with their !important.
    assert 'style="' in html
    styles = "".join(page.styles)
    assert "@media" in styles and "!important" in styles
    # The public copy carries no personal markers.
    assert NAME_MARK not in html and UNSUBSCRIBE_MARK not in html


def test_size_budget_turns_the_rest_into_and_n_more(site: SiteDir) -> None:
    site.write_config("[digest]\nmax_posts = 50\nmax_html_bytes = 20000\n")
    recent(site, 40)
    d = publish(site.config(), NOW).digest
    assert d.record is not None
    assert 1 <= d.posts < 40 and d.posts + d.more == 40
    html = (site.out / "digest" / f"{d.record.slug}.html").read_text()
    assert len(html.encode()) <= 20000
    assert f"{d.more} more posts" in html
    # Every selected post is recorded, so none is mailed later.
    state = Store.open(site.config().state_file)
    assert len(state.digests.last().post_keys) == 40
    state.close()


def test_max_posts(site: SiteDir) -> None:
    site.write_config("[digest]\nmax_posts = 2\n")
    recent(site, 5)
    d = publish(site.config(), NOW).digest
    assert (d.posts, d.more) == (2, 3)


def test_site_template_overrides_one_file_and_falls_back_for_the_other(site: SiteDir) -> None:
    folder = site.root / "templates" / "email"
    folder.mkdir(parents=True)
    (folder / "digest.txt").write_text(
        "CUSTOM {{ posts|length }}{% for p in posts %} [{{ p.title }}]{% endfor %}\n"
    )
    recent(site, 2)
    d = publish(site.config(), NOW).digest
    text = (site.out / "digest" / f"{d.record.slug}.txt").read_text()
    assert text == "CUSTOM 2 [Post 0] [Post 1]\n"
    assert "<table" in (site.out / "digest" / f"{d.record.slug}.html").read_text()


def test_subject_never_carries_a_newline(site: SiteDir) -> None:
    site.post("n.md", 'title: "One\\nTwo\\r\\nThree"\ndate: 2026-01-09')
    _site, letter = preview(site.config(), NOW)
    assert letter is not None
    assert "\n" not in letter.subject and "\r" not in letter.subject
    assert "One Two Three" in letter.subject


def test_preview_records_nothing(site: SiteDir) -> None:
    recent(site, 2)
    config = site.config()
    _site, letter = preview(config, NOW)
    assert letter is not None and len(letter.posts) == 2
    assert not (site.out / "digest").exists()
    assert publish(config, NOW).digest.record is not None


def test_personalise_escapes_and_fills_markers(site: SiteDir) -> None:
    recent(site, 1)
    _site, letter = preview(site.config(), NOW)
    html, text = personalise(letter.html, letter.text, "Ann <&>", "https://x.example/u?t=a&b=c")
    assert "Ann &lt;&amp;&gt;" in html and "https://x.example/u?t=a&amp;b=c" in html
    assert "Ann <&>" in text and "https://x.example/u?t=a&b=c" in text
    assert not re.search("PUBLISHER-[A-Z-]+-2f8c", html + text)


def test_digest_folder_that_is_a_file_records_no_digest(site: SiteDir) -> None:
    recent(site, 2)
    site.out.mkdir()
    (site.out / "digest").write_text("not a folder")
    config = site.config()
    with pytest.raises(OutputError) as caught:
        publish(config, NOW)
    assert caught.value.message.startswith(f"{site.out / 'digest'}/")
    assert caught.value.message.endswith(": cannot write: Not a directory")
    assert f"{site.out / 'digest'} is a file, not a folder" in caught.value.hint
    state = Store.open(config.state_file)
    try:
        assert state.digests.last() is None  # the transaction rolled back
    finally:
        state.close()
    (site.out / "digest").unlink()
    d = publish(config, NOW).digest
    assert d is not None and d.record is not None and d.record.slug == "2026-01-10"


def test_site_template_not_utf8_is_a_template_error(site: SiteDir) -> None:
    folder = site.root / "templates" / "email"
    folder.mkdir(parents=True)
    (folder / "digest.txt").write_bytes(b"Caf\xe9 {{ subject }}\n")
    recent(site, 1)
    with pytest.raises(TemplateError) as caught:
        preview(site.config(), NOW)
    assert caught.value.message == (
        f"{folder}: an email template is not UTF-8: byte 0xe9 cannot be decoded"
    )
    assert caught.value.hint == "save the templates as UTF-8"


def test_unreadable_site_template_is_a_template_error(site: SiteDir) -> None:
    folder = site.root / "templates" / "email"
    folder.mkdir(parents=True)
    # A regular file whose read fails (EIO) even for root, who ignores permissions.
    (folder / "digest.html").symlink_to("/proc/self/mem")
    recent(site, 1)
    with pytest.raises(TemplateError) as caught:
        preview(site.config(), NOW)
    assert caught.value.message == (
        f"{folder}: cannot read the email template: Input/output error"
    )
    assert "remove it to use the built-in one" in caught.value.hint
