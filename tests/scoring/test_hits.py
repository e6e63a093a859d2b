"""Scoring hands its hits to the configured handler (it imports no case code), checked at start."""

from __future__ import annotations

import pytest
from django.core.management import call_command
from django.core.management.base import SystemCheckError
from django.test import override_settings

from scoring.checks import hits_handler_resolves
from scoring.hits import CaseHit, hits_hand_on

received: list[list[CaseHit]] = []


def recording_handler(*, hits):
    received.append(hits)
    return ["handled"]


def test_the_default_handler_resolves():
    assert hits_handler_resolves() == []


@override_settings(SCORING_HITS_HANDLER="fraudcases.services.opening.no_such_function")
def test_an_unresolvable_handler_stops_the_start():
    (error,) = hits_handler_resolves()
    assert error.id == "scoring.E001" and "no_such_function" in error.msg
    with pytest.raises(SystemCheckError):
        call_command("check")


@override_settings(SCORING_HITS_HANDLER="tests.scoring.test_hits.received")
def test_a_handler_that_is_not_callable_is_refused():
    (error,) = hits_handler_resolves()
    assert error.id == "scoring.E002"


@override_settings(SCORING_HITS_HANDLER="tests.scoring.test_hits.recording_handler")
def test_hits_go_to_the_configured_handler_and_none_means_no_call():
    received.clear()
    hit = CaseHit(account_id="acct-1", transaction_ids=[1], risk_score=91.0)
    assert hits_hand_on(hits=[hit]) == ["handled"]
    assert hits_hand_on(hits=[]) == []
    assert received == [[hit]]
