"""Evidence on a case: notes (append-only), tags and attachments; removal keeps a tombstone."""

from __future__ import annotations

import hashlib
import re
from pathlib import Path

from django.conf import settings
from django.contrib.auth.models import AbstractBaseUser
from django.core.files.uploadedfile import UploadedFile
from django.db import transaction
from django.utils import timezone

from core.audit import audit_record
from core.errors import ApplicationError, ConflictError
from core.permissions import ensure_allowed

from ..models import Attachment, Case, Note, Tag
from ._common import _required_text
from .transitions import _locked

User = AbstractBaseUser
_TAG_NAME = re.compile(r"^[a-z0-9][a-z0-9_-]{0,49}$")


@transaction.atomic
def case_note_add(*, case: Case, actor: User, body: str, corrects: Note | None = None) -> Note:
    """Add a markdown note to the case; ``corrects`` names an earlier note of the same case
    this one corrects (notes are never edited: the original stays, the correction is new)."""
    body = _required_text(body, "body", "The note")
    case = _locked(case)
    ensure_allowed(actor, "case.note", case)
    if corrects is not None and (corrects.case_id != case.pk or corrects.is_deleted):
        raise ApplicationError(
            "A correction must name a note of the same case that was not removed.",
            {"corrects": ["Not a note of this case."]},
        )
    note = Note.objects.create(case=case, author=actor, body=body, corrects=corrects)
    after = {"body": body} | ({"corrects": corrects.pk} if corrects else {})
    audit_record(actor=actor, action="case.note", obj=note, case=case, after=after)
    return note


@transaction.atomic
def note_delete(*, note: Note, actor: User, reason: str) -> Note:
    """Remove a note's text (supervisors, with a reason); the row stays as a tombstone with the
    original's length and SHA-256, so the timeline still shows that something was removed."""
    reason = _required_text(reason, "reason", "A reason for removing the note")
    note = Note.objects.select_for_update().select_related("case").get(pk=note.pk)
    ensure_allowed(actor, "case.note_delete", note.case)
    if note.is_deleted:
        raise ConflictError(f"Note {note.pk} was already removed.")
    before = {
        "author": note.author.get_username(),
        "length": len(note.body),
        "sha256": hashlib.sha256(note.body.encode()).hexdigest(),
    }
    note.body = ""
    note.deleted_at = timezone.now()
    note.deleted_by = actor
    note.deletion_reason = reason
    note.save(update_fields=["body", "deleted_at", "deleted_by", "deletion_reason"])
    audit_record(
        actor=actor,
        action="case.note_delete",
        obj=note,
        case=note.case,
        before=before,
        after={"deleted": True},
        note=reason,
    )
    return note


@transaction.atomic
def attachment_delete(*, attachment: Attachment, actor: User, reason: str) -> Attachment:
    """Delete an attachment's file (supervisors, with a reason); the row stays as a tombstone
    with its name, size and SHA-256."""
    reason = _required_text(reason, "reason", "A reason for removing the attachment")
    attachment = Attachment.objects.select_for_update().select_related("case").get(pk=attachment.pk)
    ensure_allowed(actor, "case.attachment_delete", attachment.case)
    if attachment.is_deleted:
        raise ConflictError(f"Attachment {attachment.pk} was already removed.")
    stored = attachment.file.name
    attachment.file = ""
    attachment.deleted_at = timezone.now()
    attachment.deleted_by = actor
    attachment.deletion_reason = reason
    attachment.save(update_fields=["file", "deleted_at", "deleted_by", "deletion_reason"])
    audit_record(
        actor=actor,
        action="case.attachment_delete",
        obj=attachment,
        case=attachment.case,
        before={"name": attachment.original_name, "size": attachment.size},
        after={"deleted": True, "sha256": attachment.sha256},
        note=reason,
    )
    if stored:
        storage = Attachment._meta.get_field("file").storage
        transaction.on_commit(lambda: storage.delete(stored))
    return attachment


