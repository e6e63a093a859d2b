"""The model registry: training and registering models, promotion, rollback, challenger, and the
per-process cache of the loaded champion and challenger.

Roles: exactly one ``champion`` scores and acts; at most one ``challenger`` scores the same
batches in shadow; ``candidate`` versions wait; ``retired`` ones were champions (or were put
aside). ``promoted_at`` records when a version last became champion by promotion, and rollback
walks back through it: the previous champion is the one promoted most recently before the
current one.
"""

from __future__ import annotations

import logging
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
from django.conf import settings
from django.db import transaction
from django.utils import timezone

from core.audit import audit_record
from core.errors import ApplicationError, ConflictError
from core.permissions import ensure_allowed
from core.recent import RecentlyRead

from ..engine.boosting import CompiledBooster, compile_booster
from ..engine.ensemble import Blend, Ensemble, RawBooster
from ..engine.forest import CompiledIsolationForest, compile_isolation_forest
from ..engine.ml import (
    ModelIntegrityError,
    TrainedModel,
    file_sha256,
    load_artifact,
    save_artifact,
    train,
)
from ..models import ModelVersion
from ..selectors import champion_model, training_frame

logger = logging.getLogger(__name__)

Role = ModelVersion.Role


def _next_version() -> str:
    stamp = timezone.now().strftime("%Y%m%d-%H%M%S")
    version = stamp
    n = 1
    while ModelVersion.objects.filter(version=version).exists():
        n += 1
        version = f"{stamp}-{n}"
    return version


def _label(actor, actor_label: str) -> str:
    return "" if actor is not None else (actor_label or "system")


def _check_actor(actor) -> None:
    # ``actor=None`` is the system (management commands, beat tasks): trusted by construction.
    if actor is not None:
        ensure_allowed(actor, "model.promote")


def model_register(
    *, trained: TrainedModel, actor=None, actor_label: str = "system:train_model"
) -> ModelVersion:
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
            actor_label=_label(actor, actor_label),
            obj=mv,
            after={"version": version, "sha256": sha, "metrics": trained.metrics},
        )
    return mv


def _verify_file(mv: ModelVersion) -> None:
    """Refuse to put a version into service when its file is missing or altered."""
    path = Path(mv.file_path)
    if not path.exists():
        raise ApplicationError(f"Model {mv.version}: file {path} is missing; cannot use it.")
    if file_sha256(path) != mv.sha256:
        raise ApplicationError(
            f"Model {mv.version}: file {path} does not match its registered SHA-256; "
            "refusing to use it."
        )


def _lock(mv: ModelVersion) -> ModelVersion:
    return ModelVersion.objects.select_for_update().get(pk=mv.pk)


def _state(*versions: ModelVersion | None) -> dict[str, str | None]:
    return {mv.version: mv.role for mv in versions if mv is not None}


def _holder(role: str) -> ModelVersion | None:
    """The version holding ``role`` (champion or challenger: at most one), locked."""
    return ModelVersion.objects.select_for_update().filter(role=role).first()


def _hand_over(
    *,
    role: str,
    to: ModelVersion,
    previous: ModelVersion | None,
    previous_becomes: str,
    fields: tuple[str, ...] = (),
) -> None:
    """Give ``role`` to ``to``; its previous holder first becomes ``previous_becomes`` (the
    unique index allows one holder at a time). ``fields``: more of ``to``'s fields to save."""
    if previous is not None:
        previous.role = previous_becomes
        previous.save(update_fields=["role"])
    to.role = role
    to.save(update_fields=["role", *fields])


@transaction.atomic
def model_promote(
    *,
    model_version: ModelVersion,
    actor=None,
    actor_label: str = "system:train_model",
    note: str = "",
) -> ModelVersion:
    """Make ``model_version`` the champion; the previous champion is retired (and can be rolled
    back to). Refused when the file does not match its SHA-256."""
    _check_actor(actor)
    mv = _lock(model_version)
    if mv.role == Role.CHAMPION:
        raise ConflictError(f"Model {mv.version} is already the champion.")
    _verify_file(mv)
    previous = _holder(Role.CHAMPION)
    before = _state(mv, previous)
    mv.promoted_at = timezone.now()
    _hand_over(
        role=Role.CHAMPION,
        to=mv,
        previous=previous,
        previous_becomes=Role.RETIRED,
        fields=("promoted_at",),
    )
    audit_record(
        action="model.promote",
        actor=actor,
        actor_label=_label(actor, actor_label),
        obj=mv,
        before={"roles": before, "previous_champion": previous.version if previous else None},
        after={"roles": _state(mv, previous)},
        note=note,
    )
    logger.info(
        "Model %s promoted to champion (previous: %s)", mv.version, previous and previous.version
    )
    return mv


