"""The one domain exception; mapped to HTTP 400/403/409 by the API handler and to form errors."""

from typing import Any


class ApplicationError(Exception):
    """A business rule refused an operation. ``extra`` carries field-level details."""

    status_code = 400

    def __init__(self, message: str, extra: dict[str, Any] | None = None):
        super().__init__(message)
        self.message = message
        self.extra = extra or {}


class PermissionDeniedError(ApplicationError):
    """The actor's role does not allow this action on this object."""

    status_code = 403


class ConflictError(ApplicationError):
    """The action is not allowed from the object's current state."""

    status_code = 409