def _clean_tags(names: list[str]) -> list[str]:
    clean = []
    for raw in names:
        name = raw.strip().lower()
        if not name:
            continue
        if not _TAG_NAME.match(name):
            raise ApplicationError(
                f"'{raw}' is not a valid tag.",
                {"tags": ["Lowercase letters, digits, '-' and '_' only; at most 50 characters."]},
            )
        clean.append(name)
    return sorted(set(clean))


@transaction.atomic
def case_tags_update(
    *, case: Case, actor: User, add: list[str] | None = None, remove: list[str] | None = None
) -> list[str]:
    """Add and remove tags on a case; returns the case's tags afterwards."""
    to_add, to_remove = _clean_tags(add or []), _clean_tags(remove or [])
    if not to_add and not to_remove:
        raise ApplicationError("Name at least one tag.", {"tags": ["Name at least one tag."]})
    case = _locked(case)
    ensure_allowed(actor, "case.tag", case)
    before = sorted(case.tags.values_list("name", flat=True))
    for name in to_add:
        tag, _ = Tag.objects.get_or_create(name=name)
        case.tags.add(tag)
    if to_remove:
        case.tags.remove(*Tag.objects.filter(name__in=to_remove))
    after = sorted(case.tags.values_list("name", flat=True))
    if after != before:
        case.save(update_fields=["updated_at"])
        audit_record(
            actor=actor, action="case.tag", obj=case, before={"tags": before}, after={"tags": after}
        )
    return after


# What a file of each accepted type starts with: checked on the content, not the name alone.
_SIGNATURES: dict[str, tuple[bytes, ...]] = {
    "application/pdf": (b"%PDF-",),
    "image/png": (b"\x89PNG\r\n\x1a\n",),
    "image/jpeg": (b"\xff\xd8\xff",),
}
_TEXT_TYPES = frozenset({"text/plain", "text/csv", "message/rfc822"})
_SNIFF_BYTES = 8192


def _is_text(head: bytes) -> bool:
    if b"\x00" in head:
        return False
    try:
        head.decode("utf-8")
    except UnicodeDecodeError as exc:
        # A multi-byte character cut by the sniff window is fine; anything else is not text.
        return exc.start >= len(head) - 3 and exc.reason == "unexpected end of data"
    return True


def _attachment_type(upload: UploadedFile) -> str:
    """The content type for the file's extension, after checking its content matches it."""
    suffix = Path(upload.name or "").suffix.lower()
    allowed: dict[str, str] = settings.ATTACHMENT_ALLOWED_TYPES
    if suffix not in allowed:
        raise ApplicationError(
            f"Files of type '{suffix or 'none'}' are not accepted.",
            {"file": [f"Allowed: {', '.join(sorted(allowed))}."]},
        )
    content_type = allowed[suffix]
    upload.seek(0)
    head = upload.read(_SNIFF_BYTES)
    upload.seek(0)
    if content_type in _TEXT_TYPES:
        matches = _is_text(head) and not any(
            head.startswith(sig) for sigs in _SIGNATURES.values() for sig in sigs
        )
    else:
        matches = any(head.startswith(sig) for sig in _SIGNATURES.get(content_type, ()))
    if not matches:
        raise ApplicationError(
            f"The file's content is not {suffix} ({content_type}); it was not stored.",
            {"file": [f"The content does not match the '{suffix}' extension."]},
        )
    return content_type


