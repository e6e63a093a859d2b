"""The hash-pinned locks match requirements*.txt (run `make lock` after changing a pin)."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
PIN = re.compile(r"^([A-Za-z0-9][A-Za-z0-9._-]*)(?:\[[^\]]*\])?==([^\s;#]+)")


def canonical(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def pins(path: Path) -> dict[str, str]:
    """``name -> version`` of the ``name==version`` lines (``-r`` includes are not followed)."""
    found = {}
    for line in path.read_text().splitlines():
        match = PIN.match(line.strip())
        if match:
            found[canonical(match.group(1))] = match.group(2)
    return found


def locked(path: Path) -> dict[str, str]:
    text = path.read_text()
    entries = re.split(r"\n(?=[A-Za-z0-9])", text)
    result = {}
    for entry in entries:
        match = PIN.match(entry)
        if match:
            assert "--hash=sha256:" in entry, f"{path.name}: {match.group(1)} has no hash"
            result[canonical(match.group(1))] = match.group(2)
    return result


@pytest.mark.parametrize(
    ("source", "lock"),
    [("requirements.txt", "requirements.lock"), ("requirements-dev.txt", "requirements-dev.lock")],
)
def test_every_pin_is_locked_at_its_version(source, lock):
    wanted, have = pins(ROOT / source), locked(ROOT / lock)
    stale = {name: version for name, version in wanted.items() if have.get(name) != version}
    assert not stale, f"{lock} is stale for {stale}: run `make lock`"


def test_runtime_lock_holds_no_dev_tool_and_agrees_with_the_dev_lock():
    runtime, dev = locked(ROOT / "requirements.lock"), locked(ROOT / "requirements-dev.lock")
    dev_only = pins(ROOT / "requirements-dev.txt")
    assert not set(dev_only) & set(runtime)
    assert {name: dev.get(name) for name in runtime} == runtime
    assert "packaging" in runtime  # kombu's Redis transport imports it without declaring it
