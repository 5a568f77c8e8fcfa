"""The official MCP conformance suite, both requirement sets, through a ScopeGate endpoint mounted without
prefixes over our fixture upstream (scripts/conformance.sh). Every scored scenario must pass."""

import json
import os
import subprocess
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
pytestmark = [pytest.mark.e2e, pytest.mark.timeout(900)]


def test_every_scored_conformance_scenario_passes_through_scopegate():
    env = {k: v for k, v in os.environ.items() if k not in {"DATABASE_URL", "REDIS_URL", "SCOPEGATE_DATA_DIR"}}
    result = subprocess.run(
        ["bash", "scripts/conformance.sh"], cwd=ROOT, env=env, capture_output=True, text=True, timeout=850
    )
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    summary = json.loads((ROOT / "artifacts" / "conformance" / "summary.json").read_text())
    for requirements, runs in summary["sets"].items():
        through = runs["scopegate"]
        assert through["scored_failed"] == [], (requirements, through)
        assert through["scored_passed"] == through["scored_total"] > 0
