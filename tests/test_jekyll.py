"""A Jekyll site published as Jekyll and jekyll-feed would: small sites in
tmp_path, built through the real pipeline and read back with feedparser and
ElementTree (every feed also goes through feedcheck's validity rules)."""

from __future__ import annotations

import dataclasses
import json
import os
import subprocess
from datetime import UTC, datetime
from pathlib import Path

import pytest
from click.testing import CliRunner

from publisher.app.pipeline import build
from publisher.app.site import load
from publisher.cli import cli
from publisher.config.settings import Config
from publisher.errors import ConfigError
from publisher.incremental import cache
from publisher.jekyll import siteconfig

from .conftest import NOW
from .jekyll_support import ATOM, JekyllDir, entries, entry_id, link

BASE = "https://example.org/blog/"


@pytest.fixture
def jk(tmp_path: Path) -> JekyllDir:
    site = JekyllDir(tmp_path / "site")
    site.root.mkdir()
    site.config_yml()
    return site


# -- reading the site's configuration ------------------------------------------------------


def test_one_line_of_publisher_toml_reads_the_jekyll_config(jk: JekyllDir) -> None:
    jk.config_yml(
        """\
        title: Jekyll test site
        description: Posts from a Jekyll site
        url: https://example.org
        baseurl: /blog
        timezone: Europe/Paris
        lang: fr
        author: {name: Ann, email: ann@example.org, twitter: ann}
        permalink: pretty
        excerpt_separator: "<!--more-->"
        feed:
          path: atom.xml
          posts_limit: 2
          excerpt_only: true
          categories: [news]
          tags: true
          icon: /icon.png
          logo: /logo.png
        """
    )
    config = jk.config()
    assert config.site.url == "https://example.org/blog"
    assert (config.site.title, config.site.description) == (
        "Jekyll test site",
        "Posts from a Jekyll site",
    )
    assert (config.site.author.name, config.site.author.email) == ("Ann", "ann@example.org")
    assert (config.site.language, config.site.timezone) == ("fr", "Europe/Paris")
    assert (config.site.icon, config.site.logo) == ("/icon.png", "/logo.png")
    assert config.content.permalink == "pretty"
    assert config.content.excerpt_separator == "<!--more-->"
    assert (config.feeds.atom, config.feeds.limit, config.feeds.excerpt_only) == (
        "atom.xml",
        2,
        True,
    )
    assert (config.feeds.categories, config.feeds.tags) == (("news",), "all")
    assert config.posts_dir == jk.root.resolve()
    assert config.out_dir == (jk.root / "_site").resolve()  # where jekyll-feed's feed is served


def test_defaults_follow_jekyll_feed(jk: JekyllDir) -> None:
    config = jk.config()
    assert (config.feeds.atom, config.feeds.limit) == ("feed.xml", 10)  # posts_limit: 10
    assert config.content.excerpt_separator == ""  # Jekyll's "\n\n": the first paragraph


def test_publisher_toml_keys_win(jk: JekyllDir) -> None:
    jk.write_toml('[site]\ntitle = "Mine"\n[feeds]\nlimit = 5\n[output]\npath = "public"\n')
    config = jk.config()
    assert (config.site.title, config.feeds.limit) == ("Mine", 5)
    assert config.site.url == "https://example.org/blog"  # still from _config.yml
    assert config.out_dir == (jk.root.parent / "public").resolve()


def test_a_jekyll_folder_without_publisher_toml_is_enough(
    jk: JekyllDir, monkeypatch: pytest.MonkeyPatch
) -> None:
    jk.post("_posts/2026-01-05-hello.md", "title: Hello")
    monkeypatch.chdir(jk.root)
    result = CliRunner().invoke(cli, ["build", "--now", NOW.isoformat()])
    assert result.exit_code == 0, result.output
    assert (jk.root / "_site" / "feed.xml").is_file()
    config = siteconfig.load(None)
    assert config.file == (jk.root / "_config.yml").resolve()
    assert config.state_file == (jk.root / ".publisher" / "state.db").resolve()


