"""Deterministic, realistic test sites: Jekyll posts and subscriber lists.

Everything comes from one seeded `random.Random`, so the same (seed, count)
gives byte-identical files on every machine. Speed matters (100k posts in a
few seconds): paragraphs are drawn from a pool built once per site, and each
post adds one sentence of its own so no two bodies are equal.

    python -m bench.generate posts DIR --count 10000 [--seed 1] [--profile real]
    python -m bench.generate subscribers FILE.csv --count 100000 [--seed 1]
"""

from __future__ import annotations

import argparse
import csv
import os
import random
from datetime import datetime, timedelta
from pathlib import Path

# Bump when the output changes, so cached sites under bench/work/ are rebuilt.
VERSION = 1
# Post shapes. "short" (the original bench posts: 5-15 pool paragraphs, ~3 KB) and
# "real" (what issue 14 measured users have: ~5 KB, 6-15 paragraphs, each longer,
# with links, images, lists and non-ASCII text; 10,000 posts are ~50 MB).
PROFILES = ("short", "real")
# The newest generated post is dated just before this (site-local time); the
# harness passes a `--now` after it so every post is published.
NEWEST = datetime(2026, 1, 1, 6, 0, 0)
POOL_SIZE = 3000

WORDS = (
    "government", "minister", "election", "council", "economy", "market", "trade", "tariff",
    "sanctions", "oil", "energy", "climate", "summit", "treaty", "border", "army", "navy",
    "coast", "port", "harbour", "bank", "loan", "budget", "inflation", "report", "analyst",
    "expert", "professor", "director", "university", "capital", "region", "province",
    "village", "farmer", "harvest", "drought", "flood", "storm", "rescue", "hospital",
    "doctor", "vaccine", "school", "teacher", "student", "court", "judge", "ruling", "appeal",
    "police", "protest", "strike", "union", "worker", "factory", "railway", "airport",
    "bridge", "tunnel", "satellite", "launch", "telescope", "research", "data", "network",
    "cable", "software", "startup", "festival", "museum", "painting", "novel", "film",
    "orchestra", "stadium", "league", "final", "record",
)
ACCENTED = (
    "Nicolás Maduro", "Andrés Bello", "Hugo Chávez", "María Corina Machado", "São Paulo",
    "Zürich", "Kraków", "Reykjavík", "Düsseldorf", "Montréal", "Bogotá", "Córdoba",
    "Ærøskøbing", "Łódź", "İstanbul", "Ciudad de México", "Peña Nieto", "François", "Søren",
    "Dvořák",
)
CJK = ("東京", "北京", "上海", "서울", "台北", "大阪", "習近平", "新華社", "こんにちは", "经济")
EMOJI = ("🌍", "📈", "🗳️", "⚡", "🚢", "🔥", "🎉", "👩‍🔬", "🇻🇪", "☕")
AUTHORS = (
    "badely", "Ana Müller", "Jiří Novák", "Chloé Martin", "Kenji Watanabe",
    "Olusegun Adeyemi", "Priya Raman", "desk", "María José Pérez", "Liam O'Brien",
)
CATEGORIES = ("News", "World", "Politics", "Business", "Science", "Culture", "Sport", "Opinion")
TAGS = (
    "venezuela", "china", "russia", "trade", "climate", "elections", "economy", "energy",
    "health", "technology", "europe", "asia", "africa", "americas", "analysis", "live",
)
HEADLINES = (
    "{A} as {W} {w} faces {w} pressure",
    "Breaking: {W} {w} in {P} after {w} talks",
    "Why the {w} {w} matters for {P}",
    "{P}'s {w} {w}: what we know so far",
    "Analysis: {W} {w} and the \"{w}\" question",
    "{A} says {w} {w} will not change {P}",
    "In {P}, a {w} {w} meets a {w} {w} {E}",
    "Live: {W} {w} — {C} {w} update",
)


def _sentence(rng: random.Random, words: int) -> str:
    picked = rng.choices(WORDS, k=words)
    text = " ".join(picked)
    return text[0].upper() + text[1:]


