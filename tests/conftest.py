"""Shared fixtures: users per role, API keys, a trained champion model."""

from __future__ import annotations

import shutil
from datetime import UTC, datetime
from pathlib import Path

import pytest
from django.conf import settings
from django.contrib.auth import get_user_model
from django.contrib.auth.models import Group
from rest_framework.test import APIClient

from fraudcases.permissions import ROLES
from scoring.ml import file_sha256, save_artifact, train
from scoring.models import ModelVersion
from scoring.services.apikeys import api_key_create
from scoring.services.registry import champion_cache
from scoring.synthetic import generate_history

TRAIN_END = datetime(2026, 10, 1, tzinfo=UTC)


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
