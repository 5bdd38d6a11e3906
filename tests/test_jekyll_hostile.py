"""A Jekyll site's posts get the same protection as a posts folder's: bounded
YAML, dates in range, web-only URLs, the safe walk (links, loops, odd names)."""

from __future__ import annotations

import email
import email.policy
import json
import logging
import os
import re
from pathlib import Path
from xml.etree import ElementTree as ET

import feedparser
import pytest
from click.testing import CliRunner

from publisher.app.pipeline import build, publish
from publisher.cli import cli
from publisher.store.store import Store

from .conftest import NOW
from .jekyll_support import CONFIG, JekyllDir
from .test_safeyaml import BOMB


@pytest.fixture
def jk(tmp_path: Path) -> JekyllDir:
    site = JekyllDir(tmp_path / "site")
    site.root.mkdir()
    site.config_yml()
    site.write_toml()
    return site


def problems(jk: JekyllDir) -> dict[str, str]:
    result = build(jk.config(), NOW)
    return {p.file: f"{p.severity}: {p.message}" for p in result.summary.problems}


def test_hostile_posts_of_a_jekyll_site_are_skipped_with_a_message(
    jk: JekyllDir, tmp_path: Path
) -> None:
    jk.post("_posts/2026-01-02-good.md", "title: Good")
    jk.post("_posts/2026-01-03-bomb.md", f"{BOMB}\ntitle: Bomb\nexcerpt: *l6")
    jk.post("_posts/0001-01-01-early.md", "title: Early")
    jk.post("_posts/2026-01-03-late.md", "title: Late\ndate: 9999-12-31 23:00:00 -0100")
    jk.post("_posts/2026-01-03-js.md", 'title: JS\nimage: "javascript:alert(1)"')
    (tmp_path / "private.md").write_text("---\ntitle: Private\n---\nsecret\n")
    (jk.root / "_posts" / "2026-01-04-private.md").symlink_to(tmp_path / "private.md")
    (jk.root / "_posts" / "loop").symlink_to(".")
    with open(os.path.join(os.fsencode(jk.root / "_posts"), b"2026-01-05-\xff.md"), "wb") as f:
        f.write(b"---\ntitle: x\n---\n")
    found = problems(jk)
    assert "aliases (*name) expand this value" in found["_posts/2026-01-03-bomb.md"]
    assert "is out of range" in found["_posts/0001-01-01-early.md"]
    assert found["_posts/2026-01-03-late.md"].startswith("error: ")
    assert "is not a web address" in found["_posts/2026-01-03-js.md"]
    assert "outside the posts folder: not followed" in found["_posts/2026-01-04-private.md"]
    assert "already read (a loop?)" in found["_posts/loop"]
    assert "not valid UTF-8" in found["_posts/2026-01-05-\\xff.md"]
    feed = (jk.root / "_site" / "feed.xml").read_text(encoding="utf-8")
    assert "Good" in feed and "JS" in feed
    assert "secret" not in feed and "javascript" not in feed


# -- control characters from every source: cleaned once, on the way out ---------

ESC = "\x1b"  # what Huxpro/huxpro.github.io's include held, with U+001C
ILLEGAL = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f]")


