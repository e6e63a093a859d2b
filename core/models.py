"""The kernel's records: the audit log (a keyed hash chain), its checks, sign-in failures.

These tables keep the names they had when they lived in the ``fraudcases`` app
(``db_table``), so moving them here changed no row, index or database trigger.
"""

from __future__ import annotations

from django.conf import settings
from django.db import models
from django.utils import timezone


class LoginFailure(models.Model):
    """A failed sign-in, per username and client address; enough recent ones lock the pair out."""

    username = models.CharField(max_length=150)
    ip_address = models.GenericIPAddressField(null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        db_table = "fraudcases_loginfailure"
        ordering = ["-created_at"]
        indexes = [
            models.Index(fields=["username", "ip_address", "created_at"], name="login_failure_key")
        ]

    def __str__(self) -> str:
        return f"{self.username} from {self.ip_address} at {self.created_at:%Y-%m-%d %H:%M:%S}"


class AuditEventQuerySet(models.QuerySet):
    def update(self, **kwargs):
        raise AuditLogImmutableError("The audit log is append-only.")

    def delete(self):
        raise AuditLogImmutableError("The audit log is append-only.")


class AuditLogImmutableError(Exception):
    """Raised on any attempt to change or remove an audit event."""


class AuditEvent(models.Model):
    """Append-only record of one action: who, what, on which object, before/after, when.

    The rows form a keyed chain (``core.audit``): ``seq`` is the row's position (1, 2, 3…),
    ``prev_hash`` the MAC of the row before it and ``hash`` the HMAC-SHA256, under the key named
    by ``key_id`` (a key that is not in the database), of this row's content and ``prev_hash``.
    ``verify_audit_log`` recomputes every MAC and checks the chain against the anchors written
    outside the database, so an altered, removed, truncated or rewritten log is reported.
    Database triggers refuse UPDATE and DELETE, and TRUNCATE on PostgreSQL (migration 0004).
    """

    created_at = models.DateTimeField()
    actor = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    actor_label = models.CharField(max_length=150)
    action = models.CharField(max_length=64)
    object_type = models.CharField(max_length=64, blank=True, default="")
    object_id = models.CharField(max_length=64, blank=True, default="")
    # The case an event belongs to, if any: named by label so the kernel imports no case code.
    case = models.ForeignKey(
        "fraudcases.Case",
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="audit_events",
    )
    before = models.JSONField(null=True, blank=True)
    after = models.JSONField(null=True, blank=True)
    note = models.TextField(blank=True, default="")
    request_id = models.CharField(max_length=64, blank=True, default="")
    ip_address = models.GenericIPAddressField(null=True, blank=True)
    # Position in the chain, gap-free from 1: a missing position names the removed rows.
    seq = models.PositiveBigIntegerField(unique=True)
    # Which configured key made ``hash`` (AUDIT_HMAC_KEY_ID when written; rotation keeps old ids).
    key_id = models.CharField(max_length=32)
    prev_hash = models.CharField(max_length=64)
    hash = models.CharField(max_length=64, unique=True)

    objects = AuditEventQuerySet.as_manager()

    class Meta:
        db_table = "fraudcases_auditevent"
        ordering = ["id"]
        indexes = [
            models.Index(fields=["object_type", "object_id"], name="audit_object"),
            models.Index(fields=["action", "created_at"], name="audit_action"),
            models.Index(fields=["created_at"], name="audit_time"),
        ]

    def __str__(self) -> str:
        return f"{self.created_at:%Y-%m-%d %H:%M:%S} {self.actor_label} {self.action}"

    def save(self, *args, **kwargs):
        if self.pk is not None or not self._state.adding:
            raise AuditLogImmutableError("The audit log is append-only.")
        super().save(*args, **kwargs)

    def delete(self, *args, **kwargs):
        raise AuditLogImmutableError("The audit log is append-only.")


class AuditCheck(models.Model):
    """The outcome of one verification of the audit chain against its anchors (not chained:
    it is a report about the log, kept so ``/healthz`` and ``/metrics`` can show the last one)."""

    created_at = models.DateTimeField(default=timezone.now)
    ok = models.BooleanField()
    # Events whose MAC and link were verified before the first problem (all of them when ok).
    checked = models.PositiveBigIntegerField(default=0)
    anchors_checked = models.PositiveIntegerField(default=0)
    reason = models.TextField(blank=True, default="")

    class Meta:
        db_table = "fraudcases_auditcheck"
        ordering = ["-created_at", "-id"]
        indexes = [models.Index(fields=["-created_at"], name="audit_check_time")]

    def __str__(self) -> str:
        return f"{self.created_at:%Y-%m-%d %H:%M:%S} {'ok' if self.ok else 'FAILED'}"
