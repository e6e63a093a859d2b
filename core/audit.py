"""Writing and verifying the tamper-evident audit log.

The log is a keyed chain: each ``AuditEvent`` carries its position ``seq``, the MAC of the row
before it and its own HMAC-SHA256 under a key kept outside the database (``AUDIT_HMAC_KEY``, or
the generated key file for the demo and tests). ``audit_anchor_write`` copies the chain's head to
an append-only file outside the database (and to the log), and ``audit_verify_chain`` checks
every row and every anchor, so altered, removed (tail included), truncated or rewritten logs are
reported with what is missing. docs/audit.md describes the threat model and key rotation.
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import hmac
import json
import logging
import os
import re
import secrets
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from datetime import timedelta
from functools import lru_cache
from pathlib import Path
from typing import Any

from django.conf import settings
from django.core.exceptions import ImproperlyConfigured
from django.db import connection, transaction
from django.db.backends.signals import connection_created
from django.dispatch import Signal
from django.utils import timezone

from core.models import AuditCheck, AuditEvent

from .middleware import current_client_ip, current_request_id, request_id_is_valid

logger = logging.getLogger(__name__)
anchor_logger = logging.getLogger("core.audit.anchor")

GENESIS_HASH = "0" * 64
# Sent after the transaction that appended events commits, with ``event_ids`` (a list of ints).
# The audit log is the outbox of case events: subscribers (alert delivery) react to committed
# events only, and a periodic sweep over ids catches anything a receiver missed.
audit_events_committed = Signal()
_CARD_NUMBER = re.compile(r"\b(\d[ -]?){12,18}\d\b")
_SECRET_KEYS = re.compile(r"pass|secret|token|api_?key|authorization|cvv|pin$", re.IGNORECASE)
# Arbitrary constant naming the audit chain's advisory lock on PostgreSQL.
_AUDIT_LOCK_ID = 7_413_001
# Shortest key accepted (characters of AUDIT_HMAC_KEY; the generated one has 64 hex digits).
MIN_KEY_LENGTH = 32
_KEY_ID = re.compile(r"[A-Za-z0-9._-]{1,32}")
# Setting that lets migration 0004 re-seal a legacy chain that is already broken.
LEGACY_BROKEN_OVERRIDE = "AUDIT_REKEY_ACCEPT_BROKEN_LEGACY"
# The triggers of migration 0004, per database vendor (verification reports a missing one).
GUARD_TRIGGERS = {
    "postgresql": ("fraudcases_audit_append_only", "fraudcases_audit_no_truncate"),
    "sqlite": ("fraudcases_audit_no_update", "fraudcases_audit_no_delete"),
}


# --- Keys ----------------------------------------------------------------------------------


class AuditKeyError(ImproperlyConfigured):
    """The audit key configuration is missing or unusable (the message says how to fix it)."""


def _check_key(key_id: str, key: str, source: str) -> bytes:
    if not _KEY_ID.fullmatch(key_id):
        raise AuditKeyError(f"Audit key id {key_id!r} ({source}): use 1-32 of [A-Za-z0-9._-].")
    if len(key) < MIN_KEY_LENGTH:
        raise AuditKeyError(
            f"Audit key {key_id!r} ({source}) is shorter than {MIN_KEY_LENGTH} characters; "
            'generate one with: python -c "import secrets; print(secrets.token_hex(32))"'
        )
    return key.encode()


def _key_file(path: Path) -> str:
    """The generated key (created, mode 600, on first use); a file others can read is refused."""
    if not path.exists():
        path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
        tmp = path.with_name(f".{path.name}.{os.getpid()}.{secrets.token_hex(4)}")
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        try:
            with os.fdopen(fd, "w") as fh:
                fh.write(secrets.token_hex(32) + "\n")
            with contextlib.suppress(FileExistsError):  # another process won the race
                os.link(tmp, path)  # atomic publish of a complete file
        finally:
            tmp.unlink(missing_ok=True)
        logger.warning("Generated a new audit HMAC key in %s (demo and tests only).", path)
    stat = path.stat()
    if stat.st_mode & 0o077:
        raise AuditKeyError(
            f"The audit key file {path} is readable by others (mode {stat.st_mode & 0o777:o}); "
            "chmod 600 it."
        )
    return _read_key_file(path, stat.st_mtime_ns, stat.st_size)


@lru_cache(maxsize=8)
def _read_key_file(path: Path, mtime_ns: int, size: int) -> str:
    return path.read_text().strip()


def audit_current_key() -> tuple[str, bytes]:
    """``(key id, key)`` that new rows and anchors are sealed with."""
    key_id = settings.AUDIT_HMAC_KEY_ID
    if settings.AUDIT_HMAC_KEY:
        return key_id, _check_key(key_id, settings.AUDIT_HMAC_KEY, "AUDIT_HMAC_KEY")
    path = Path(settings.AUDIT_HMAC_KEY_FILE)
    return key_id, _check_key(key_id, _key_file(path), str(path))


def audit_keys() -> dict[str, bytes]:
    """Every key that may verify a row or an anchor: the current one and the retired ones."""
    key_id, key = audit_current_key()
    keys = {key_id: key}
    for old_id, old_key in (settings.AUDIT_HMAC_OLD_KEYS or {}).items():
        checked = _check_key(str(old_id), str(old_key), "AUDIT_HMAC_OLD_KEYS")
        if old_id == key_id and checked != key:
            raise AuditKeyError(
                f"Key id {key_id!r} is both the current key and a different old key; give the "
                "new key a new id when rotating (docs/audit.md)."
            )
        keys.setdefault(str(old_id), checked)
    return keys


def chain_payload(row: Any) -> bytes:
    """The bytes a row's MAC covers: position, key id, previous MAC and content, canonical JSON.

    Never change this form: every stored MAC was computed over it. (Migration 0004 uses it too.)
    The row's database ``id`` is not covered (it is assigned by the insert); ``seq`` is.
    """
    payload = {
        "v": 2,
        "seq": row.seq,
        "key": row.key_id,
        "prev": row.prev_hash,
        "at": row.created_at.isoformat(),
        "actor_id": row.actor_id,
        "actor": row.actor_label,
        "action": row.action,
        "object": [row.object_type, row.object_id],
        "case": row.case_id,
        "before": row.before,
        "after": row.after,
        "note": row.note,
        "request_id": row.request_id,
        "ip": row.ip_address,
    }
    return json.dumps(payload, sort_keys=True, separators=(",", ":"), default=str).encode()


def chain_mac(row: Any, key: bytes) -> str:
    """HMAC-SHA256 (hex) of :func:`chain_payload` under ``key``."""
    return hmac.new(key, chain_payload(row), hashlib.sha256).hexdigest()


# --- Append-only guard on SQLite ----------------------------------------------------------------


def _sqlite_audit_locked() -> int:
    # 0 (unlocked) only under the test settings' maintenance bypass; see migration 0004.
    return 0 if getattr(settings, "AUDIT_DB_MAINTENANCE", False) else 1


def _register_sqlite_guard(sender, connection, **kwargs) -> None:
    if connection.vendor == "sqlite":
        connection.connection.create_function("fraudcases_audit_locked", 0, _sqlite_audit_locked)


def install_sqlite_guard() -> None:
    """Give every SQLite connection the function the append-only triggers ask (called from
    ``AppConfig.ready``, before any connection is opened). A client without it fails closed."""
    connection_created.connect(_register_sqlite_guard, dispatch_uid="core.audit.sqlite")


# --- Masking --------------------------------------------------------------------------------


def mask(value: Any, *, key: str = "") -> Any:
    """Mask card numbers anywhere and whole values under secret-looking keys."""
    if key and _SECRET_KEYS.search(key):
        return "***" if value not in (None, "") else value
    if isinstance(value, dict):
        return {k: mask(v, key=str(k)) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [mask(v) for v in value]
    if isinstance(value, str):
        return _CARD_NUMBER.sub(_mask_card_number, value)
    return value


def _luhn_valid(digits: str) -> bool:
    total = 0
    for i, ch in enumerate(reversed(digits)):
        d = int(ch)
        if i % 2:
            d = d * 2 - 9 if d > 4 else d * 2
        total += d
    return total % 10 == 0


def _mask_card_number(match: re.Match) -> str:
    """Mask a run of 13-19 digits that passes the Luhn check (as every card number does);
    other long numbers (timestamps, model versions, references) stay readable."""
    text = match.group(0)
    digits = "".join(c for c in text if c.isdigit())
    return _mask_digits(text) if _luhn_valid(digits) else text


def _mask_digits(text: str) -> str:
    digits = [c for c in text if c.isdigit()]
    keep = "".join(digits[-4:])
    return "*" * (len(digits) - 4) + keep


@dataclass
class PendingEvent:
    """An audit event to be written; see :func:`audit_record` for the fields."""

    action: str
    actor: Any = None
    actor_label: str = ""
    obj: Any = None
    case: Any = None
    before: dict | None = None
    after: dict | None = None
    note: str = ""
    request_id: str | None = None
    ip_address: str | None = None
    extra: dict = field(default_factory=dict)


def _lock_chain() -> None:
    """Serialise appends so each row links to the true previous one.

    On SQLite every write transaction is already exclusive (IMMEDIATE mode in settings).
    """
    if connection.vendor == "postgresql":
        with connection.cursor() as cursor:
            cursor.execute("SELECT pg_advisory_xact_lock(%s)", [_AUDIT_LOCK_ID])


def _request_id(value: str | None) -> str:
    # Ids from tasks and stream consumers get the same check as the middleware's.
    return value if value and request_id_is_valid(value) else ""


def _actor_label(actor: Any, fallback: str) -> str:
    if actor is None:
        return fallback or "system"
    if getattr(actor, "is_api_client", False):
        return f"api:{actor.name}"
    return f"user:{actor.get_username()}"


def _is_case(obj: Any) -> bool:
    """True for an instance of the model an event's ``case`` points to (the case domain's)."""
    return isinstance(obj, AuditEvent._meta.get_field("case").related_model)


@transaction.atomic
def audit_record_many(*, events: Iterable[PendingEvent]) -> list[AuditEvent]:
    """Append events to the chain in order, in the caller's transaction."""
    events = list(events)
    if not events:
        return []
    key_id, key = audit_current_key()
    _lock_chain()
    last = AuditEvent.objects.order_by("-seq").values_list("seq", "hash").first()
    seq, prev_hash = last or (0, GENESIS_HASH)
    now = timezone.now()
    rows = []
    for ev in events:
        obj = ev.obj if ev.obj is not None else ev.case
        actor_user = (
            ev.actor
            if getattr(ev.actor, "pk", None) and not getattr(ev.actor, "is_api_client", False)
            else None
        )
        row = AuditEvent(
            created_at=now,
            actor=actor_user,
            actor_label=ev.actor_label or _actor_label(ev.actor, ""),
            action=ev.action,
            object_type=obj._meta.label_lower if obj is not None else "",
            object_id=str(obj.pk) if obj is not None else "",
            case=ev.case if ev.case is not None else (obj if _is_case(obj) else None),
            before=mask(ev.before) if ev.before is not None else None,
            after=mask(ev.after) if ev.after is not None else None,
            note=mask(ev.note or ""),
            request_id=_request_id(ev.request_id or current_request_id.get()),
            ip_address=ev.ip_address or current_client_ip.get(),
            seq=seq + 1,
            key_id=key_id,
            prev_hash=prev_hash,
        )
        row.hash = chain_mac(row, key)
        seq = row.seq
        prev_hash = row.hash
        rows.append(row)
    created = AuditEvent.objects.bulk_create(rows)
    event_ids = [row.pk for row in created if row.pk is not None]
    transaction.on_commit(lambda: _notify_committed(event_ids))
    return created