def rollback_target() -> ModelVersion | None:
    """The champion before the current one: promoted most recently before it."""
    current = ModelVersion.objects.filter(role=Role.CHAMPION).first()
    qs = ModelVersion.objects.filter(promoted_at__isnull=False).exclude(role=Role.CHAMPION)
    if current is not None and current.promoted_at is not None:
        qs = qs.filter(promoted_at__lt=current.promoted_at)
    return qs.order_by("-promoted_at", "-pk").first()


@transaction.atomic
def model_rollback(
    *, actor=None, actor_label: str = "system:promote_model", note: str = ""
) -> ModelVersion:
    """Put the previous champion back; the current one is retired.

    The restored version keeps its original ``promoted_at``, so a second rollback goes one step
    further back instead of toggling between two versions.
    """
    _check_actor(actor)
    current = _holder(Role.CHAMPION)
    target = rollback_target()
    if target is None:
        raise ConflictError("There is no earlier champion to roll back to.")
    target = _lock(target)
    _verify_file(target)
    before = _state(current, target)
    _hand_over(role=Role.CHAMPION, to=target, previous=current, previous_becomes=Role.RETIRED)
    audit_record(
        action="model.rollback",
        actor=actor,
        actor_label=_label(actor, actor_label),
        obj=target,
        before={"roles": before, "champion": current.version if current else None},
        after={"roles": _state(current, target), "champion": target.version},
        note=note,
    )
    logger.warning("Rolled back champion %s to %s", current and current.version, target.version)
    return target


@transaction.atomic
def model_make_challenger(
    *, model_version: ModelVersion, actor=None, actor_label: str = "system:train_model"
) -> ModelVersion:
    """Let ``model_version`` score in shadow; a current challenger goes back to candidate."""
    _check_actor(actor)
    mv = _lock(model_version)
    if mv.role == Role.CHALLENGER:
        raise ConflictError(f"Model {mv.version} is already the challenger.")
    if mv.role == Role.CHAMPION:
        raise ConflictError(
            f"Model {mv.version} is the champion; promote another version or roll back first."
        )
    _verify_file(mv)
    previous = _holder(Role.CHALLENGER)
    before = _state(mv, previous)
    _hand_over(role=Role.CHALLENGER, to=mv, previous=previous, previous_becomes=Role.CANDIDATE)
    audit_record(
        action="model.make_challenger",
        actor=actor,
        actor_label=_label(actor, actor_label),
        obj=mv,
        before={"roles": before},
        after={"roles": _state(mv, previous)},
    )
    return mv


@transaction.atomic
def model_retire(
    *, model_version: ModelVersion, actor=None, actor_label: str = "system:promote_model"
) -> ModelVersion:
    """Take a candidate or the challenger out of use. The champion cannot be retired directly."""
    _check_actor(actor)
    mv = _lock(model_version)
    if mv.role == Role.CHAMPION:
        raise ConflictError(
            f"Model {mv.version} is the champion; promote another version or roll back instead."
        )
    if mv.role == Role.RETIRED:
        raise ConflictError(f"Model {mv.version} is already retired.")
    before = {"role": mv.role}
    mv.role = Role.RETIRED
    mv.save(update_fields=["role"])
    audit_record(
        action="model.retire",
        actor=actor,
        actor_label=_label(actor, actor_label),
        obj=mv,
        before=before,
        after={"role": mv.role},
    )
    return mv


@dataclass
class TrainingOutcome:
    model_version: ModelVersion
    trained: TrainedModel
    role: str