def test_the_state_folder_inside_a_site_is_never_committed(
    jk: JekyllDir, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The README's GitHub Pages advice commits the site folder with `git add -A`:
    the subscriber list in .publisher/ must not go with it."""
    jk.post("_posts/2026-01-05-hello.md", "title: Hello")
    git = ["git", "-c", "user.name=T", "-c", "user.email=t@example.org"]
    subprocess.run([*git, "init", "-q", str(jk.root)], check=True)
    monkeypatch.chdir(jk.root)
    result = CliRunner().invoke(cli, ["publish", "--now", NOW.isoformat()])
    assert result.exit_code == 0, result.output
    assert (jk.root / ".publisher" / "state.db").is_file()
    subprocess.run([*git, "add", "-A"], cwd=jk.root, check=True)
    subprocess.run([*git, "commit", "-q", "-m", "site"], cwd=jk.root, check=True)
    committed = subprocess.run(
        [*git, "ls-files"], cwd=jk.root, check=True, capture_output=True, text=True
    ).stdout.split()
    assert "_posts/2026-01-05-hello.md" in committed
    assert [name for name in committed if name.startswith(".publisher")] == []


def test_jekyll_config_files_merge_in_order(jk: JekyllDir) -> None:
    jk.config_yml("url: https://example.org\nbaseurl: ''\ntitle: Base\n")
    jk.config_yml("title: Production\nurl: https://www.example.org\n", "_config.prod.yml")
    config = jk.config(jekyll_config=("_config.yml,_config.prod.yml",))
    assert (config.site.title, config.site.url) == ("Production", "https://www.example.org")
    jk.write_toml('config = ["_config.yml", "_config.prod.yml"]\n')
    assert jk.config().site.title == "Production"
    with pytest.raises(ConfigError, match="_config.missing.yml not found"):
        jk.config(jekyll_config=("_config.missing.yml",))


def test_a_missing_url_names_the_jekyll_key(jk: JekyllDir) -> None:
    jk.config_yml("title: No URL\n")
    with pytest.raises(ConfigError) as caught:
        jk.config()
    assert caught.value.message.startswith("_config.yml: url: not set")
    jk.config_yml("url: example.org\ntimezone: Mars/Olympus\n")
    with pytest.raises(ConfigError) as caught:
        jk.config()
    assert "_config.yml: url: must be an absolute http(s) URL" in caught.value.message
    assert "_config.yml: timezone: unknown time zone 'Mars/Olympus'" in caught.value.message


def test_front_matter_defaults_apply_by_path_and_type(jk: JekyllDir) -> None:
    jk.config_yml(
        jk.root.joinpath("_config.yml").read_text()
        + """\
defaults:
  - scope: {path: "", type: posts}
    values: {author: Everyone, image: /default.png}
  - scope: {path: "en/news", type: posts}
    values: {author: Newsroom}
  - scope: {path: "_posts/2026-01-0*"}
    values: {tags: [january]}
"""
    )
    jk.post("_posts/2026-01-05-a.md", "title: A")
    jk.post("en/news/_posts/2026-01-06-b.md", "title: B\nauthor: Bob")
    jk.post("en/news/_posts/2026-01-07-c.md", "title: C")
    config = jk.build()
    parsed, root = jk.feed(config)
    by_title = {e.title: e for e in parsed.entries}
    assert by_title["A"].author == "Everyone"
    assert [t.term for t in by_title["A"].tags] == ["january"]
    assert by_title["A"].media_thumbnail[0]["url"] == "https://example.org/blog/default.png"
    assert by_title["B"].author == "Bob"  # front matter wins
    assert by_title["C"].author == "Newsroom"  # the longer path wins


def test_exclude_and_drafts_and_pages(jk: JekyllDir) -> None:
    jk.config_yml(jk.root.joinpath("_config.yml").read_text() + "exclude: [old]\n")
    jk.post("_posts/2026-01-05-a.md", "title: A")
    jk.post("old/_posts/2026-01-05-gone.md", "title: Gone")
    jk.post("node_modules/x/_posts/2026-01-05-npm.md", "title: Npm")
    draft = jk.post("_drafts/draft-one.md", "title: Draft")
    os.utime(draft, (1_700_000_000, 1_700_000_000))  # a draft is dated by its mtime
    jk.post("about.md", "title: About me")  # a page: no date, not a post, no hint
    jk.post("_site/_posts/2026-01-05-built.md", "title: Built")
    config = jk.config()
    site = load(config, NOW)
    assert [p.title for p in site.posts] == ["A"]
    assert not site.problems
    with_drafts = jk.config(drafts=True)
    assert sorted(p.title for p in load(with_drafts, NOW).posts) == ["A", "Draft"]


# -- ids, links, categories, slugs ----------------------------------------------------------


def test_entry_and_feed_ids_are_jekyll_feeds(jk: JekyllDir) -> None:
    jk.post("_posts/2016-11-10-snyk.md", "title: Snyk")
    jk.post("_posts/2016-11-11-pretty.md", "title: Pretty\npermalink: /:year/:title/")
    jk.post("_posts/2016-11-12-own.md", "title: Own\nid: urn:uuid:0f3c")
    config = jk.build()
    parsed, root = jk.feed(config)
    assert root.findtext(f"{ATOM}id") == BASE + "feed.xml"  # page.url | absolute_url
    found = entries(root)
    assert entry_id(found["Snyk"]) == BASE + "2016/11/10/snyk"  # not the page URL
    assert link(found["Snyk"]) == BASE + "2016/11/10/snyk.html"
    assert entry_id(found["Pretty"]) == BASE + "2016/pretty"
    assert link(found["Pretty"]) == BASE + "2016/pretty/"
    assert entry_id(found["Own"]) == "urn:uuid:0f3c"  # a front matter id still wins
    rss = (config.out_dir / "rss.xml").read_text()
    assert f'<guid isPermaLink="false">{BASE}2016/11/10/snyk</guid>' in rss


def test_the_first_id_is_kept_when_permalink_or_url_change(jk: JekyllDir) -> None:
    jk.post("_posts/2016-11-10-snyk.md", "title: Snyk")
    jk.build()
    jk.config_yml(
        jk.root.joinpath("_config.yml").read_text().replace("example.org", "example.net")
        + "permalink: /:categories/:title/\n"
    )
    jk.post("_posts/2016-11-12-later.md", "title: Later")
    config = jk.build()
    _parsed, root = jk.feed(config)
    found = entries(root)
    assert entry_id(found["Snyk"]) == BASE + "2016/11/10/snyk"  # as first published
    assert link(found["Snyk"]) == "https://example.net/blog/snyk/"  # the link follows
    assert entry_id(found["Later"]) == "https://example.net/blog/later"  # new: new rules


def test_categories_come_from_folders(jk: JekyllDir) -> None:
    jk.post("en/news/_posts/2026-01-05-launch.md", "title: Launch\ncategories: Big Day")
    jk.post("_posts/es/2026-01-06-sub.md", "title: Sub")  # inside _posts: not a category
    config = jk.build()
    parsed, root = jk.feed(config)
    launch = entries(root)["Launch"]
    assert [c.get("term") for c in launch.findall(f"{ATOM}category")] == [
        "en", "news", "Big", "Day",
    ]
    assert link(launch) == BASE + "en/news/big/day/2026/01/05/launch.html"
    assert entry_id(launch) == BASE + "en/news/big/day/2026/01/05/launch"
    sub = entries(root)["Sub"]
    assert link(sub) == BASE + "2026/01/06/sub.html"


def test_plain_posts_folder_takes_categories_from_folders_above_posts(site: object) -> None:
    from .conftest import SiteDir

    assert isinstance(site, SiteDir)
    site.post("en/news/_posts/2026-01-05-launch.md", "title: Launch")
    (post,) = load(site.config(), NOW).posts
    assert post.categories == ("en", "news")
    assert post.url == "https://example.org/blog/en/news/2026/01/05/launch.html"


@pytest.mark.parametrize(
    ("name", "url", "ident"),
    [
        ("2026-01-05-hash-#1.md", "2026/01/05/hash-1.html", "2026/01/05/hash-#1"),
        ("2026-01-05-escape-+ %20[].md", "2026/01/05/escape-+-20.html",
         "2026/01/05/escape-+%20%20%5B%5D"),
        ("2026-01-05-dots...md", "2026/01/05/dots.html", "2026/01/05/dots"),
        ("2026-01-05-Hello-World.md", "2026/01/05/Hello-World.html", "2026/01/05/Hello-World"),
        ("2026-01-05-café.md", "2026/01/05/caf%C3%A9.html", "2026/01/05/caf%C3%A9"),
    ],
)
def test_urls_follow_jekylls_slug_rules(jk: JekyllDir, name: str, url: str, ident: str) -> None:
    jk.post(f"_posts/{name}", "title: T")
    (post,) = load(jk.config(), NOW).posts
    assert (post.url, post.key) == (BASE + url, BASE + ident)


# -- dates, names, files ----------------------------------------------------------------------


def test_files_jekyll_accepts(jk: JekyllDir) -> None:
    jk.post("_posts/2014-3-3-Hello-World.md", None, "---\nlayout: post\n---\nHi.\n")
    jk.post("_posts/2023-01-29-odd-date.md", "title: Odd\ndate: 2023-01-29 18:30:22 2023 -0800")
    jk.write("_posts/2023-01-30-dots.md", "---\ntitle: Dotted\n...\nBody.\n")
    for ext in ("mkdn", "mkd", "mdown", "markdown", "text"):
        jk.post(f"_posts/2023-02-01-ext-{ext}.{ext}", f"title: Ext {ext}", "*Em* body.\n")
    jk.post("_posts/2023-02-02-no-front-matter.md", None, "Just text.\n")
    site = load(jk.config(), NOW)
    assert not site.problems, site.problems
    by_title = {p.title: p for p in site.posts}
    hello = by_title["Hello World"]  # titleized from the unpadded file name
    assert hello.url == BASE + "2014/03/03/Hello-World.html"
    assert hello.date == datetime(2014, 3, 2, 23, 0, tzinfo=UTC)  # Paris midnight
    # Ruby's Time.parse: a zone that does not follow the time is not read.
    assert by_title["Odd"].date == datetime(2023, 1, 29, 17, 30, 22, tzinfo=UTC)
    assert "Dotted" in by_title
    assert {p.format for t, p in by_title.items() if t.startswith("Ext")} == {"markdown", "text"}
    assert by_title["No Front Matter"].url == BASE + "2023/02/02/no-front-matter.html"


def test_yaml_timestamps_without_a_zone_are_utc_as_in_jekyll(jk: JekyllDir) -> None:
    jk.post("_posts/2019-04-05-late.md", "title: Late\ndate: 2019-04-05 23:30:00")
    (post,) = load(jk.config(), NOW).posts
    assert post.date == datetime(2019, 4, 5, 23, 30, tzinfo=UTC)
    assert post.url == BASE + "2019/04/06/late.html"  # the next day in Paris, as Jekyll


def test_unclosed_front_matter_is_reported_not_dropped(jk: JekyllDir) -> None:
    jk.write("_posts/2026-01-05-open.md", "---\ntitle: Open\nBody without a closing line.\n")
    site = load(jk.config(), NOW)
    (problem,) = site.problems
    assert (problem.file, problem.line, problem.severity) == ("_posts/2026-01-05-open.md", 1,
                                                              "error")
    assert "never closed" in problem.message


def test_a_plain_posts_folder_reports_unclosed_front_matter_too(site: object) -> None:
    from .conftest import SiteDir

    assert isinstance(site, SiteDir)
    site.raw("2026-01-05-open.md", b"---\ntitle: Open\nno closing line\n")
    site.raw("2014-3-3-unpadded.md", b"---\ntitle: Unpadded\n---\nHi\n")
    site.raw("2026-01-06-dots.mkdn", b"---\ntitle: Dots\n...\nHi\n")
    loaded = load(site.config(), NOW)
    assert sorted(p.title for p in loaded.posts) == ["Dots", "Unpadded"]
    assert [(p.file, p.line) for p in loaded.errors] == [("2026-01-05-open.md", 1)]
    runner = CliRunner()
    result = runner.invoke(
        cli, ["--config", str(site.root / "publisher.toml"), "check", "--strict"]
    )
    assert result.exit_code == 1
    assert "2026-01-05-open.md:1: error: front matter opened with `---` is never closed" in (
        result.stderr
    )


def test_a_file_in_posts_without_a_date_is_a_warning(jk: JekyllDir) -> None:
    jk.post("_posts/notes.md", "title: Notes")
    site = load(jk.config(), NOW)
    (problem,) = site.problems
    assert problem.severity == "warning" and "not named YYYY-MM-DD-title.ext" in problem.message


# -- jekyll-feed's behaviours -----------------------------------------------------------------


def test_jekyll_feed_summaries_titles_and_authors(jk: JekyllDir) -> None:
    jk.write(
        "_data/authors.yml",
        "ann:\n  name: Ann Example\n  email: ann@example.org\n  uri: https://ann.example.org\n",
    )
    jk.post(
        "_posts/2026-01-05-described.md",
        'title: "<span>Styled</span> and it\'s \\"quoted\\" -- yes..."\n'
        "description: The <b>description</b> wins\nauthor: ann",
        "First paragraph.\n\nSecond.\n",
    )
    jk.post(
        "_posts/2026-01-06-refs.md",
        "title: Refs",
        "See [the docs][docs] now.\n\nMore.\n\n[docs]: https://docs.example.org/\n",
    )
    jk.post("_posts/2026-01-07-only.md", "title: Only\nfeed: {excerpt_only: true}", "Body.\n")
    config = jk.build()
    parsed, root = jk.feed(config)
    by_title = {e.title: e for e in parsed.entries}
    styled = by_title["Styled and it\u2019s \u201cquoted\u201d \u2013 yes\u2026"]
    assert styled.summary == "The description wins"
    assert (styled.author_detail.name, styled.author_detail.email, styled.author_detail.href) == (
        "Ann Example", "ann@example.org", "https://ann.example.org",
    )
    refs = by_title["Refs"]
    assert refs.summary == "See the docs now."  # the definition came along, not [docs]
    assert "content" not in by_title["Only"]
    assert "content" in by_title["Refs"]
    assert root.find(f"{ATOM}author/{ATOM}name").text == "Jekyll test site"  # no site author


def test_excerpt_only_for_the_whole_site(jk: JekyllDir) -> None:
    jk.config_yml(jk.root.joinpath("_config.yml").read_text() + "feed: {excerpt_only: true}\n")
    jk.post("_posts/2026-01-05-a.md", "title: A", "Body.\n")
    config = jk.build()
    parsed, _root = jk.feed(config)
    assert "content" not in parsed.entries[0] and parsed.entries[0].summary == "Body."
    doc = json.loads((config.out_dir / "feed.json").read_text())
    assert "content_html" not in doc["items"][0]


def test_atom_feed_author_falls_back_to_the_site_title(site: object) -> None:
    from .conftest import BASE_CONFIG, SiteDir

    assert isinstance(site, SiteDir)
    site.write_config(text=BASE_CONFIG.replace(
        'author = { name = "Site Author", email = "author@example.org" }\n', ""))
    site.post("2026-01-05-a.md", "title: A")
    config = site.config()
    build(config, NOW)
    from . import feedcheck

    root = feedcheck.check(config.out_dir / "feed.xml")
    assert root.find(f"{ATOM}author/{ATOM}name").text == "Example & <Co>"


def test_category_and_tag_feeds_at_jekyll_feeds_paths(jk: JekyllDir) -> None:
    jk.config_yml(
        jk.root.joinpath("_config.yml").read_text()
        + "feed:\n  categories: [News]\n  tags: true\n"
    )
    jk.post("_posts/2026-01-05-a.md", "title: A\ncategories: [News]\ntags: [Python, Café]")
    config = jk.build()
    for path in ("feed/News.xml", "feed/by_tag/Python.xml", "feed/by_tag/café.xml"):
        _parsed, root = jk.feed(config, path)
        assert [e.findtext(f"{ATOM}title") for e in root.findall(f"{ATOM}entry")] == ["A"]
    _parsed, root = jk.feed(config, "feed/News.xml")
    assert root.findtext(f"{ATOM}id") == BASE + "feed/News.xml"


# -- Liquid -------------------------------------------------------------------------------------


def test_liquid_objects_tags_and_filters(jk: JekyllDir) -> None:
    jk.write("_data/team.yml", "- name: Zoë\n")
    jk.write(
        "_includes/note.html", '<aside class="note">{{ include.text }} ({{ include.n }})</aside>\n'
    )
    jk.write("about.md", "---\ntitle: About\n---\nAbout.\n")
    jk.post("_posts/2026-01-04-older.md", "title: Older")
    body = (
        "# {{ page.title }}\n\n"
        "Base {{ site.baseurl }}, {{ site.title | upcase }}, {{ site.data.team[0].name }}, "
        "{{ site.posts | size }} posts, newest {{ site.posts[0].title }}.\n\n"
        "[older]({% post_url 2026-01-04-older %}) [about]({% link about.md %}) "
        "[abs]({{ '/x y' | absolute_url }}) {{ page.date | date_to_xmlschema }} "
        "{{ 'A & B' | xml_escape }} {{ 'Hello World!' | slugify }} {{ page.tags | jsonify }} "
        "{{ site.posts | where: 'title', 'Older' | map: 'url' | first }} "
        "{{ '*md*' | markdownify | strip }}\n\n"
        '{% include note.html text="Careful" n=page.title %}\n\n'
        "{% highlight ruby linenos %}\ndef x\n\n  1 < 2\nend\n{% endhighlight %}\n\n"
        "{% raw %}{{ kept }}{% endraw %} {% comment %}gone{% endcomment %}\n"
    )
    jk.post("_posts/2026-01-05-liquid.md", "title: Liquid Post\ntags: [a]", body)
    config = jk.build()
    parsed, root = jk.feed(config)
    html = entries(root)["Liquid Post"].findtext(f"{ATOM}content") or ""
    assert '<h1 id="liquid-post">Liquid Post</h1>' in html
    assert "Base /blog, JEKYLL TEST SITE, Zoë, 2 posts, newest Liquid Post." in html
    assert 'href="https://example.org/blog/2026/01/04/older.html"' in html
    assert 'href="https://example.org/blog/about.html"' in html
    assert 'href="https://example.org/blog/x%20y"' in html
    assert "2026-01-05T00:00:00+01:00" in html
    assert "A &amp; B" in html and "hello-world" in html
    assert "[\u201ca\u201d]" in html  # jsonify, then kramdown's quotes, as in Jekyll
    assert "/2026/01/04/older.html" in html and "<em>md</em>" in html
    assert '<aside class="note">Careful (Liquid Post)</aside>' in html
    assert "<pre><code" in html and "def x\n\n  1 &lt; 2\nend" in html  # not flattened
    assert '<pre class="lineno">1\n2\n3\n4</pre>' in html
    assert "{{ kept }}" in html and "gone" not in html
    assert "{%" not in html


def test_an_unknown_tag_is_a_warning_and_left_out(jk: JekyllDir) -> None:
    jk.post(
        "_posts/2026-01-05-gist.md",
        "title: Gist",
        "Before.\n\n{% gist 12345 %}\n\n{% tabs x %}Inside{% endtabs %}\n"
        "{% raw %}{% gist 1 %}{% endraw %}\n",
    )
    config = jk.config()
    site = load(config, NOW)
    assert [(p.line, p.message) for p in site.warnings] == [
        (6, "unknown Liquid tag {% gist %} (a Jekyll plugin's?): left out"),
        (8, "unknown Liquid tag {% tabs %} (a Jekyll plugin's?): left out"),
        (8, "unknown Liquid tag {% endtabs %} (a Jekyll plugin's?): left out"),
    ]
    build(config, NOW)
    html = entries(jk.feed(config)[1])["Gist"].findtext(f"{ATOM}content") or ""
    assert "gist 12345" not in html and "Inside" in html and "{% gist 1 %}" in html


def test_liquid_only_where_a_post_has_it(jk: JekyllDir) -> None:
    jk.post("_posts/2026-01-05-plain.md", "title: Plain", "No templates: { braces } % ok.\n")
    config = jk.build()
    html = entries(jk.feed(config)[1])["Plain"].findtext(f"{ATOM}content") or ""
    assert "{ braces } % ok." in html


# -- kramdown-like Markdown ------------------------------------------------------------------


def test_kramdown_features(jk: JekyllDir) -> None:
    body = (
        "## Über uns {#about}\n\n## Über uns\n\nText.[^1]\n{: .lead}\n\n"
        "Term\n: Definition\n\n"
        "Math $$a \\\\ b$$ inline.\n\n$$\nx \\\\ y\n$$\n\n[^1]: A footnote.\n"
    )
    jk.post("_posts/2026-01-05-kd.md", "title: KD", body)
    config = jk.build()
    html = entries(jk.feed(config)[1])["KD"].findtext(f"{ATOM}content") or ""
    assert '<h2 id="about">Über uns</h2>' in html and '<h2 id="über-uns">' in html
    assert '<p class="lead">' in html
    assert "<dl>" in html and "<dt>Term</dt>" in html and "<dd>Definition</dd>" in html
    assert "\\(a \\\\ b\\)" in html and "\\[x \\\\ y\\]" in html
    assert 'class="footnotes"' in html and "A footnote." in html


# -- check: the migration report -----------------------------------------------------------


def test_check_compares_with_a_jekyll_feed(jk: JekyllDir) -> None:
    jk.post("_posts/2016-11-10-snyk.md", "title: Snyk")
    jk.post("_posts/2016-11-11-moved.md", "title: Moved")
    jk.post("_posts/2016-11-12-new.md", "title: New")
    theirs = jk.root.parent / "theirs.xml"
    theirs.write_text(
        '<feed xmlns="http://www.w3.org/2005/Atom"><id>x</id>'
        f'<entry><title>Snyk</title><id>{BASE}2016/11/10/snyk</id>'
        f'<link href="{BASE}2016/11/10/snyk.html"/>'
        "<published>2016-11-10T00:00:00+01:00</published></entry>"
        f'<entry><title>Moved</title><id>{BASE}old/moved</id>'
        f'<link href="{BASE}2016/11/11/moved.html"/>'
        "<published>2016-11-11T00:00:00+01:00</published></entry>"
        f'<entry><title>Gone</title><id>{BASE}gone</id><link href="{BASE}gone.html"/>'
        "<published>2016-11-09T00:00:00+01:00</published></entry></feed>"
    )
    jk.write_toml()
    result = CliRunner().invoke(
        cli, ["--config", str(jk.toml), "check", "--compare-with", str(theirs)]
    )
    assert result.exit_code == 0, result.output
    assert (
        "Compared with theirs.xml (3 entries): 1 the same, 1 id changed, 0 link changed, "
        "1 removed, 1 added." in result.stderr
    )
    assert f"'Moved': {BASE}old/moved -> {BASE}2016/11/11/moved" in result.stderr
    assert "removed (not among the posts published): 'Gone'" in result.stderr
    assert "added (not in theirs.xml): _posts/2016-11-12-new.md: 'New'" in result.stderr
    strict = CliRunner().invoke(
        cli, ["--config", str(jk.toml), "check", "--strict", "--compare-with", str(theirs)]
    )
    assert strict.exit_code == 1


def test_check_reports_liquid_left_unrendered_and_skipped_posts(site: object) -> None:
    from .conftest import SiteDir

    assert isinstance(site, SiteDir)
    site.post("2026-01-05-a.md", "title: A", "# {{ page.title }}\n")
    site.post("2026-01-06-b.md", "title: B\npublished: false")
    result = CliRunner().invoke(cli, ["--config", str(site.root / "publisher.toml"), "check"])
    assert "2026-01-05-a.md: warning: Liquid left unrendered ('{{ page.title }}'" in (
        result.stderr
    )
    assert "2026-01-06-b.md: not published: published: false" in result.stdout


# -- caches and the run guard see the Jekyll site's files --------------------------------------


def test_changing_config_or_data_defeats_the_unchanged_shortcut(jk: JekyllDir) -> None:
    jk.post("_posts/2026-01-05-a.md", "title: A\nauthor: ann")
    os.utime(jk.root / "_posts" / "2026-01-05-a.md", (1_700_000_000, 1_700_000_000))
    config = jk.config()
    assert not build(config, NOW).unchanged
    assert build(jk.config(), NOW).unchanged
    jk.write("_data/authors.yml", "ann: {name: Ann Example}\n")
    os.utime(jk.root / "_data" / "authors.yml", (1_700_000_000, 1_700_000_000))
    config = jk.config()
    assert not build(config, NOW).unchanged
    assert jk.feed(config)[0].entries[0].author == "Ann Example"
    jk.config_yml(jk.root.joinpath("_config.yml").read_text() + "permalink: /:title/\n")
    config = jk.config()
    assert cache.config_fingerprint(config) != cache.config_fingerprint(
        dataclasses.replace(config, jekyll_site=None)
    )
    assert not build(config, NOW).unchanged
    assert jk.feed(config)[0].entries[0].link == BASE + "a/"


def test_config_fields_carry_the_jekyll_site(jk: JekyllDir) -> None:
    config = jk.config()
    assert isinstance(config, Config) and config.jekyll_site is not None
    assert config.jekyll_site.root == str(jk.root.resolve())
    assert hash(config)  # still hashable


def test_a_capitalised_key_in_a_jekyll_post_names_the_key_it_meant(jk: JekyllDir) -> None:
    jk.post("_posts/2026-01-05-caps.md", "Title: Capital\nlayout: post")
    site = load(jk.config(), NOW)
    assert [p.title for p in site.posts] == ["Caps"]  # as Jekyll: keys are lower case
    (problem,) = site.problems
    assert (problem.file, problem.line, problem.severity) == (
        "_posts/2026-01-05-caps.md", 2, "warning"
    )
    assert problem.message == (
        "`Title:` is not read (front matter keys are lower case): did you mean `title`?"
    )