def _notify_committed(event_ids: list[int]) -> None:
    """Tell subscribers about committed events; a failing receiver never breaks the writer."""
    for receiver, result in audit_events_committed.send_robust(
        sender=AuditEvent, event_ids=event_ids
    ):
        if isinstance(result, Exception):
            logger.error("Audit subscriber %r failed: %s", receiver, result, exc_info=result)


def audit_record(
    *,
    action: str,
    actor: Any = None,
    actor_label: str = "",
    obj: Any = None,
    case: Any = None,
    before: dict | None = None,
    after: dict | None = None,
    note: str = "",
    request_id: str | None = None,
    ip_address: str | None = None,
) -> AuditEvent:
    """Append one audit event (``action`` is a namespaced code such as ``case.escalate``)."""
    return audit_record_many(
        events=[
            PendingEvent(
                action=action,
                actor=actor,
                actor_label=actor_label,
                obj=obj,
                case=case,
                before=before,
                after=after,
                note=note,
                request_id=request_id,
                ip_address=ip_address,
            )
        ]
    )[0]


# --- Verification -------------------------------------------------------------------------------


@dataclass
class Anchor:
    """One line of the anchor file: the chain's head at a moment, sealed under a key."""

    line: int
    at: str
    seq: int
    last_id: int
    head: str
    key_id: str
    prev: str
    mac: str

    def describe(self) -> str:
        return (
            f"anchor at {self.at} (line {self.line}: {self.seq} events, head event id "
            f"{self.last_id})"
        )