def model_train(
    *,
    seed: int = 0,
    policy: str = "auto",
    actor=None,
    actor_label: str = "system:train_model",
) -> TrainingOutcome:
    """Train on synthetic + labelled history (``transactions_frame``) and register the result.

    ``policy``: ``auto`` makes it the champion when there is none, otherwise the challenger;
    ``promote`` makes it the champion; ``candidate`` only registers it. Raises ``ValueError`` when
    there are not enough labels to train, or when ``ALERT_BUDGETS`` is not a valid set of
    alert budgets (levels are calibrated at training time, ``scoring.engine.levels``).
    """
    if policy not in ("auto", "promote", "candidate"):
        raise ValueError(f"Unknown policy {policy!r}")
    _check_actor(actor)
    trained = train(training_frame(), seed=seed, budgets=settings.ALERT_BUDGETS)
    mv = model_register(trained=trained, actor=actor, actor_label=actor_label)
    if policy == "promote" or (policy == "auto" and champion_model() is None):
        mv = model_promote(model_version=mv, actor=actor, actor_label=actor_label)
    elif policy == "auto":
        mv = model_make_challenger(model_version=mv, actor=actor, actor_label=actor_label)
    return TrainingOutcome(model_version=mv, trained=trained, role=mv.role)


# --- Loading --------------------------------------------------------------------------------


class _FileCheckCache:
    """SHA-256 verdicts per (path, expected hash), recomputed only when the file's mtime, size
    or inode changes: a scrape or health probe costs one ``stat``."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._items: dict[tuple[str, str], tuple[tuple[int, int, int], bool]] = {}

    def matches(self, path: Path, sha256: str) -> bool:
        stat = path.stat()  # FileNotFoundError: the caller reports a missing file
        signature = (stat.st_mtime_ns, stat.st_size, stat.st_ino)
        key = (str(path), sha256)
        with self._lock:
            cached = self._items.get(key)
        if cached is not None and cached[0] == signature:
            return cached[1]
        ok = file_sha256(path) == sha256
        with self._lock:
            if len(self._items) > 16:
                self._items.clear()
            self._items[key] = (signature, ok)
        return ok

    def clear(self) -> None:
        with self._lock:
            self._items.clear()


# Shared by the artifact cache (every batch) and /healthz (every probe).
file_check_cache = _FileCheckCache()


def _with_compiled_trees(artifact: dict[str, Any]) -> dict[str, Any]:
    """The loaded artifact with its trees evaluated by numpy for few rows: the ensemble's
    IsolationForest (:mod:`scoring.engine.forest`; a one-row predict in 0.2 ms instead of 16 ms)
    and the gradient-boosted trees of the ensemble and of the raw booster
    (:mod:`scoring.engine.boosting`; ~0.2 ms instead of ~1 ms). Each gives the same numbers,
    checked on sample rows here, or stays scikit-learn's. Only the copy in this process's memory
    changes, never the file."""
    estimator = artifact.get("estimator")
    names = artifact.get("feature_names") or []
    if estimator is None or not names:
        return artifact
    neutral = np.array([artifact.get("neutral", {}).get(n, 0.0) for n in names], dtype=float)
    rng = np.random.default_rng(0)
    sample = neutral + rng.normal(size=(256, len(names))) * (np.abs(neutral) + 1.0)
    sample[rng.random(sample.shape) < 0.1] = np.nan  # the side each split sends a missing value
    members = estimator.members.values() if isinstance(estimator, Blend) else [estimator]
    for member in members:
        try:
            if isinstance(member, Ensemble):
                _compile_ensemble(member, sample)
            elif isinstance(member, RawBooster):
                member.gbm = _compiled_booster(member.gbm, sample[:, member.inputs])
        except (AttributeError, IndexError, KeyError, TypeError, ValueError):
            logger.warning("Trees not compiled; scikit-learn evaluates them", exc_info=True)
    return artifact


def _compile_ensemble(ensemble: Ensemble, sample: np.ndarray) -> None:
    own = sample if ensemble.inputs is None else sample[:, ensemble.inputs]
    if not isinstance(ensemble.isolation, CompiledIsolationForest):
        filled = np.where(np.isnan(own), ensemble.fill, own)
        compiled = compile_isolation_forest(ensemble.isolation, filled)
        if compiled is None:
            logger.warning("Compiled IsolationForest disagrees with scikit-learn; not used")
        else:
            ensemble.isolation = compiled
    if ensemble.gbm is not None:
        supervised = ensemble._supervised_input(own, ensemble.novelty(sample))
        ensemble.gbm = _compiled_booster(ensemble.gbm, supervised)


def _compiled_booster(gbm, sample: np.ndarray):
    if isinstance(gbm, CompiledBooster):
        return gbm
    compiled = compile_booster(gbm, sample)
    if compiled is None:
        logger.info("Booster not compiled (categorical splits, or it disagrees); as it is")
        return gbm
    return compiled


class _ArtifactCache:
    """Loaded artifacts keyed by (pk, sha256): a file is read and verified once per process.

    A cached artifact is only handed out while its file is still there and unchanged (one
    ``stat`` per call, the hash recomputed only when the file changed): a model file that was
    deleted or altered under a running worker stops scoring until it is restored, as it would
    for a worker that starts now.
    """

    def __init__(self, max_items: int = 4):
        self._lock = threading.Lock()
        self._items: dict[tuple[int, str], dict[str, Any]] = {}
        self.max_items = max_items

    def load(self, mv: ModelVersion) -> dict[str, Any]:
        key = (mv.pk, mv.sha256)
        path = Path(mv.file_path)
        try:
            unchanged = file_check_cache.matches(path, mv.sha256)
        except OSError as exc:
            raise ModelIntegrityError(
                f"Model {mv.version}: file {path} is missing or unreadable ({exc.strerror}); "
                "refusing to load it."
            ) from exc
        if not unchanged:
            raise ModelIntegrityError(
                f"Model {mv.version}: file {path} does not match its registered SHA-256; "
                "refusing to load it."
            )
        with self._lock:
            artifact = self._items.get(key)
            if artifact is None:
                artifact = _with_compiled_trees(load_artifact(path, sha256=mv.sha256))
                logger.info("Loaded model %s (%s)", mv.version, mv.role)
                while len(self._items) >= self.max_items:
                    self._items.pop(next(iter(self._items)))
                self._items[key] = artifact
            return artifact

    def clear(self) -> None:
        with self._lock:
            self._items.clear()


_artifacts = _ArtifactCache()


class _RoleCache:
    """The loaded model holding one role; reloads when the registry's holder changes."""

    def __init__(self, role: str):
        self.role = role

    def get(self) -> tuple[ModelVersion, dict[str, Any]] | None:
        current = ModelVersion.objects.filter(role=self.role).first()
        if current is None:
            return None
        return current, _artifacts.load(current)

    def clear(self) -> None:
        _artifacts.clear()


