"""The real messages through SpamAssassin (Debian's `spamassassin`), local tests
only (`-L`: no DNS blocklists, no network): the score must stay at or below 0.
The rules that fired are printed (`pytest -s` shows them) and saved under
$PUBLISHER_ARTIFACTS/spamassassin/ when that is set."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
from pathlib import Path

import pytest

from publisher.app import pipeline
from publisher.store.store import Store

from .delivery_support import NOW, SECRET, make_site, write_config

SPAMASSASSIN = shutil.which("spamassassin")
ENGLISH = {
    "2026-03-01-results.md": (
        "title: Quarterly results are in\ndate: 2026-03-01T09:00:00\n"
        "image: {path: img/chart.png, alt: Revenue by quarter}\nauthor: Desk",
        "Revenue rose again this quarter, driven by the new subscription plans and a "
        "steady rise in renewals. We explain what changed and what comes next.\n",
    ),
    "2026-03-01-notes.md": (
        "title: Notes from the field\ndate: 2026-03-01T08:00:00",
        "A week of interviews in three cities, and what people told us about local news.\n",
    ),
}
JAPANESE = {
    f"2026-03-01-jp{i}.md": (
        f'title: "東京の読者のみなさんへ {i}"\ndate: 2026-03-01T0{i}:00:00',
        "東京の読者のみなさん、こんにちは。今週の記事をお届けします。" * 8 + "\n",
    )
    for i in range(6)
}
ARABIC = {
    "2026-03-01-ar.md": (
        'title: "أخبار الأسبوع"\ndate: 2026-03-01T09:00:00',
        "هذه فقرة باللغة العربية عن أخبار الأسبوع في المدينة، مع تفاصيل عن الأحداث المهمة.\n",
    ),
}


def _need_spamassassin() -> str:
    if SPAMASSASSIN is None:
        reason = "spamassassin (Debian package) is not installed"
        if os.environ.get("CI") == "true":
            pytest.fail(reason + "; CI installs it (.ci/run)")
        pytest.skip(reason)
    return SPAMASSASSIN


def digest_message(tmp_path: Path, posts: dict[str, tuple[str, str]],
                   monkeypatch: pytest.MonkeyPatch) -> bytes:
    monkeypatch.setenv("PUBLISHER_SECRET", SECRET)
    folder = tmp_path / "content"
    folder.mkdir(parents=True)
    for name, (front, body) in posts.items():
        (folder / name).write_text(f"---\n{front}\n---\n\n{body}", encoding="utf-8")
    write_config(tmp_path, {"return_path": "bounces@news.example.org"})
    config = make_site(tmp_path, {"return_path": "bounces@news.example.org"}, posts=0)
    state = Store.open(config.state_file)
    try:
        with state.transaction():
            state.subscribers.add("ann.lee@example.com", "Ann Lee", NOW, first_name="Ann")
    finally:
        state.close()
    pipeline.publish(config, NOW)
    (eml,) = config.resolve(".publisher/outbox").glob("*.eml")
    return eml.read_bytes()


def score(message: bytes, home: Path) -> tuple[float, list[str], str]:
    """SpamAssassin's score, the rules that fired, and its report."""
    proc = subprocess.run(
        [_need_spamassassin(), "-t", "-L"], input=message, capture_output=True, timeout=120,
        env={**os.environ, "HOME": str(home)},  # its user_prefs go there, not in ~
    )
    report = proc.stdout.decode("utf-8", "replace")
    found = re.search(r"Content analysis details:\s+\((-?[\d.]+) points", report)
    assert found, report[-2000:] + proc.stderr.decode()
    table = report[found.end():]
    rules = re.findall(r"^\s*(-?[\d.]+)\s+([A-Z0-9_]+)\s", table, re.MULTILINE)
    return float(found[1]), [f"{pts} {name}" for pts, name in rules], table


@pytest.mark.parametrize(
    "posts", [ENGLISH, JAPANESE, ARABIC], ids=["english", "japanese", "arabic"]
)
def test_the_digest_scores_at_most_zero(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, posts: dict[str, tuple[str, str]],
    request: pytest.FixtureRequest,
) -> None:
    _need_spamassassin()
    message = digest_message(tmp_path / "site", posts, monkeypatch)
    points, rules, table = score(message, tmp_path)
    print(f"\nSpamAssassin {request.node.callspec.id}: {points} points; rules: {rules}")
    artifacts = os.environ.get("PUBLISHER_ARTIFACTS")
    if artifacts:
        folder = Path(artifacts) / "spamassassin"
        folder.mkdir(parents=True, exist_ok=True)
        (folder / f"{request.node.callspec.id}.txt").write_text(table, encoding="utf-8")
    assert points <= 0, f"{points} points:\n{table}"
    assert not [r for r in rules if "LOW_CONTRAST" in r or "BASE64" in r], rules
