"""Request body parser of the transaction API: size and nesting are checked before parsing."""

from __future__ import annotations

from django.conf import settings
from rest_framework.parsers import BaseParser

from ..schema import loads_bounded


class BoundedJSONParser(BaseParser):
    """JSON via :func:`scoring.schema.loads_bounded` (orjson): a body larger than
    ``DATA_UPLOAD_MAX_MEMORY_SIZE`` is a 413, one nested deeper than ``INGEST_MAX_JSON_DEPTH``
    or malformed a 400, before any Python object is built for it."""

    media_type = "application/json"

    def parse(self, stream, media_type=None, parser_context=None):
        limit = settings.DATA_UPLOAD_MAX_MEMORY_SIZE
        # One byte past the limit is enough to know the body is too large.
        return loads_bounded(stream.read() if limit is None else stream.read(limit + 1))
