"""The model registry: registering trained models, promotion, and loading the champion."""

from __future__ import annotations

import logging
import threading
from pathlib import Path
from typing import Any

from django.conf import settings
from django.db import transaction
from django.utils import timezone

from fraudcases.audit import audit_record

from ..ml import TrainedModel, load_artifact, save_artifact
from ..models import ModelVersion

logger = logging.getLogger(__name__)


def _next_version() -> str:
    stamp = timezone.now().strftime("%Y%m%d-%H%M%S")
    version = stamp
    n = 1
    while ModelVersion.objects.filter(version=version).exists():
        n += 1
        version = f"{stamp}-{n}"
    return version


def model_register(*, trained: TrainedModel, actor=None) -> ModelVersion:
    """Save the artifact under ``MODEL_STORE_DIR`` and record it as a candidate."""
    version = _next_version()
    path = Path(settings.MODEL_STORE_DIR) / f"model-{version}.joblib"
    sha = save_artifact(trained.artifact, path)
    with transaction.atomic():
        mv = ModelVersion.objects.create(
            version=version,
            algorithm=trained.artifact["algorithm"],
            file_path=str(path),
            sha256=sha,
            feature_names=trained.artifact["feature_names"],
            training_summary=trained.summary,
            metrics=trained.metrics,
        )
        audit_record(
            action="model.register",
            actor=actor,
            actor_label="" if actor else "system:train_model",
            obj=mv,
            after={"version": version, "sha256": sha, "metrics": trained.metrics},
        )
    return mv


@transaction.atomic
def model_promote(*, model_version: ModelVersion, actor=None) -> ModelVersion:
    """Make ``model_version`` the champion; the previous champion is retired."""
    model_version = ModelVersion.objects.select_for_update().get(pk=model_version.pk)
    previous = (
        ModelVersion.objects.select_for_update()
        .filter(role=ModelVersion.Role.CHAMPION)
        .exclude(pk=model_version.pk)
        .first()
    )
    if previous is not None:
        previous.role = ModelVersion.Role.RETIRED
        previous.save(update_fields=["role"])
    before = {
        "role": model_version.role,
        "previous_champion": previous.version if previous else None,
    }
    model_version.role = ModelVersion.Role.CHAMPION
    model_version.promoted_at = timezone.now()
    model_version.save(update_fields=["role", "promoted_at"])
    audit_record(
        action="model.promote",
        actor=actor,
        actor_label="" if actor else "system:train_model",
        obj=model_version,
        before=before,
        after={"role": model_version.role},
    )
    return model_version


class _ChampionCache:
    """Per-process cache of the loaded champion; reloads when the registry's champion changes."""

    def __init__(self):
        self._lock = threading.Lock()
        self._key: tuple[int, str] | None = None
        self._value: tuple[ModelVersion, dict[str, Any]] | None = None

    def get(self) -> tuple[ModelVersion, dict[str, Any]] | None:
        current = ModelVersion.objects.filter(role=ModelVersion.Role.CHAMPION).first()
        if current is None:
            return None
        key = (current.pk, current.sha256)
        with self._lock:
            if self._key != key:
                artifact = load_artifact(Path(current.file_path), sha256=current.sha256)
                logger.info("Loaded champion model %s", current.version)
                self._key, self._value = key, (current, artifact)
            return self._value

    def clear(self) -> None:
        with self._lock:
            self._key, self._value = None, None


champion_cache = _ChampionCache()
