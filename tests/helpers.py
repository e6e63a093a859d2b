"""Helpers shared by test modules (a test module never imports from another one).

Synthetic history into the database, API payload items, a real Celery worker subprocess and
plain HTTP calls to a live server, and reading a Prometheus exposition.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import time
import urllib.error
import urllib.request
import uuid
from contextlib import contextmanager
from pathlib import Path

import pandas as pd
import pytest
from django.conf import settings
from django.db import connection

from fraudcases.celery import app
from scoring.management.commands.generate_transactions import frame_to_items
from scoring.models import Transaction, WorkerHeartbeat
from scoring.services.ingest import transactions_store, transactions_submit

ROOT = Path(__file__).resolve().parent.parent

RECENT_DAYS = 3


def split_history(
    frame: pd.DataFrame, days: int = RECENT_DAYS
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """(older history, the last ``days`` days) of a synthetic frame."""
    cut = frame["occurred_at"].max() - pd.Timedelta(days=days)
    return frame[frame["occurred_at"] < cut], frame[frame["occurred_at"] >= cut]


def load_history(frame: pd.DataFrame) -> int:
    """Store rows as imported history (labelled, not scored live)."""
    items = frame_to_items(frame.drop(columns=["id"], errors="ignore"))
    return transactions_store(
        items=items, source=Transaction.Source.SYNTHETIC, mode="history"
    ).accepted


def api_items(frame: pd.DataFrame) -> list[dict]:
    """Rows as JSON-ready API payload items (no labels)."""
    items = []
    for item in frame_to_items(frame.drop(columns=["id"], errors="ignore")):
        item.pop("is_fraud", None)
        item.pop("fraud_pattern", None)
        item["amount"] = str(item["amount"])
        item["occurred_at"] = item["occurred_at"].isoformat()
        items.append(item)
    return items


def database_url() -> str:
    db = connection.settings_dict
    if connection.vendor == "sqlite":
        return f"sqlite:///{db['NAME']}"
    user = db.get("USER") or ""
    password = f":{db['PASSWORD']}" if db.get("PASSWORD") else ""
    auth = f"{user}{password}@" if user else ""
    return f"postgres://{auth}{db.get('HOST') or '127.0.0.1'}:{db.get('PORT') or 5432}/{db['NAME']}"


@contextmanager
def running_worker(log_path: Path):
    """A real ``celery -A fraudcases worker`` on this run's own queue; stopped on exit."""
    queue = app.conf.task_default_queue
    hostname = f"e2e-{uuid.uuid4().hex[:8]}@localhost"
    env = {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "fraudcases.settings.test",
        "DATABASE_URL": database_url(),
        "CELERY_QUEUE": queue,
        "MODEL_STORE_DIR": str(settings.MODEL_STORE_DIR),
        "FRAUDCASES_VAR_DIR": str(settings.VAR_DIR),
    }
    if settings.CELERY_BROKER_URL:
        env["CELERY_BROKER_URL"] = settings.CELERY_BROKER_URL
    log = open(log_path, "w+")  # noqa: SIM115 - closed in the finally below
    process = subprocess.Popen(
        [
            sys.executable, "-m", "celery", "-A", "fraudcases", "worker",
            "-Q", queue, "--hostname", hostname, "--concurrency", "1",
            "--loglevel", "INFO", "--without-gossip", "--without-mingle",
        ],
        cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT,
    )  # fmt: skip
    try:
        deadline = time.monotonic() + 60
        while not WorkerHeartbeat.objects.filter(hostname=hostname).exists():
            if process.poll() is not None or time.monotonic() > deadline:
                log.seek(0)
                pytest.fail(f"worker did not start (exit {process.returncode}):\n{log.read()}")
            time.sleep(0.5)
        yield process, log
    finally:
        process.terminate()
        try:
            process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            process.kill()
        log.close()


def http(method: str, url: str, key: str, payload=None) -> tuple[int, dict]:
    data = json.dumps(payload).encode() if payload is not None else None
    request = urllib.request.Request(
        url,
        data=data,
        method=method,
        headers={"Content-Type": "application/json", "Authorization": f"Api-Key {key}"},
    )
    try:
        with urllib.request.urlopen(request, timeout=30) as response:
            return response.status, json.loads(response.read())
    except urllib.error.HTTPError as exc:
        return exc.code, json.loads(exc.read() or b"{}")


def sample(text: str, name: str, **labels) -> float | None:
    """The value of one sample in a Prometheus text exposition (None when absent)."""
    label_text = ",".join(f'{k}="{v}"' for k, v in sorted(labels.items()))
    pattern = re.escape(name) + (r"\{" + re.escape(label_text) + r"\}" if labels else "")
    match = re.search(rf"^{pattern} (\S+)$", text, re.MULTILINE)
    return float(match.group(1)) if match else None


def txn(n: int = 1, **overrides) -> dict:
    item = {
        "external_id": f"ext-{n}",
        "account_id": "acct-1",
        "amount": "125.40",
        "currency": "EUR",
        "occurred_at": "2026-11-20T10:15:00+01:00",
        "merchant_id": "m-1",
        "merchant_category": "grocery",
        "channel": "pos",
        "country": "DE",
        "latitude": 52.52,
        "longitude": 13.40,
        "device_id": "dev-1",
        "ip_address": "203.0.113.7",
        "counterparty_id": "",
        "metadata": {"terminal": "T-9", "risk_hint": 0.2},
    }
    item.update(overrides)
    return item


def ingest_recent(frame) -> list[int]:
    return transactions_submit(
        items=api_items(frame), source=Transaction.Source.API, mode="sync"
    ).ids


def hits_discarded(*, hits) -> list:
    """A ``SCORING_HITS_HANDLER`` that opens nothing (tests that count scoring's own queries)."""
    return []
