"""Hostile input: one site holding every bad post we know of, and a subscriber
file with every bad line. The good posts and lines must go through, each bad
one must be a message (never a traceback), and nothing hostile may reach a
feed, an email or a digest page in a form a reader would run or see raw."""

from __future__ import annotations

import os
import re
import shutil
from email import message_from_bytes, policy
from pathlib import Path
from xml.etree import ElementTree as ET

from tests.feedcheck import check

from . import harness as h
from .harness import Tally
from .kills import NOW, stamp

ATOM = "{http://www.w3.org/2005/Atom}"
EVIL = 'x\r\nBcc: victim@example.org\r\n<script>alert(1)</script>"\'&'
BOMB = "\n".join(
    ['l0: &l0 ["lol", "lol", "lol", "lol", "lol", "lol", "lol", "lol", "lol"]']
    + [f"l{i}: &l{i} [{', '.join([f'*l{i - 1}'] * 9)}]" for i in range(1, 8)]
)
BOMB_FIELDS = ["excerpt", "date", "id", "slug", "excerpt_separator", "title", "tags",
               "permalink", "last_modified_at", "banner_image"]


def front(fields: str, body: str = "Body.\n") -> bytes:
    return f"---\n{fields}\n---\n{body}".encode()


def hostile_posts(big_mb: int) -> dict[str, bytes]:
    """name -> file content: every hostile post."""
    yaml_evil = EVIL.replace("\\", "\\\\").replace('"', '\\"').replace("\r", "\\r").replace(
        "\n", "\\n")
    posts: dict[str, bytes] = {}
    for key in BOMB_FIELDS:
        posts[f"bomb-{key}.md"] = front(f"{BOMB}\ntitle: Bomb\ndate: 2026-01-01\n{key}: *l7")
    posts["bomb-author.md"] = front(f"{BOMB}\ntitle: B\ndate: 2026-01-01\nauthor: {{name: *l7}}")
    posts["bomb-image.md"] = front(f"{BOMB}\ntitle: B\ndate: 2026-01-01\n"
                                   "image: {path: a.png, alt: *l7}")
    posts["recursive.md"] = front("title: R\ndate: 2026-01-01\nexcerpt: &x [a, *x]")
    escaped = '"a\\eb\\x07c\\uFFFEd"'
    for key in ("title", "author", "categories", "tags", "excerpt"):
        title = escaped if key == "title" else "Escapes"
        extra = "" if key == "title" else f"\n{key}: {escaped}"
        posts[f"escape-{key}.md"] = front(f"title: {title}\ndate: 2026-01-01{extra}")
    digits = "9" * 5000
    for key in ("id", "title", "excerpt", "slug", "date"):
        posts[f"bigint-{key}.md"] = front(f"title: Big\ndate: 2026-01-01\n{key}: {digits}")
    for i, value in enumerate(["0001-01-01 00:00:00 +0100", "9999-12-31 23:00:00 -0100",
                               "0001-01-01", "2026-01-01 10:00:00 +99:00", "2026-02-30",
                               '"2026-01-01 10:00 +9900"', "[2026, 1, 1]"]):
        posts[f"date-{i}.md"] = front(f"title: When\ndate: {value}")
    fields = ["title", "slug", "permalink", "id", "excerpt", "banner_image"]
    for key in fields:
        title = f'"{yaml_evil}"' if key == "title" else "Evil"
        extra = "" if key == "title" else f'\n{key}: "{yaml_evil}"'
        posts[f"evil-{key}.md"] = front(f"date: 2026-01-02\ntitle: {title}{extra}")
    posts["evil-author.md"] = front(
        f'title: Evil author\ndate: 2026-01-02\nauthor: {{name: "{yaml_evil}", '
        f'email: "{yaml_evil}", uri: "javascript:alert(2)"}}')
    posts["evil-lists.md"] = front(
        f'title: Evil lists\ndate: 2026-01-02\ncategories: ["{yaml_evil}"]\n'
        f'tags: ["{yaml_evil}"]')
    posts["evil-image.md"] = front(
        f'title: Evil image\ndate: 2026-01-02\nimage: {{path: "javascript:alert(1)", '
        f'alt: "{yaml_evil}"}}')
    posts["evil-enclosure.md"] = front(
        f'title: Evil enclosure\ndate: 2026-01-02\nenclosure: {{url: "javascript:x", '
        f'length: "{digits}", type: "{yaml_evil}"}}')
    posts["evil-body.md"] = front(
        "title: Evil body\ndate: 2026-01-02",
        '<script>alert(1)</script><img src="javascript:alert(2)" srcset="javascript:a 1x" '
        'onerror="alert(3)"><a href="java\tscript:alert(4)">x</a>'
        '<iframe src="data:text/html,x"></iframe><svg onload="alert(5)"></svg>\n')
    posts["deep-small.md"] = front("title: Deep\ndate: 2026-01-01",
                                   "<div>" * 60_000 + "x" + "</div>" * 60_000 + "\n")
    posts["deep-big.md"] = front("title: Deeper\ndate: 2026-01-01",
                                 "<div>" * 100_000 + "x" + "</div>" * 100_000 + "\n")
    posts["huge.md"] = front("title: Huge\ndate: 2026-01-01",
                             ("A line of a very long post. " * 40 + "\n\n") * (big_mb * 900))
    posts["huge-paragraph.md"] = front("title: Huge paragraph\ndate: 2026-01-01",
                                       "word " * (big_mb * 200_000))
    posts["binary.md"] = b"\x00\x01\x02" * 1000
    posts["latin1.md"] = "---\ntitle: Café\ndate: 2026-01-01\n---\n".encode("latin-1")
    posts["empty.md"] = b""
    posts["unclosed.md"] = front('title: "unclosed\ndate: 2026-01-01')
    posts["list.md"] = front("- a\n- b")
    posts["nested-front.md"] = front("a:\n" + "".join(" " * i + "b:\n" for i in range(2000)))
    posts["huge-front.md"] = front("title: Big front\nexcerpt: |\n" + "  text\n" * 300_000)
    return posts


