"""Fixtures of the case-domain tests (people per role are in tests/conftest.py): a case with
merchants, and the alerts tests' real local webhook receiver and signed channel (reused)."""

from __future__ import annotations

import pytest

from tests.alerts.conftest import admin_user, fast_retries, receiver, webhook  # noqa: F401
from tests.factories import CaseFactory


@pytest.fixture
def case(db):
    """An unassigned case with two transactions (two merchants: m-… from the factory)."""
    return CaseFactory(transactions=2)
