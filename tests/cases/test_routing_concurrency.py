"""Auto-assignment under contention: scoring workers opening cases at once never push anyone
over the queue's cap (the auto-assigning queues are locked while a batch routes)."""

from __future__ import annotations

import threading
from collections import Counter

import pytest
from django.db import connection

from core.models import AuditEvent
from fraudcases import services
from fraudcases.models import Case
from tests.cases.routing_helpers import member, person, queue, risky

pytestmark = pytest.mark.django_db(transaction=True)


def test_concurrent_batches_never_overrun_the_cap(roles):
    workers, per_batch, cap = 4, 5, 3
    q = queue("Contended", 10, {}, assign_mode="round_robin", max_open_per_person=cap)
    member(q, person("cc-ann"), person("cc-bob"))
    batches = [[risky() for _ in range(per_batch)] for _ in range(workers)]
    barrier = threading.Barrier(workers)
    errors: list[BaseException] = []

    def open_batch(hits) -> None:
        try:
            barrier.wait(timeout=10)
            services.cases_open_or_attach(hits=hits)
        except BaseException as exc:  # noqa: BLE001 - reported by the assertion below
            errors.append(exc)
        finally:
            connection.close()

    threads = [threading.Thread(target=open_batch, args=(b,)) for b in batches]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=120)
    assert not errors, errors
    cases = Case.objects.filter(queue=q)
    assert cases.count() == workers * per_batch
    counts = Counter(cases.exclude(assignee=None).values_list("assignee__username", flat=True))
    assert counts == {"cc-ann": cap, "cc-bob": cap}
    assert AuditEvent.objects.filter(action="case.auto_assign").count() == 2 * cap
