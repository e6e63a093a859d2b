"""Evidence on a case: notes, tags and attachments."""

from __future__ import annotations

import hashlib
import re
from pathlib import Path

from django.conf import settings
from django.core.files.uploadedfile import UploadedFile
from django.db import transaction

from ..audit import audit_record
from ..errors import ApplicationError
from ..models import Attachment, Case, Note, Tag
from ..permissions import ensure_allowed
from ._common import _add_note, _required_text
from .transitions import _locked

_TAG_NAME = re.compile(r"^[a-z0-9][a-z0-9_-]{0,49}$")


@transaction.atomic
def case_note_add(*, case: Case, actor, body: str) -> Note:
    """Add a markdown note to the case."""
    body = _required_text(body, "body", "The note")
    case = _locked(case)
    ensure_allowed(actor, "case.note", case)
    note = _add_note(case=case, actor=actor, body=body)
    audit_record(actor=actor, action="case.note", obj=note, case=case, after={"body": body})
    return note


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
    *, case: Case, actor, add: list[str] | None = None, remove: list[str] | None = None
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


def _attachment_type(upload: UploadedFile) -> str:
    suffix = Path(upload.name or "").suffix.lower()
    allowed: dict[str, str] = settings.ATTACHMENT_ALLOWED_TYPES
    if suffix not in allowed:
        raise ApplicationError(
            f"Files of type '{suffix or 'none'}' are not accepted.",
            {"file": [f"Allowed: {', '.join(sorted(allowed))}."]},
        )
    return allowed[suffix]


@transaction.atomic
def attachment_add(*, case: Case, actor, upload: UploadedFile) -> Attachment:
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
def attachment_download_record(*, attachment: Attachment, actor) -> Attachment:
    """Check the reader may download the file, and record that they did."""
    ensure_allowed(actor, "case.attachment_download", attachment.case)
    audit_record(
        actor=actor,
        action="case.attachment_download",
        obj=attachment,
        case=attachment.case,
        after={"name": attachment.original_name, "sha256": attachment.sha256},
    )
    return attachment
