"""Shared fixtures: users per role, API keys, a trained champion model."""

from __future__ import annotations

import hashlib
import os
import shutil
import sqlite3
from datetime import UTC, datetime
from pathlib import Path

import django
import pytest
from django.conf import settings
from django.contrib.auth import get_user_model
from django.contrib.auth.models import Group
from django.db import connection
from rest_framework.test import APIClient

from core.permissions import ROLES
from scoring.admin import filter_choices
from scoring.engine.ml import file_sha256, save_artifact, train
from scoring.engine.synthetic import generate_history
from scoring.models import ModelVersion
from scoring.services.apikeys import api_key_create, recent_keys
from scoring.services.registry import champion_cache, role_holders

TRAIN_END = datetime(2026, 10, 1, tzinfo=UTC)


@pytest.fixture(autouse=True)
def _fresh_recent_reads():
    """/score reuses who holds the champion role for up to two seconds, an API key's row for a
    second, the transactions admin its filters' choices for five minutes; a test's database is
    rolled back without the signals that clear them, so each test starts without them."""
    role_holders.clear()
    filter_choices.clear()
    recent_keys.clear()
    yield


# --- test databases in the fast lane ------------------------------------------------------------
# Each pytest-xdist worker (make test-fast) would migrate its own SQLite test database (~5 s).
# Instead the first run saves the migrated database as a template named by the migrations'
# contents, and later runs start every worker from a copy of it (pytest-django's keepdb, so
# Django migrates nothing). A changed migration names another template; --create-db ignores it.
# make test (one process, PostgreSQL in CI) creates its databases as pytest-django always does.


def _sqlite_template() -> Path | None:
    """The template for this tree's migrations, in an xdist worker on SQLite; else None."""
    if not os.environ.get("PYTEST_XDIST_WORKER") or connection.vendor != "sqlite":
        return None
    digest = hashlib.sha256(django.__version__.encode())
    for path in sorted(Path(settings.BASE_DIR).glob("*/migrations/0*.py")):
        digest.update(path.name.encode() + path.read_bytes())
    return Path(settings.VAR_DIR).parent / f"test-template-{digest.hexdigest()[:16]}.sqlite3"


@pytest.fixture(scope="session")
def django_db_keepdb(request, django_db_modify_db_settings):
    template = _sqlite_template()
    if template is None or request.config.getvalue("create_db") or not template.exists():
        return request.config.getvalue("reuse_db")
    shutil.copyfile(template, connection.settings_dict["TEST"]["NAME"])
    return True


@pytest.fixture(scope="session")
def django_db_setup(django_db_setup, django_db_blocker):
    template = _sqlite_template()
    if template is not None and not template.exists():
        with django_db_blocker.unblock():
            connection.ensure_connection()
            partial = template.with_name(f"{template.name}.{os.getpid()}.part")
            with sqlite3.connect(partial) as copy:
                connection.connection.backup(copy)
            copy.close()
            os.replace(partial, template)  # whole or not at all, whichever worker is first


@pytest.fixture
def roles(db):
    for name in ROLES:
        Group.objects.get_or_create(name=name)


@pytest.fixture
def make_user(roles):
    def make(role: str | None, username: str | None = None):
        user = get_user_model().objects.create_user(
            username=username or (role or "nobody"), password="pw-for-tests-only"
        )
        if role:
            user.groups.add(Group.objects.get(name=role))
        if role == "admin":
            user.is_staff = True
            user.save(update_fields=["is_staff"])
        return user

    return make


@pytest.fixture
def people(make_user):
    """One person per role (two investigators, two supervisors) and one without a role.

    Keys by short and by role name: ``inv``/``investigator``, ``inv2``/``investigator2``,
    ``sup``/``supervisor``, ``sup2``/``supervisor2``, ``admin``, ``aud``/``auditor``, ``nobody``.
    """
    inv, inv2 = make_user("investigator", "inv"), make_user("investigator", "inv2")
    sup, sup2 = make_user("supervisor", "sup"), make_user("supervisor", "sup2")
    aud = make_user("auditor", "aud")
    return {
        "inv": inv,
        "investigator": inv,
        "inv2": inv2,
        "investigator2": inv2,
        "sup": sup,
        "supervisor": sup,
        "sup2": sup2,
        "supervisor2": sup2,
        "admin": make_user("admin", "adm"),
        "aud": aud,
        "auditor": aud,
        "nobody": make_user(None, "nobody"),
    }


