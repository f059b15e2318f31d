"""Domain errors. They know nothing of HTTP; api/errors.py maps them to status codes."""

from __future__ import annotations


class PunctualError(Exception):
    """Base of every error Punctual raises on purpose; `detail` is safe to show a caller."""

    def __init__(self, detail: str) -> None:
        super().__init__(detail)
        self.detail = detail


class InvalidInput(PunctualError):
    """The caller sent something we cannot accept (maps to 400)."""


class Unauthorized(PunctualError):
    """Missing, malformed, unknown or revoked credentials (maps to 401)."""


class NotFound(PunctualError):
    """The resource does not exist in the caller's organization (maps to 404)."""


class Conflict(PunctualError):
    """The request clashes with existing state, e.g. a duplicate (maps to 409)."""


class BadState(PunctualError):
    """The resource is in a state that forbids the operation (maps to 409)."""


class PreconditionFailed(PunctualError):
    """The resource is not in the state the operation starts from, e.g. scheduling a sent campaign (maps to 412)."""


class StateConflict(BadState):
    """The operation needs another state than the one the resource is in; `state` names it (maps to 409)."""

    def __init__(self, detail: str, state: str) -> None:
        super().__init__(detail)
        self.state = state


class ConfigError(PunctualError):
    """Settings from the environment are missing or malformed (fails at start)."""


class Unavailable(PunctualError):
    """A service Punctual depends on (PostgreSQL) is unreachable for now; retry after `retry_after_s` (maps to 503)."""

    def __init__(self, detail: str, retry_after_s: int = 5) -> None:
        super().__init__(detail)
        self.retry_after_s = max(1, retry_after_s)


class RateLimited(PunctualError):
    """Too many requests or runs for a limit or quota; retry after `retry_after_s` (maps to 429)."""

    def __init__(self, detail: str, retry_after_s: int) -> None:
        super().__init__(detail)
        self.retry_after_s = max(1, retry_after_s)
