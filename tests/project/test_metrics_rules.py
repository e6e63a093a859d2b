"""deploy/prometheus/alerts.yml: valid (``promtool check rules``), unit-tested (``promtool test
rules``), and naming only metrics that fraudcases exposes.

promtool comes with Debian's ``prometheus`` package; CI installs it, so there (``CI`` set) a
missing promtool fails instead of skipping.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
RULES = ROOT / "deploy" / "prometheus" / "alerts.yml"
RULE_TESTS = ROOT / "deploy" / "prometheus" / "alerts.test.yml"


def promtool() -> str:
    path = shutil.which("promtool")
    if path is None:
        if os.environ.get("CI"):
            pytest.fail("promtool is missing in CI: apt-get install prometheus")
        pytest.skip("promtool not installed (apt-get install prometheus)")
    return path


def run(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [promtool(), *args], cwd=RULES.parent, capture_output=True, text=True, timeout=60
    )


def test_rules_are_valid():
    result = run("check", "rules", RULES.name)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "SUCCESS" in result.stdout


def test_rules_pass_their_unit_tests():
    result = run("test", "rules", RULE_TESTS.name)
    assert result.returncode == 0, result.stdout + result.stderr


def test_every_rule_has_a_unit_test():
    alerts = set(re.findall(r"^\s+- alert: (\w+)$", RULES.read_text(), re.MULTILINE))
    tested = set(re.findall(r"alertname: (\w+)$", RULE_TESTS.read_text(), re.MULTILINE))
    assert alerts and alerts <= tested, alerts - tested


def test_rules_name_only_exposed_metrics():
    names = set(re.findall(r"\b(fraudcases_[a-z_]+)\b", RULES.read_text()))
    source = "".join((ROOT / p).read_text() for p in ("core/metrics.py", "scoring/metrics.py"))
    assert names
    missing = sorted(n for n in names if f'"{n}"' not in source)
    assert not missing, f"alerts.yml names metrics fraudcases does not expose: {missing}"