_ANCHOR_FIELDS = ("v", "at", "seq", "last_id", "head", "key_id", "prev")


def _anchor_mac(fields: dict[str, Any], key: bytes) -> str:
    blob = json.dumps({k: fields[k] for k in _ANCHOR_FIELDS}, sort_keys=True, separators=(",", ":"))
    return hmac.new(key, blob.encode(), hashlib.sha256).hexdigest()


def _span(first: int, last: int) -> str:
    return f"event #{first}" if first == last else f"events #{first}–#{last}"


def audit_read_anchors(
    *, path: Path | None = None, keys: dict[str, bytes] | None = None
) -> tuple[list[Anchor], list[str]]:
    """Parse and authenticate the anchor file: ``(anchors, problems)``.

    Each line must carry a valid MAC under a configured key and name the previous line's MAC,
    so a forged, edited, removed or reordered line is a problem. A missing file is no anchor.
    """
    path = Path(path or settings.AUDIT_ANCHOR_PATH)
    keys = keys if keys is not None else audit_keys()
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        return [], []
    except OSError as exc:
        return [], [f"anchor file {path} cannot be read: {exc.strerror or exc}"]
    anchors: list[Anchor] = []
    problems: list[str] = []
    prev_mac = GENESIS_HASH
    for number, raw in enumerate(text.splitlines(), start=1):
        where = f"anchor file {path} line {number}"
        try:
            data = json.loads(raw)
            anchor = Anchor(
                line=number,
                at=str(data["at"]),
                seq=int(data["seq"]),
                last_id=int(data["last_id"]),
                head=str(data["head"]),
                key_id=str(data["key_id"]),
                prev=str(data["prev"]),
                mac=str(data["mac"]),
            )
            if data.get("v") != 1:
                raise ValueError("unknown version")
        except (ValueError, KeyError, TypeError):
            problems.append(f"{where} is not a valid anchor (edited or corrupted)")
            return anchors, problems
        key = keys.get(anchor.key_id)
        if key is None:
            problems.append(f"{where} is sealed with key {anchor.key_id!r}, not configured")
            return anchors, problems
        if not hmac.compare_digest(_anchor_mac(data, key), anchor.mac):
            problems.append(f"{where} does not match its MAC (forged or edited)")
            return anchors, problems
        if anchor.prev != prev_mac:
            problems.append(f"{where} does not follow the line before it (a line was removed)")
            return anchors, problems
        if anchors and anchor.seq < anchors[-1].seq:
            problems.append(f"{where} records fewer events than the line before it")
            return anchors, problems
        anchors.append(anchor)
        prev_mac = anchor.mac
    return anchors, problems


