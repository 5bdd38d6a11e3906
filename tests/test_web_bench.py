"""The web benchmark harness must keep working: one smoke run, no timing assertions."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from bench import web

REPO = Path(__file__).resolve().parent.parent


def test_percentile() -> None:
    values = [float(v) for v in range(1, 101)]
    assert web.percentile(values, 0.99) == 99.0
    assert web.percentile(values, 0.5) == 50.0
    assert web.percentile([], 0.99) == 0.0


def test_smoke_run(tmp_path: Path) -> None:
    done = subprocess.run(
        [sys.executable, "-m", "bench.web", "--smoke", "--work", str(tmp_path / "work"),
         "--results", str(tmp_path / "results")],
        cwd=REPO, capture_output=True, text=True, timeout=300,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    (out,) = (tmp_path / "results").glob("web-*.json")
    report = json.loads(out.read_text(encoding="utf-8"))
    assert report["ok"] and report["smoke"] and report["commit"]
    assert report["errors"] == 0 and report["lost_unsubscribes"] == 0
    assert report["mailed_after_unsubscribe"] == 0
    assert report["pending_created"] == report["confirmations"] == 50
    assert report["send_sent"] + report["send_skipped"] == 300
    assert set(report["latency_ms"]) == {"one-click", "subscribe"}
    assert report["latency_ms"]["one-click"]["count"] == 20
    assert "p99" in done.stdout