def _paragraph(rng: random.Random, sentences: tuple[int, int] = (2, 4)) -> str:
    """One Markdown block: prose with links/emphasis/non-ASCII, a list, a quote or an image."""
    kind = rng.random()
    if kind < 0.10:
        items = [f"- {_sentence(rng, rng.randint(3, 8))}" for _ in range(rng.randint(2, 5))]
        return "\n".join(items)
    if kind < 0.15:
        items = [
            f"{n}. {_sentence(rng, rng.randint(3, 8))}" for n in range(1, rng.randint(3, 6))
        ]
        return "\n".join(items)
    if kind < 0.20:
        return f"> \"{_sentence(rng, rng.randint(8, 16))},\" says {rng.choice(ACCENTED)}."
    if kind < 0.25:
        name = f"{rng.getrandbits(128):032x}"
        return f"![{_sentence(rng, 3)}](/assets/images/{name}.jpg)"
    parts = []
    for _ in range(rng.randint(*sentences)):
        s = _sentence(rng, rng.randint(7, 16))
        roll = rng.random()
        if roll < 0.15:
            url = f"https://example.com/{rng.choice(WORDS)}/{rng.randint(1, 99999)}"
            s += f", according to [{rng.choice(WORDS)} reports]({url})"
        elif roll < 0.25:
            url = f"/news/2025/0{rng.randint(1, 9)}/1{rng.randint(0, 9)}/{rng.choice(WORDS)}.html"
            s += f" (see [our earlier {rng.choice(WORDS)} story]({url}))"
        elif roll < 0.35:
            s += f", said *{rng.choice(ACCENTED)}*"
        elif roll < 0.42:
            s += f" in **{rng.choice(CJK)}**"
        elif roll < 0.47:
            s += f" {rng.choice(EMOJI)}"
        elif roll < 0.52:
            s += f" and `{rng.choice(WORDS)}_{rng.choice(WORDS)}`"
        parts.append(s + ".")
    return " ".join(parts)


def _quote(text: str) -> str:
    """A YAML double-quoted scalar."""
    return '"' + text.replace("\\", "\\\\").replace('"', '\\"') + '"'


def _headline(rng: random.Random) -> str:
    return rng.choice(HEADLINES).format_map(_Fill(rng))


class _Fill(dict[str, str]):
    """Each {W}/{w}/{P}/... in a headline template gets its own random word."""

    def __init__(self, rng: random.Random) -> None:
        super().__init__()
        self.rng = rng

    def __missing__(self, key: str) -> str:
        rng = self.rng
        if key == "w":
            return rng.choice(WORDS)
        if key == "W":
            return rng.choice(WORDS).capitalize()
        if key in ("P", "A"):
            return rng.choice(ACCENTED)
        if key == "C":
            return rng.choice(CJK)
        return rng.choice(EMOJI)


def category_names(count: int) -> tuple[str, ...]:
    """`count` distinct category names, some non-ASCII, for sites with many categories."""
    suffixes = ("Desk", "Weekly", "Zürich", "Bogotá", "Łódź", "東京")
    names = [f"{w.capitalize()} {s}" for s in suffixes for w in WORDS]
    if count > len(names):
        raise ValueError(f"at most {len(names)} categories")
    return tuple(names[:count])