@dataclass
class ChainReport:
    """Outcome of :func:`audit_verify_chain`."""

    checked: int
    ok: bool
    broken_id: int | None = None
    reason: str = ""
    anchors_checked: int = 0
    head_seq: int = 0
    problems: list[str] = field(default_factory=list)


def _rows_in_chain_order(*, after_seq: int = 0, chunk_size: int = 2000) -> Iterator[AuditEvent]:
    last = after_seq
    while rows := list(AuditEvent.objects.filter(seq__gt=last).order_by("seq")[:chunk_size]):
        yield from rows
        last = rows[-1].seq


def _row_problem(row: AuditEvent, *, prev_seq: int, prev_hash: str, keys: dict) -> str:
    """Why this row does not continue the chain after ``prev_seq``/``prev_hash`` ("": it does)."""
    where = f"event #{row.seq} (id {row.id})"
    if row.seq != prev_seq + 1:
        return (
            f"{_span(prev_seq + 1, row.seq - 1)} missing before {where}: removed from the "
            "middle of the log"
        )
    if row.prev_hash != prev_hash:
        return f"{where} does not link to the event before it: the chain was rewritten"
    key = keys.get(row.key_id)
    if key is None:
        return (
            f"{where} names key {row.key_id!r}, which is not configured (AUDIT_HMAC_KEY_ID / "
            "AUDIT_HMAC_OLD_KEYS): written without the key, or a retired key was dropped"
        )
    if not hmac.compare_digest(chain_mac(row, key), row.hash):
        return (
            f"{where} does not match its MAC under key {row.key_id}: altered, or written "
            "without the key"
        )
    return ""