@transaction.atomic
def attachment_add(*, case: Case, actor: User, upload: UploadedFile) -> Attachment:
    """Store an evidence file privately (outside the web root) and link it to the case."""
    if upload is None:
        raise ApplicationError("Choose a file.", {"file": ["Choose a file."]})
    if upload.size > settings.ATTACHMENT_MAX_BYTES:
        raise ApplicationError(
            f"The file is {upload.size:,} bytes; the limit is "
            f"{settings.ATTACHMENT_MAX_BYTES:,} bytes.",
            {"file": ["File too large."]},
        )
    if upload.size == 0:
        raise ApplicationError("The file is empty.", {"file": ["The file is empty."]})
    content_type = _attachment_type(upload)
    case = _locked(case)
    ensure_allowed(actor, "case.attach", case)
    digest = hashlib.sha256()
    for chunk in upload.chunks():
        digest.update(chunk)
    upload.seek(0)
    original = Path(upload.name).name[:255]
    attachment = Attachment(
        case=case,
        uploaded_by=actor,
        original_name=original,
        content_type=content_type,
        size=upload.size,
        sha256=digest.hexdigest(),
    )
    # The stored name is random: user-supplied names never reach the file system.
    attachment.file.save(f"{digest.hexdigest()[:16]}{Path(original).suffix.lower()}", upload)
    audit_record(
        actor=actor,
        action="case.attach",
        obj=attachment,
        case=case,
        after={"name": original, "size": upload.size, "sha256": attachment.sha256},
    )
    return attachment


@transaction.atomic
def attachment_download_record(*, attachment: Attachment, actor: User) -> Attachment:
    """Check the reader may download the file, and record that they did."""
    ensure_allowed(actor, "case.attachment_download", attachment.case)
    if attachment.is_deleted:
        raise ConflictError(f"{attachment.original_name} was removed; only its record remains.")
    audit_record(
        actor=actor,
        action="case.attachment_download",
        obj=attachment,
        case=attachment.case,
        after={"name": attachment.original_name, "sha256": attachment.sha256},
    )
    return attachment


def _tag_name(raw: str) -> str:
    names = _clean_tags([raw or ""])
    if len(names) != 1:
        raise ApplicationError("Name the tag.", {"name": ["Name the tag."]})
    return names[0]


@transaction.atomic
def tag_create(*, actor: User, name: str) -> Tag:
    """Add a tag to the vocabulary (supervisors, admins)."""
    ensure_allowed(actor, "tag.manage")
    name = _tag_name(name)
    if Tag.objects.filter(name=name).exists():
        raise ApplicationError(f"The tag '{name}' exists.", {"name": ["This tag exists."]})
    tag = Tag.objects.create(name=name)
    audit_record(actor=actor, action="tag.create", obj=tag, after={"name": name})
    return tag


@transaction.atomic
def tag_rename(*, actor: User, tag: Tag, name: str) -> Tag:
    """Rename a tag on every case that carries it (supervisors, admins)."""
    ensure_allowed(actor, "tag.manage")
    name = _tag_name(name)
    tag = Tag.objects.select_for_update().get(pk=tag.pk)
    if name == tag.name:
        return tag
    if Tag.objects.filter(name=name).exists():
        raise ApplicationError(f"The tag '{name}' exists.", {"name": ["This tag exists."]})
    before = {"name": tag.name}
    tag.name = name
    tag.save(update_fields=["name"])
    cases = sorted(tag.cases.values_list("pk", flat=True))
    audit_record(
        actor=actor,
        action="tag.rename",
        obj=tag,
        before=before,
        after={"name": name, "cases": cases},
    )
    return tag


@transaction.atomic
def tag_delete(*, actor: User, tag: Tag, reason: str) -> None:
    """Remove a tag from every case and the vocabulary (supervisors, admins), saying why; the
    audit event lists the cases that carried it."""
    ensure_allowed(actor, "tag.manage")
    reason = _required_text(reason, "reason", "A reason for deleting the tag")
    tag = Tag.objects.select_for_update().get(pk=tag.pk)
    cases = sorted(tag.cases.values_list("pk", flat=True))
    audit_record(
        actor=actor,
        action="tag.delete",
        obj=tag,
        before={"name": tag.name, "cases": cases},
        note=reason,
    )
    tag.cases.clear()
    tag.delete()
