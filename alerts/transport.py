"""Sending one message over HTTP or SMTP and classifying the outcome (no database).

Outcomes: delivered; transient (network errors, timeouts, HTTP 408/425/429/5xx, SMTP 4xx: worth
retrying); permanent (any other HTTP status, redirects (not followed), SMTP 5xx, a bad secret or
configuration: retrying would not help, and repeated ones pause the channel).
"""

from __future__ import annotations

import hashlib
import hmac
import smtplib
import time
import urllib.error
import urllib.request
from dataclasses import dataclass

from django.core.mail import EmailMultiAlternatives, get_connection

EXCERPT_CHARS = 500
TRANSIENT_HTTP = frozenset({408, 425, 429})
USER_AGENT = "fraudcases-alerts/1"


@dataclass(frozen=True)
class SendResult:
    """What one attempt produced."""

    ok: bool
    permanent: bool = False
    status_code: int | None = None
    latency_ms: int = 0
    error: str = ""
    excerpt: str = ""


def signature(secret: str, timestamp: str, body: bytes) -> str:
    """``sha256=<hex>`` of HMAC-SHA256(secret, timestamp + "." + body): the ``X-Signature``."""
    mac = hmac.new(secret.encode(), timestamp.encode() + b"." + body, hashlib.sha256)
    return "sha256=" + mac.hexdigest()


class _NoRedirect(urllib.request.HTTPRedirectHandler):
    def redirect_request(self, req, fp, code, msg, headers, newurl):
        return None  # a redirect is reported as the 3xx it is, never followed with the body


_opener = urllib.request.build_opener(_NoRedirect)


def _excerpt(raw: bytes) -> str:
    return raw[: EXCERPT_CHARS * 4].decode("utf-8", errors="replace")[:EXCERPT_CHARS]


def http_post(*, url: str, body: bytes, headers: dict[str, str], timeout: float) -> SendResult:
    """POST ``body`` to ``url``; a 2xx is success."""
    request = urllib.request.Request(
        url,
        data=body,
        method="POST",
        headers={"Content-Type": "application/json", "User-Agent": USER_AGENT, **headers},
    )
    started = time.monotonic()

    def elapsed() -> int:
        return int((time.monotonic() - started) * 1000)

    try:
        with _opener.open(request, timeout=timeout) as response:
            raw = response.read(EXCERPT_CHARS * 4)
            return SendResult(
                ok=True, status_code=response.status, latency_ms=elapsed(), excerpt=_excerpt(raw)
            )
    except urllib.error.HTTPError as exc:
        code = exc.code
        try:
            raw = exc.read(EXCERPT_CHARS * 4)
        except (OSError, ValueError):
            raw = b""
        transient = code in TRANSIENT_HTTP or code >= 500
        reason = f"HTTP {code} {exc.reason}".strip()
        if 300 <= code < 400:
            reason += f" (redirect to {exc.headers.get('Location', '?')} not followed)"
        return SendResult(
            ok=False,
            permanent=not transient,
            status_code=code,
            latency_ms=elapsed(),
            error=reason,
            excerpt=_excerpt(raw),
        )
    except (urllib.error.URLError, TimeoutError, ConnectionError, OSError) as exc:
        reason = getattr(exc, "reason", exc)
        return SendResult(ok=False, latency_ms=elapsed(), error=f"{type(exc).__name__}: {reason}")


def smtp_send(
    *,
    subject: str,
    text: str,
    html: str,
    recipients: list[str],
    from_email: str,
    headers: dict[str, str],
    timeout: float,
) -> SendResult:
    """Send one message with Django's email backend (SMTP settings from the environment)."""
    started = time.monotonic()

    def elapsed() -> int:
        return int((time.monotonic() - started) * 1000)

    message = EmailMultiAlternatives(
        subject=subject,
        body=text,
        from_email=from_email,
        to=recipients,
        headers=headers,
        connection=get_connection(timeout=timeout),
    )
    message.attach_alternative(html, "text/html")
    try:
        message.send(fail_silently=False)
    except smtplib.SMTPRecipientsRefused as exc:
        codes = [code for code, _ in exc.recipients.values()]
        detail = "; ".join(f"{to}: {code} {msg!r}" for to, (code, msg) in exc.recipients.items())
        return SendResult(
            ok=False,
            permanent=all(code >= 500 for code in codes),
            status_code=max(codes) if codes else None,
            latency_ms=elapsed(),
            error=f"Recipients refused: {detail}",
        )
    except smtplib.SMTPResponseException as exc:
        return SendResult(
            ok=False,
            permanent=exc.smtp_code >= 500,
            status_code=exc.smtp_code,
            latency_ms=elapsed(),
            error=f"SMTP {exc.smtp_code}: {exc.smtp_error!r}",
        )
    except (smtplib.SMTPException, OSError) as exc:
        return SendResult(ok=False, latency_ms=elapsed(), error=f"{type(exc).__name__}: {exc}")
    return SendResult(ok=True, latency_ms=elapsed(), excerpt=f"accepted for {len(recipients)}")