def test_control_characters_from_every_source_reach_no_output(
    jk: JekyllDir, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    """Written raw in a post, escaped in its front matter, in an include, in a data
    file (a Liquid variable and an author), in _config.yml (a Liquid variable and
    the site's title and author) and in publisher.toml: every feed and the digest
    mail parse back with none of them, the words around them intact, and one
    warning names each file they were removed for."""
    jk.config_yml(
        CONFIG.replace("title: Jekyll test site", 'title: "Jekyll \\e test site"')
        + 'author: "Site \\e Author"\ngreeting: "hi \\e there"\n'
    )
    jk.write_toml(
        '[site]\ndescription = "Toml \\u001b description"\n'
        '[digest]\npostal_address = "1 Rue \\u001b, Paris"\n'
        '[delivery]\nfrom = "News <news@example.org>"\n'
        'unsubscribe_url = "https://example.org/unsubscribe"\n'
    )
    jk.write("_includes/huxpro.html", f"included{ESC}\x1c text\n")
    jk.write("_data/words.yml", 'word: "data \\e value"\n')
    jk.write("_data/authors.yml", 'hux: {name: "Hu \\e X"}\n')
    jk.post(
        "_posts/2026-01-09-liquid.md",
        'title: "Front \\e matter"\nauthor: hux',
        body="Body {% include huxpro.html %} and {{ site.data.words.word }} "
        "and {{ site.greeting }}.\n",
    )
    jk.write("_posts/2026-01-08-raw.md", f"---\ntitle: Raw\n---\nRaw{ESC} body.\n")
    monkeypatch.setenv("PUBLISHER_SECRET", "test-secret-0123456789abcdef")
    config = jk.config()
    state = Store.open(config.state_file)
    with state.transaction():
        state.subscribers.add("reader@example.org", "Reader", NOW)
    state.close()

    with caplog.at_level(logging.WARNING, logger="publisher.content.render"):
        result = publish(config, NOW)

    assert result.delivery is not None and result.delivery.sent == 1
    outputs = {name: (config.out_dir / name).read_bytes()
               for name in ("feed.xml", "rss.xml", "feed.json")}
    (eml,) = config.resolve(".publisher/outbox").glob("*.eml")
    outputs["mail"] = eml.read_bytes()
    for name, data in outputs.items():
        assert not ILLEGAL.search(data.decode("utf-8")), name
    for name in ("feed.xml", "rss.xml"):
        ET.fromstring(outputs[name])
        parsed = feedparser.parse(outputs[name])
        assert not parsed.bozo, parsed.get("bozo_exception")
        assert parsed.feed.title == "Jekyll  test site"
    doc = json.loads(outputs["feed.json"])
    msg = email.message_from_bytes(outputs["mail"], policy=email.policy.default)
    mail_text = msg.get_body(("plain",)).get_content()
    html = msg.get_body(("html",)).get_content()
    item = next(i for i in doc["items"] if i["title"] == "Front matter")
    assert doc["description"] == "Toml  description"
    assert item["authors"] == [{"name": "Hu  X"}]
    for words in ("included text", "data  value", "hi  there"):
        assert words in item["content_html"]
        assert words in outputs["feed.xml"].decode() and words in outputs["rss.xml"].decode()
    assert "Raw body." in outputs["feed.xml"].decode()
    assert "Front matter" in str(msg["Subject"]) and "Front matter" in mail_text
    assert "1 Rue , Paris" in mail_text and "1 Rue , Paris" in html
    assert "Jekyll  test site" in mail_text

    # One warning per post for what reached the boundary, naming the post's file
    # (the site's author, from _config.yml, is every post's author) ...
    boundary = sorted(r.getMessage() for r in caplog.records
                      if r.name == "publisher.content.render")
    assert boundary == [
        "_posts/2026-01-08-raw.md: warning: removed control characters not allowed in "
        "XML (U+001B) from its author: they came from an include, a data file, a Liquid "
        "variable, the site settings or the file name; remove them there",
        "_posts/2026-01-09-liquid.md: warning: removed control characters not allowed in "
        "XML (U+001B, U+001C) from its body, summary, author: they came from an include, "
        "a data file, a Liquid variable, the site settings or the file name; remove them "
        "there",
    ]
    # ... one for each settings file, and those removed as the posts were read.
    assert [str(p) for p in result.summary.problems] == [
        "_config.yml: warning: removed control characters not allowed in XML (U+001B) "
        "from title, author; remove them there",
        "_posts/2026-01-08-raw.md:4: warning: removed control characters not allowed in "
        "XML (U+001B)",
        "_posts/2026-01-09-liquid.md:2: warning: removed control characters not allowed "
        "in XML (U+001B)",
        "publisher.toml: warning: removed control characters not allowed in XML (U+001B) "
        "from [site] description, [digest] postal_address; remove them there",
    ]
    checked = CliRunner().invoke(
        cli, ["--config", str(jk.toml), "check", "--now", NOW.isoformat()]
    )
    assert checked.exit_code == 0, checked.output
    assert boundary[0] in checked.output and boundary[1] in checked.output
    assert "0 errors, 6 warnings." in checked.output


def test_a_control_character_in_a_category_from_defaults_reaches_no_feed(
    jk: JekyllDir,
) -> None:
    """Front matter defaults come from _config.yml, not from the post's file: a
    category there names a category feed, whose title is cleaned too."""
    jk.config_yml(
        CONFIG + 'defaults:\n  - scope: {path: ""}\n    values: {categories: "News\\e"}\n'
    )
    jk.write_toml("[feeds]\ncategories = \"all\"\n")
    jk.post("_posts/2026-01-05-a.md", "title: A")
    config = jk.config()
    build(config, NOW)
    for name in ("feed/news.xml", "feed/news.rss.xml", "feed/news.json", "feed.xml"):
        data = (config.out_dir / name).read_bytes().decode("utf-8")
        assert not ILLEGAL.search(data), name
    parsed = feedparser.parse((config.out_dir / "feed/news.xml").read_bytes())
    assert parsed.feed.title == "Jekyll test site: category News"
    assert [t.term for t in parsed.entries[0].tags] == ["News"]