@pytest.fixture
def api_key(db):
    key, plaintext = api_key_create(name="test-system")
    return key, plaintext


@pytest.fixture
def api_client(api_key):
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Api-Key {api_key[1]}")
    return client


@pytest.fixture(scope="session")
def synthetic_history():
    """A small labelled history (seeded) shared by the tests that need one."""
    frame = generate_history(n_accounts=300, days=30, end=TRAIN_END, seed=11)
    frame = frame.reset_index(drop=True)
    frame.insert(0, "id", range(1, len(frame) + 1))
    return frame


@pytest.fixture(scope="session")
def trained_model_file(synthetic_history, tmp_path_factory):
    """A model trained once per session on ``synthetic_history``; returns (path, sha, trained)."""
    trained = train(synthetic_history, seed=0)
    path = tmp_path_factory.mktemp("models") / "session-model.joblib"
    sha = save_artifact(trained.artifact, path)
    return path, sha, trained


@pytest.fixture
def champion(db, trained_model_file):
    """The session model registered and promoted in this test's database."""
    src, sha, trained = trained_model_file
    dest = Path(settings.MODEL_STORE_DIR) / f"champion-{sha[:12]}.joblib"
    dest.parent.mkdir(parents=True, exist_ok=True)
    if not dest.exists():
        shutil.copy(src, dest)
    assert file_sha256(dest) == sha
    champion_cache.clear()
    mv = ModelVersion.objects.create(
        version=f"test-{sha[:8]}",
        algorithm=trained.artifact["algorithm"],
        role=ModelVersion.Role.CHAMPION,
        file_path=str(dest),
        sha256=sha,
        feature_names=trained.artifact["feature_names"],
        training_summary=trained.summary,
        metrics=trained.metrics,
    )
    yield mv
    champion_cache.clear()


# --- test lanes (prod) ---------------------------------------------------------------------------
# `make test-fast` runs `-m "not e2e and not browser and not slow ..."`. A test is slow when it
# needs the session's trained model (the fixture below, directly or through `champion` and the
# like: ~20 s once per run) or trains/evaluates a model itself (named here, by function name, so
# the list survives moving tests between files). `make test` runs them all.
SLOW_FIXTURES = frozenset({"trained_model_file"})
SLOW_TESTS = frozenset(
    {
        "test_labels_improve_on_novelty_alone",
        "test_artifact_round_trip_and_missing_features",
        "test_train_model_first_champion_then_challenger_then_options",
        "test_scheduled_retraining_is_off_by_default_and_trains_a_challenger_when_on",
        "test_numeric_metadata_become_model_features",
        "test_train_model_registers_and_promotes_a_champion",
        "test_seed_demo_twice_changes_nothing",
        "test_evaluate_model_command_prints_json_last_and_stores_the_report",
        "test_backtest_beats_the_baselines_on_synthetic_history",
        "test_the_registry_shows_versions_comparison_drift_and_evaluation",
        "test_admin_creates_tests_edits_and_disables_a_rule",
        # Every admin page and action of every model, for every role: ~20 s of requests
        # (the admin's refusal and four-eyes tests stay in the fast lane).
        "test_admin_walk",
        # Generate whole benchmark data sets (60k rows each) before importing a slice.
        "test_a_data_set_imports_with_its_printed_mapping",
        "test_the_ecommerce_set_has_the_shape_it_claims",
    }
)


def pytest_collection_modifyitems(config, items):
    for item in items:
        fixtures = set(getattr(item, "fixturenames", ()))
        if fixtures & SLOW_FIXTURES or getattr(item, "originalname", item.name) in SLOW_TESTS:
            item.add_marker(pytest.mark.slow)