def _guard_problems() -> list[str]:
    expected = GUARD_TRIGGERS.get(connection.vendor)
    if not expected:
        return []
    with connection.cursor() as cursor:
        if connection.vendor == "postgresql":
            cursor.execute(
                "SELECT tgname FROM pg_trigger WHERE tgrelid = 'fraudcases_auditevent'::regclass "
                "AND NOT tgisinternal AND tgenabled <> 'D'"
            )
        else:
            cursor.execute(
                "SELECT name FROM sqlite_master WHERE type = 'trigger' "
                "AND tbl_name = 'fraudcases_auditevent'"
            )
        present = {name for (name,) in cursor.fetchall()}
    return [
        f"append-only trigger {name} is missing or disabled on the audit table"
        for name in expected
        if name not in present
    ]


def audit_verify_chain(*, anchors: bool = True, anchor_path: Path | None = None) -> ChainReport:
    """Check every row's position, link and MAC, then the chain against every anchor.

    Stops at the first broken row (what follows it cannot be trusted). Reports, naming the
    events: altered rows, rows removed from the middle, rows removed after the latest anchor
    (the tail), an emptied table, a chain rewritten without the key, forged or removed anchor
    lines, and a missing append-only trigger.
    """
    keys = audit_keys()
    problems: list[str] = []
    anchor_list: list[Anchor] = []
    if anchors:
        anchor_list, problems = audit_read_anchors(path=anchor_path, keys=keys)
    by_seq: dict[int, list[Anchor]] = {}
    for anchor in anchor_list:
        by_seq.setdefault(anchor.seq, []).append(anchor)

    checked = anchors_checked = prev_seq = 0
    prev_hash = GENESIS_HASH
    broken_id = None
    for row in _rows_in_chain_order():
        problem = _row_problem(row, prev_seq=prev_seq, prev_hash=prev_hash, keys=keys)
        for anchor in by_seq.get(row.seq, ()) if not problem else ():
            if anchor.last_id != row.id or not hmac.compare_digest(anchor.head, row.hash):
                problem = (
                    f"event #{row.seq} (id {row.id}) is not the event the {anchor.describe()} "
                    "sealed: the log was rewritten up to here"
                )
                break
            anchors_checked += 1
        if problem:
            problems.append(problem)
            broken_id = row.id
            break
        prev_seq, prev_hash = row.seq, row.hash
        checked += 1
    else:
        latest = anchor_list[-1] if anchor_list else None
        if latest is not None and latest.seq > prev_seq:
            ends = (
                "the audit table is empty (truncated)"
                if prev_seq == 0
                else (f"the log now ends at event #{prev_seq}")
            )
            problems.append(
                f"{_span(prev_seq + 1, latest.seq)} missing after the {latest.describe()}: {ends}"
            )
    problems.extend(_guard_problems())
    ok = not problems
    if ok:
        reason = f"{checked} event{'' if checked == 1 else 's'} verified"
        plural = "" if anchors_checked == 1 else "s"
        reason += f" against {anchors_checked} anchor{plural}" if anchors else ""
        reason += "" if anchors else " (anchors not checked)"
        if anchors and not anchor_list:
            reason += " (no anchor written yet)"
    else:
        reason = "; ".join(problems)
    return ChainReport(
        checked=checked,
        ok=ok,
        broken_id=broken_id,
        reason=reason,
        anchors_checked=anchors_checked,
        head_seq=prev_seq,
        problems=problems,
    )