class PostMaker:
    """Makes post i of a site; post 0 is the newest."""

    def __init__(self, seed: int, categories: int = 0, profile: str = "short") -> None:
        if profile not in PROFILES:
            raise ValueError(f"unknown post profile {profile!r}: one of {', '.join(PROFILES)}")
        self.rng = random.Random(seed)
        # Real-size prose paragraphs have 3-7 sentences (the short ones 2-4), and a
        # body has 6-15 of them: about 5 KB a post on average.
        sentences = (3, 7) if profile == "real" else (2, 4)
        self.paragraphs = (6, 15) if profile == "real" else (5, 15)
        self.pool = [_paragraph(self.rng, sentences) for _ in range(POOL_SIZE)]
        self.categories = category_names(categories) if categories else CATEGORIES

    def date(self, index: int) -> datetime:
        # About one post an hour: 100k posts span ~11 years, like a busy news site.
        jitter = (index * 7919) % 2400
        return NEWEST - timedelta(hours=index, seconds=jitter)

    def body(self) -> str:
        rng = self.rng
        paragraphs = rng.sample(self.pool, rng.randint(*self.paragraphs))
        # One sentence of its own so no two bodies are equal.
        paragraphs.insert(rng.randint(0, 2), _sentence(rng, 12) + f" ({rng.getrandbits(40):x}).")
        return "\n\n".join(paragraphs) + "\n"

    def post(self, index: int, when: datetime | None = None) -> tuple[str, str]:
        """(file name, file text) of post `index`."""
        rng = self.rng
        when = when or self.date(index)
        title = _headline(rng)
        slug = "-".join(
            w.lower() for w in title.split() if w.isascii() and w.isalpha()
        )[:60].strip("-") or "post"
        slug = f"{slug}-{index}"
        lines = [
            "---",
            "layout: post",
            f"title: {_quote(title)}",
            f"date: {when:%Y-%m-%dT%H:%M:%S}",
            f"author: {_quote(rng.choice(AUTHORS))}",
            f"categories: [{', '.join(rng.sample(self.categories, rng.choice((1, 1, 1, 2))))}]",
            f"tags: [{', '.join(rng.sample(TAGS, rng.randint(0, 4)))}]",
        ]
        if rng.random() < 0.4:
            lines.append(f"excerpt: {_quote(_sentence(rng, rng.randint(12, 24)) + '.')}")
        if rng.random() < 0.5:
            lines.append(f"image: assets/images/{rng.getrandbits(128):032x}.jpg")
        lines.append("---")
        lines.append("")
        return f"{when:%Y-%m-%d}-{slug}.md", "\n".join(lines) + "\n" + self.body()


def write_posts(
    folder: Path, count: int, seed: int = 1, categories: int = 0, profile: str = "short"
) -> list[Path]:
    """Write `count` posts into `folder` (created); returns their paths, newest first.

    With `categories`, posts are spread over that many categories instead of the usual 8;
    `profile` is the post shape (see PROFILES).
    """
    folder.mkdir(parents=True, exist_ok=True)
    maker = PostMaker(seed, categories, profile)
    paths = []
    for index in range(count):
        name, text = maker.post(index)
        path = os.path.join(folder, name)
        with open(path, "w", encoding="utf-8") as handle:
            handle.write(text)
        paths.append(Path(path))
    return paths


FIRST = ("Anna", "José", "Zoë", "Mohammed", "Wei", "Olga", "Kwame", "Siobhán", "Hiroshi", "Lena")
LAST = ("Núñez", "Smith", "李", "Østergaard", "Kowalski", "O'Neil", "García", "Ngũgĩ", "Tanaka")
DOMAINS = ("example.com", "example.org", "mail.example.net", "Example.co.uk", "post.example")


def write_subscribers(path: Path, count: int, seed: int = 1, inactive_share: float = 0.0) -> None:
    """A CSV `email,name,status`; addresses are unique, names partly non-ASCII or empty."""
    rng = random.Random(seed)
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "w", encoding="utf-8", newline="") as handle:
        out = csv.writer(handle)
        out.writerow(["email", "name", "status"])
        for index in range(count):
            first, last = rng.choice(FIRST), rng.choice(LAST)
            local = f"{first[0]}.{last}".encode("ascii", "ignore").decode().lower()
            local = local.replace("'", "").strip(".") or "reader"
            email = f"{local}.{index}@{rng.choice(DOMAINS)}"
            name = "" if rng.random() < 0.1 else f"{first} {last}"
            if rng.random() < 0.02:
                name = f"{last}, {first}"  # a comma: the CSV must quote it
            status = "active"
            if rng.random() < inactive_share:
                status = rng.choice(("unsubscribed", "bounced"))
            out.writerow([email, name, status])


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.generate", description=__doc__)
    parser.add_argument("what", choices=("posts", "subscribers"))
    parser.add_argument("target", type=Path, help="folder for posts, file for subscribers")
    parser.add_argument("--count", type=int, default=1000)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--categories", type=int, default=0,
                        help="spread posts over this many categories (default: 8)")
    parser.add_argument("--profile", choices=PROFILES, default="short",
                        help="post shape: short (~3 KB) or real (~5 KB, as users have)")
    args = parser.parse_args(argv)
    if args.what == "posts":
        write_posts(args.target, args.count, args.seed, args.categories, args.profile)
    else:
        write_subscribers(args.target, args.count, args.seed)


if __name__ == "__main__":
    main()
