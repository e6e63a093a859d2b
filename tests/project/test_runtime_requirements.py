"""Every third-party module the application imports is pinned in requirements.txt itself.

The runtime-only install (``make smoke``, docs/deployment.md) must not depend on a package that
only the dev requirements, or a transitive dependency, happen to bring in (as ``packaging`` did
for kombu's Redis transport). This test finds such gaps without building a venv.
"""

from __future__ import annotations

import ast
import re
import sys
from importlib.metadata import packages_distributions
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
APPLICATION = ("core", "fraudcases", "scoring", "alerts")
# Imported inside a function for an optional feature that says how to install it when missing.
OPTIONAL = {"confluent_kafka": "`consume_stream --source kafka` (scoring/streams/kafka_source.py)"}
# Imported by a pinned package at run time but not declared by it (kombu.transport.redis).
UNDECLARED = {"packaging"}


def canonical(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def runtime_pins() -> set[str]:
    pins = set()
    for line in (ROOT / "requirements.txt").read_text().splitlines():
        match = re.match(r"^([A-Za-z0-9][A-Za-z0-9._-]*)(?:\[[^\]]*\])?==", line.strip())
        if match:
            pins.add(canonical(match.group(1)))
    return pins


def imported_modules() -> dict[str, str]:
    """Top-level third-party module -> one file importing it (module or function level)."""
    found: dict[str, str] = {}
    for package in APPLICATION:
        for path in (ROOT / package).rglob("*.py"):
            if "migrations" in path.parts:
                continue
            for node in ast.walk(ast.parse(path.read_text(), str(path))):
                if isinstance(node, ast.Import):
                    names = [alias.name for alias in node.names]
                elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
                    names = [node.module]
                else:
                    continue
                for name in names:
                    top = name.split(".")[0]
                    if top not in sys.stdlib_module_names and top not in APPLICATION:
                        found.setdefault(top, str(path.relative_to(ROOT)))
    return found


def test_every_imported_package_is_pinned_in_requirements_txt():
    pins = runtime_pins()
    providers = packages_distributions()
    missing = []
    for module, where in sorted(imported_modules().items()):
        if module in OPTIONAL:
            continue
        dists = {canonical(d) for d in providers.get(module, [])}
        if not dists & pins:
            missing.append(f"{module} (imported in {where}; distribution {sorted(dists) or '?'})")
    assert not missing, "not pinned in requirements.txt: " + "; ".join(missing)


def test_undeclared_runtime_dependencies_are_pinned():
    assert {canonical(name) for name in UNDECLARED} <= runtime_pins()