champion_cache = _RoleCache(Role.CHAMPION)


@dataclass
class ActiveModels:
    """What a scoring run uses: the champion (required) and the challenger (optional)."""

    champion: tuple[ModelVersion, dict[str, Any]] | None
    challenger: tuple[ModelVersion, dict[str, Any]] | None


# Who holds the champion and challenger roles, as read at most ``max_age`` seconds ago by the
# synchronous /score (one query less per request; the batch path reads it afresh; core.recent).
# The files are checked on every call either way (``_ArtifactCache.load``).
role_holders = RecentlyRead[dict[str, ModelVersion]](senders=(ModelVersion,), uid="scoring.holders")


def _role_holders(max_age: float) -> dict[str, ModelVersion]:
    return role_holders.get(
        None,
        max_age=max_age,
        read=lambda: {
            mv.role: mv
            for mv in ModelVersion.objects.filter(role__in=[Role.CHAMPION, Role.CHALLENGER])
        },
    )


def models_active(*, max_age: float = 0.0) -> ActiveModels:
    """Champion and challenger in one query (or as read at most ``max_age`` seconds ago),
    loaded through the per-process cache.

    A champion file that fails its SHA-256 check raises :class:`ModelIntegrityError` (nothing is
    scored with it); a bad challenger file only disables shadow scoring.
    """
    rows = _role_holders(max_age)
    champion = challenger = None
    if Role.CHAMPION in rows:
        champion = (rows[Role.CHAMPION], _artifacts.load(rows[Role.CHAMPION]))
    if Role.CHALLENGER in rows:
        try:
            challenger = (rows[Role.CHALLENGER], _artifacts.load(rows[Role.CHALLENGER]))
        except ModelIntegrityError as exc:
            logger.error("Challenger disabled: %s", exc)
    return ActiveModels(champion=champion, challenger=challenger)


def version_get(*, version: str) -> ModelVersion:
    """A version by its name, or an error naming it."""
    mv = ModelVersion.objects.filter(version=version).first()
    if mv is None:
        raise ApplicationError(f"No model version '{version}'.")
    return mv