def hostile_site(work: Path, big_mb: int) -> Tally:
    t = Tally()
    site = work / "hostile"
    shutil.rmtree(site, ignore_errors=True)
    secret_folder = work / "hostile-private"
    shutil.rmtree(secret_folder, ignore_errors=True)
    secret_folder.mkdir(parents=True)
    (secret_folder / "2026-01-05-diary.md").write_text(
        "---\ntitle: PRIVATE DIARY\n---\nSECRET-DIARY-TEXT\n", encoding="utf-8")
    h.write_config(site, extra="\n[feeds]\nlimit = 200\n")
    content = site / "content"
    content.mkdir(parents=True)
    for i in range(5):
        h.post(site, f"2025-12-2{i + 1}-good-{i}.md", f"Good {i}",
               f"2025-12-2{i + 1} 10:00:00+00:00")
    bad = hostile_posts(big_mb)
    for name, data in bad.items():
        (content / f"2026-01-04-{name}").write_bytes(data)
    odd = [b"2026-01-04-caf\xff.md", b"2026-01-04-a\nerror: forged line.md",
           b"2026-01-04-\x1b[31mred.md"]
    for name in odd:
        with open(os.path.join(os.fsencode(content), name), "wb") as f:
            f.write(b"---\ntitle: Odd name\n---\nx\n")
    (content / "self.md").symlink_to("self.md")
    (content / "loop").symlink_to(".")
    (content / "2026-01-05-diary.md").symlink_to(secret_folder / "2026-01-05-diary.md")
    (content / "private").symlink_to(secret_folder)
    (content / "2025-12-20-alias.md").symlink_to("2025-12-21-good-0.md")
    faults = len(bad) + len(odd) + 5
    readers = ["reader@example.org", "uma@straße.de", "x@xn--mnchen-3ya.de"]
    h.subscribe(t, site, readers)
    t.scenarios += 1
    t.faults += faults
    first = h.run(t, site, "publish", "--now", stamp(NOW), ok=(3,))
    second = h.run(t, site, "publish", "--now", stamp(NOW), ok=(3,))
    checked = h.run(t, site, "check", "--now", stamp(NOW), ok=(1,))
    for proc in (first, second, checked):
        for line in proc.stderr.splitlines():
            if line.startswith("error: forged"):
                t.fail("unexpected", "a file name forged a line of output")
    out = site / "out"
    for name in h.FEEDS:
        try:
            check(out / name)
        except AssertionError as exc:
            t.fail("torn", f"hostile site: {name}: {exc}")
    titles = feed_titles(out / "feed.xml")
    # What must still be published (repaired, or with the bad part left out).
    expected = [f"Good {i}" for i in range(5)] + [
        "Deep", "Deeper", "Huge", "Huge paragraph", "Evil body", "Evil image", "Evil author",
        "Evil lists", "Evil enclosure", "abcd",
    ]
    for title in expected:
        if title not in titles:
            t.fail("lost", f"hostile site: {title!r} is not in the feed")
    everything = b"".join(p.read_bytes() for p in out.rglob("*") if p.is_file())
    for needle in (b"SECRET-DIARY-TEXT", b"PRIVATE DIARY", b"javascript:", b"\nBcc:", b"\rBcc"):
        if needle in everything:
            t.fail("leaks", f"hostile site: {needle!r} reached out/")
    for html in content_html(out / "feed.xml"):
        if re.search(r"<script|\son\w+=|javascript:", html, re.I):
            t.fail("leaks", f"hostile site: active content in a feed entry: {html[:80]!r}")
    for title in titles:
        if "\n" in title or "\r" in title:
            t.fail("leaks", f"hostile site: a title with a line break: {title!r}")
    for path in (site / ".publisher" / "outbox").glob("*.eml"):
        message = message_from_bytes(path.read_bytes(), policy=policy.default)
        if message.get("Bcc") or "\n" in str(message["Subject"]):
            t.fail("leaks", f"hostile site: header injection in {path.name}")
    if len(list((site / ".publisher" / "outbox").glob("*.eml"))) != len(readers):
        t.fail("lost", "hostile site: not every reader was mailed")
    h.check_private(t, out, readers, "hostile site")
    h.check_temp_files(t, out, "hostile site")
    print(f"  hostile site: {faults} hostile files, exits {first.returncode}, "
          f"{second.returncode}, check {checked.returncode}", flush=True)
    t.add(hostile_jekyll(work, big_mb))
    t.add(hostile_csv(work))
    return t


