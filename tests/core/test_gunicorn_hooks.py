"""gunicorn.conf.py's worker hook: once a web worker has loaded the application it imports the
views and freezes the garbage collector, so a full collection no longer walks every object of
Django, pandas and scikit-learn in the middle of a request. (The smoke and end-to-end tests
start real gunicorn workers with this file.)"""

from __future__ import annotations

import gc
import importlib.util
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def test_a_web_worker_imports_its_views_and_freezes_the_collector():
    spec = importlib.util.spec_from_file_location("gunicorn_conf", ROOT / "gunicorn.conf.py")
    conf = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(conf)
    gc.unfreeze()
    try:
        conf.post_worker_init(worker=None)
        assert gc.get_freeze_count() > 0
        assert "scoring.api.views" in sys.modules
    finally:
        gc.unfreeze()