# --- Anchors ------------------------------------------------------------------------------------


class AnchorRefusedError(Exception):
    """The chain's head does not continue the latest anchor: anchoring it would hide tampering."""


def audit_anchor_write(*, path: Path | None = None) -> Anchor | None:
    """Append the chain's current head to the anchor file (and the log); ``None`` if unchanged.

    The rows added since the latest anchor are verified first, and a head that does not extend
    the latest anchor (rows removed, chain rewritten) is refused with
    :class:`AnchorRefusedError`: an anchor never seals a shortened or rewritten log.
    """
    path = Path(path or settings.AUDIT_ANCHOR_PATH)
    keys = audit_keys()
    key_id, key = audit_current_key()
    path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600)
    if os.fstat(fd).st_mode & 0o022:
        os.close(fd)
        raise AnchorRefusedError(f"the anchor file {path} is writable by others; chmod 600 it")
    with os.fdopen(fd, "a", encoding="utf-8") as fh:
        fcntl.flock(fh, fcntl.LOCK_EX)  # one anchor writer at a time (beat and an operator)
        anchors, problems = audit_read_anchors(path=path, keys=keys)
        if problems:
            raise AnchorRefusedError("; ".join(problems))
        latest = anchors[-1] if anchors else None
        prev_seq, prev_hash = 0, GENESIS_HASH
        if latest is not None:
            row = AuditEvent.objects.filter(seq=latest.seq).first()
            if row is None or row.id != latest.last_id or row.hash != latest.head:
                raise AnchorRefusedError(
                    f"the event the {latest.describe()} sealed is gone or changed; run "
                    "verify_audit_log"
                )
            prev_seq, prev_hash = latest.seq, latest.head
        head = None
        for row in _rows_in_chain_order(after_seq=prev_seq):
            problem = _row_problem(row, prev_seq=prev_seq, prev_hash=prev_hash, keys=keys)
            if problem:
                raise AnchorRefusedError(problem)
            prev_seq, prev_hash, head = row.seq, row.hash, row
        if head is None:
            return None
        fields = {
            "v": 1,
            "at": timezone.now().isoformat(),
            "seq": head.seq,
            "last_id": head.id,
            "head": head.hash,
            "key_id": key_id,
            "prev": latest.mac if latest else GENESIS_HASH,
        }
        fields["mac"] = _anchor_mac(fields, key)
        line = json.dumps(fields, sort_keys=True, separators=(",", ":"))
        fh.write(line + "\n")
        fh.flush()
        os.fsync(fh.fileno())
    anchor_logger.info("audit anchor %s", line)
    return Anchor(
        line=len(anchors) + 1,
        at=fields["at"],
        seq=head.seq,
        last_id=head.id,
        head=head.hash,
        key_id=key_id,
        prev=fields["prev"],
        mac=fields["mac"],
    )


# --- Checks (what /healthz and /metrics show) ---------------------------------------------------


def audit_check_run(*, anchors: bool = True, keep_days: int | None = None) -> AuditCheck:
    """Verify the chain, store the outcome as an :class:`AuditCheck` and prune old reports."""
    try:
        report = audit_verify_chain(anchors=anchors)
    except AuditKeyError as exc:
        report = ChainReport(checked=0, ok=False, reason=f"audit key problem: {exc}")
    check = AuditCheck.objects.create(
        ok=report.ok,
        checked=report.checked,
        anchors_checked=report.anchors_checked,
        reason=report.reason[:10_000],
    )
    if not report.ok:
        logger.error("Audit log verification FAILED: %s", report.reason)
    days = settings.AUDIT_CHECK_KEEP_DAYS if keep_days is None else keep_days
    AuditCheck.objects.filter(created_at__lt=timezone.now() - timedelta(days=days)).delete()
    return check


def audit_last_check() -> dict[str, Any] | None:
    """The latest verification: ``{"ok", "checked", "at", "reason"}`` (``at`` an aware
    datetime), or ``None`` when the chain has never been verified."""
    check = AuditCheck.objects.order_by("-created_at", "-id").first()
    if check is None:
        return None
    return {
        "ok": check.ok,
        "checked": check.checked,
        "at": check.created_at,
        "reason": check.reason,
    }
