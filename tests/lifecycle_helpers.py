"""Helpers for the model-lifecycle tests: registry versions backed by real model files."""

from __future__ import annotations

import shutil
from datetime import timedelta
from pathlib import Path

from django.conf import settings
from django.utils import timezone

from scoring.models import ModelVersion


def make_version(
    trained_model_file,
    version: str,
    role: str = "candidate",
    promoted_days_ago: float | None = None,
) -> ModelVersion:
    """Register a copy of the session's trained model file under ``version`` with ``role``."""
    src, sha, trained = trained_model_file
    dest = Path(settings.MODEL_STORE_DIR) / f"{version}.joblib"
    dest.parent.mkdir(parents=True, exist_ok=True)
    shutil.copy(src, dest)
    return ModelVersion.objects.create(
        version=version,
        algorithm=trained.artifact["algorithm"],
        role=role,
        file_path=str(dest),
        sha256=sha,
        feature_names=trained.artifact["feature_names"],
        training_summary=trained.summary,
        metrics=trained.metrics,
        promoted_at=(
            timezone.now() - timedelta(days=promoted_days_ago)
            if promoted_days_ago is not None
            else None
        ),
    )


def tamper(mv: ModelVersion) -> None:
    """Change the model file on disk (one byte appended) without telling the registry."""
    with open(mv.file_path, "ab") as fh:
        fh.write(b"\0")
