"""Each pytest-xdist worker gets a var dir of its own (SQLite file, broker, attachments, audit key,
Prometheus samples).

Loaded with ``-p tests.xdist_dirs`` (``make test-fast``): a ``-p`` plugin is imported before
pytest-django reads the settings, which a conftest would be too late for. Outside xdist it does
nothing.
"""

from __future__ import annotations

import os
from pathlib import Path

_worker = os.environ.get("PYTEST_XDIST_WORKER")
if _worker:
    _base = os.environ.get("FRAUDCASES_VAR_DIR") or str(Path(__file__).resolve().parents[1] / "var")
    os.environ["FRAUDCASES_VAR_DIR"] = str(Path(_base) / f"xdist-{_worker}")
    # The controller's own Prometheus sample directory is inherited: each worker counts in a
    # directory of its own instead (core.metrics picks proc-<pid> under the new var dir).
    os.environ.pop("PROMETHEUS_MULTIPROC_DIR", None)
