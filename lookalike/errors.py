"""One hierarchy for client mistakes; the API maps each to a problem-details response.

Anything that is not a ``ClientError`` is a bug and becomes a 500.
"""

from __future__ import annotations


class LookalikeError(Exception):
    """Base of every error lookalike raises on purpose."""


class ClientError(LookalikeError):
    """The caller sent something we cannot use. ``status`` is the HTTP status to answer."""

    status: int = 400
    title: str = "Bad request"

    def __init__(self, detail: str) -> None:
        super().__init__(detail)
        self.detail = detail


class BadImageError(ClientError):
    """Bytes that are not a decodable image (or a truncated one)."""

    status = 415
    title = "Unsupported or corrupt image"


class ImageTooLargeError(ClientError):
    """Over the byte or pixel limits (decompression bombs land here)."""

    status = 413
    title = "Image too large"


class ImageShapeError(ClientError):
    """An image far longer than it is wide (or the reverse): cheap to send, useless to search."""

    status = 422
    title = "Unsupported image shape"


class InvalidParameterError(ClientError):
    """A parameter out of range or malformed (k, box, categories...)."""

    status = 422
    title = "Invalid parameter"


class UnsafeImageError(ClientError):
    """An upload the safety policy refuses (``safety.rules``); ``findings`` says which classes, how sure."""

    status = 422
    title = "Image refused by the safety policy"

    def __init__(self, detail: str, findings: list[dict[str, object]]) -> None:
        super().__init__(detail)
        self.problem_extra = {"findings": findings}


class ImageFetchError(ClientError):
    """An image URL that could not be fetched."""

    status = 422
    title = "Image could not be fetched"


class UnknownCatalogError(ClientError):
    status = 404
    title = "Unknown catalog"


class UnknownItemError(ClientError):
    status = 404
    title = "Unknown item"


class NotReadyError(LookalikeError):
    """The service has no index loaded for the catalog yet."""


class SearchBudgetError(LookalikeError):
    """A search took more compute than ``api.search_budget_s``: answered 503 with Retry-After."""


class ManifestError(LookalikeError):
    """A catalog manifest or benchmark file that cannot be read at all (names the file/line)."""


class CatalogLoadingError(NotReadyError):
    """The catalog's index is loading and did not finish within the wait allowed (503, Retry-After)."""

    def __init__(self, detail: str, retry_after_s: float = 1.0) -> None:
        super().__init__(detail)
        self.retry_after_s = retry_after_s


class ModelServerError(NotReadyError):
    """The remote model server (Triton) is unreachable or failed after the bounded retries: 503."""