def hostile_jekyll(work: Path, big_mb: int) -> Tally:
    """The same posts in a Jekyll site's `_posts`: its own reader, same protection."""
    t = Tally()
    root = work / "hostile-jekyll"
    shutil.rmtree(root, ignore_errors=True)
    site = root / "site"
    (site / "_posts").mkdir(parents=True)
    (site / "_config.yml").write_text('url: "https://news.example.org"\ntitle: Hostile\n'
                                      "feed:\n  posts_limit: 200\n", encoding="utf-8")
    (root / "publisher.toml").write_text('[jekyll]\nsite = "site"\n', encoding="utf-8")
    for i in range(3):
        (site / "_posts" / f"2025-12-2{i + 1}-good-{i}.md").write_text(
            f"---\ntitle: Good {i}\n---\nFine.\n", encoding="utf-8")
    bad = hostile_posts(big_mb)
    for name, data in bad.items():
        (site / "_posts" / f"2026-01-01-{name}").write_bytes(data)
    (site / "_posts" / "loop").symlink_to(".")
    (site / "_posts" / "etc").symlink_to("/etc")
    t.scenarios += 1
    t.faults += len(bad) + 2
    first = h.run(t, root, "publish", "--now", stamp(NOW), ok=(3,))
    out = site / "_site"
    try:
        check(out / "feed.xml")
    except AssertionError as exc:
        t.fail("torn", f"hostile Jekyll site: feed.xml: {exc}")
    titles = feed_titles(out / "feed.xml")
    for title in ("Good 0", "Good 1", "Good 2", "Huge", "Deep", "Evil body"):
        if title not in titles:
            t.fail("lost", f"hostile Jekyll site: {title!r} is not in the feed")
    everything = b"".join(p.read_bytes() for p in out.rglob("*") if p.is_file())
    for needle in (b"javascript:", b"\nBcc:", b"root:x:0"):
        if needle in everything:
            t.fail("leaks", f"hostile Jekyll site: {needle!r} reached the output")
    h.check_temp_files(t, out, "hostile Jekyll site")
    print(f"  hostile Jekyll site: {len(bad)} hostile posts, exit {first.returncode}",
          flush=True)
    return t


def feed_titles(path: Path) -> list[str]:
    root = ET.fromstring(path.read_bytes())
    return [e.findtext(f"{ATOM}title") or "" for e in root.iter(f"{ATOM}entry")]


def content_html(path: Path) -> list[str]:
    root = ET.fromstring(path.read_bytes())
    return [e.findtext(f"{ATOM}content") or "" for e in root.iter(f"{ATOM}entry")]


def hostile_csv(work: Path) -> Tally:
    t = Tally()
    site = work / "hostile-csv"
    shutil.rmtree(site, ignore_errors=True)
    h.write_config(site)
    quoted = '"' + EVIL.replace('"', '""') + '"'
    lines = ["\ufeffemail,name,status"]
    lines += [f"reader{i}@example.org,Reader {i},active" for i in range(100_000)]
    hostile = [
        f"{quoted},Name,active", f"evil@example.org,{quoted},active",
        f"evil2@example.org,Name,{quoted}", f"big@example.org,{'B' * 200_000},active",
        "uma@straße.de,Uma,active", "uma@STRASSE.de,Other Uma,active",
        "x@münchen.de,X,active", "reader5@example.org,Duplicate,active",
        "not-an-address,Nobody,active", "a@b@c.de,Two ats,active", ",,",
    ]
    for i, line in enumerate(hostile):
        lines.insert(1000 * (i + 1), line)
    hostile.append('"unclosed,x')  # last: it swallows the rest of the file
    lines.append(hostile[-1])
    path = site / "people.csv"
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    t.scenarios += 1
    t.faults += len(hostile)
    proc = h.run(t, site, "subscribers", "import", str(path), ok=(3,))
    listed = h.run(t, site, "subscribers", "list")
    if "\r" in listed.stdout or "\nBcc:" in listed.stdout:
        t.fail("leaks", "hostile csv: a raw line break reached the list")
    if "uma@xn--strae-oqa.de" not in listed.stdout or "uma@strasse.de" not in listed.stdout:
        t.fail("unexpected", "hostile csv: straße.de and strasse.de are not two addresses")
    print(f"  hostile csv: 100,000 rows and {len(hostile)} hostile lines: exit "
          f"{proc.returncode}, {len(proc.stderr.splitlines())} lines of problems", flush=True)
    return t
