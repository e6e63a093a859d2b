"""The sampling policy: which closures go to quality review.

Every closure whose disposition is in ``QA_ALWAYS_DISPOSITIONS`` (``legitimate``) at or above
``QA_ALWAYS_MIN_RISK`` (90) is reviewed; of the others, ``QA_SAMPLE_RATE`` (5 %) at random. The
random draw is an HMAC-SHA256 of the closure (case id and closing time) under ``SECRET_KEY``:
the same closure always gets the same answer (the sweep can run any number of times), and
nobody without the key can tell in advance which closures will be drawn.
"""

from __future__ import annotations

import hashlib
import hmac
from datetime import datetime

from django.conf import settings

from ..models import QAReview


def qa_draw(*, case_id: int, closed_at: datetime) -> float:
    """The closure's draw in [0, 1): uniform, reproducible, unpredictable without the key."""
    message = f"qa-sample:v1:{case_id}:{closed_at.isoformat()}".encode()
    digest = hmac.new(settings.SECRET_KEY.encode(), message, hashlib.sha256).digest()
    return int.from_bytes(digest[:8], "big") / 2**64


def qa_sample_reason(
    *, case_id: int, closed_at: datetime, disposition: str, risk_score: float
) -> str | None:
    """Why this closure is reviewed (a ``QAReview.Reason``), or ``None`` when it is not."""
    if disposition in settings.QA_ALWAYS_DISPOSITIONS and risk_score >= settings.QA_ALWAYS_MIN_RISK:
        return QAReview.Reason.HIGH_RISK
    if qa_draw(case_id=case_id, closed_at=closed_at) < settings.QA_SAMPLE_RATE:
        return QAReview.Reason.RANDOM
    return None
