"""Metrics with real processes: two Celery workers score batches posted over HTTP, and one
scrape of the web process adds up what both counted (prometheus-client multiprocess mode)."""

from __future__ import annotations

import glob
import time
import urllib.request

import pytest
from django.conf import settings
from prometheus_client.multiprocess import MultiProcessCollector

from core.metrics_process import metrics_base_dir
from fraudcases.models import Case
from scoring.models import Transaction, WorkerHeartbeat
from tests.helpers import api_items, http, load_history, running_worker, sample, split_history

pytestmark = [pytest.mark.e2e, pytest.mark.django_db(transaction=True)]
TOKEN = "metrics-test-token-0123456789"


def scrape(base_url: str) -> str:
    request = urllib.request.Request(
        f"{base_url}/metrics", headers={"Authorization": f"Bearer {TOKEN}"}
    )
    with urllib.request.urlopen(request, timeout=30) as response:
        assert response.status == 200
        return response.read().decode()


def scored_by_worker(hostname: str) -> float:
    """What one worker's processes counted, read from its own sample files only."""
    files = glob.glob(str(metrics_base_dir() / f"worker-{hostname}" / "*.db"))
    total = 0.0
    for metric in MultiProcessCollector.merge(files):
        if metric.name == "fraudcases_transactions_scored":
            total += sum(s.value for s in metric.samples if s.name.endswith("_total"))
    return total


def test_two_workers_count_into_one_scrape(
    live_server, champion, api_key, synthetic_history, tmp_path
):
    settings.METRICS_TOKEN = TOKEN
    older, recent = split_history(synthetic_history, days=2)
    load_history(older)
    items = api_items(recent)
    batches = [items[i : i + 60] for i in range(0, len(items), 60)]
    url = f"{live_server.url}/api/v1/transactions"
    cases_before = Case.objects.count()

    with (
        running_worker(tmp_path / "worker-a.log") as (proc_a, log_a),
        running_worker(tmp_path / "worker-b.log") as (proc_b, log_b),
    ):
        before = scrape(live_server.url)
        hostnames = list(WorkerHeartbeat.objects.values_list("hostname", flat=True))
        assert len(hostnames) == 2
        sent: set[str] = set()
        deadline = time.monotonic() + 240
        # Post batch after batch until both workers have scored some (then the rest at once).
        for n, batch in enumerate(batches):
            status, body = http("POST", url, api_key[1], {"transactions": batch})
            assert status == 202 and body["accepted"] == len(batch), body
            sent |= {i["external_id"] for i in batch}
            if n >= 3 and all(scored_by_worker(h) > 0 for h in hostnames):
                break
            time.sleep(0.3)
        rows = Transaction.objects.filter(external_id__in=sent)
        while rows.filter(status="scored").count() < len(sent):
            for process, log in ((proc_a, log_a), (proc_b, log_b)):
                if process.poll() is not None or time.monotonic() > deadline:
                    log.seek(0)
                    pytest.fail(f"not all scored; worker log:\n{log.read()[-4000:]}")
            time.sleep(0.5)
        # Counters move after commit; give the last on_commit a moment to land in the files.
        time.sleep(1)
        after = scrape(live_server.url)
        per_worker = {h: scored_by_worker(h) for h in hostnames}

    def delta(name, **labels):
        return (sample(after, name, **labels) or 0) - (sample(before, name, **labels) or 0)

    assert all(v > 0 for v in per_worker.values()), per_worker
    assert sum(per_worker.values()) == len(sent)
    assert delta("fraudcases_transactions_scored_total", source="api") == len(sent)
    assert delta("fraudcases_transactions_ingested_total", source="api") == len(sent)
    assert delta("fraudcases_batch_size_sum", stage="score") == len(sent)
    assert delta("fraudcases_scoring_duration_seconds_count") >= 2
    opened = sum(delta("fraudcases_cases_opened_total", priority=p) for p in ("high", "critical"))
    assert opened == Case.objects.count() - cases_before > 0
    assert sample(after, "fraudcases_transactions_pending") == 0
    assert sample(after, "fraudcases_workers_alive") == 2
