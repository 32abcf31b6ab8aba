"""The service's error hierarchy; messages say what to do about the problem.

The API maps these to HTTP status codes and the CLI to exit codes, each in one place.
"""


class RagError(Exception):
    """Base class for every error the service reports to a user."""

    code = "rag_error"


class ConfigError(RagError):
    """A setting is missing or invalid."""

    code = "config_error"


class InvalidInput(RagError):
    """The request itself is wrong (empty question, bad folder, bad filter)."""

    code = "invalid_input"


class EmptyIndex(InvalidInput):
    """A question was asked of an index without documents (a state, not a failure)."""

    code = "index_empty"


class TooLarge(InvalidInput):
    """An input is over a configured size limit (an article over RAG_MAX_ARTICLE_CHARS)."""

    code = "too_large"


class NotFound(RagError):
    """A named document or resource does not exist."""

    code = "not_found"


class BackendUnavailable(RagError):
    """A backend (Chroma server, model server, model file) cannot be reached or loaded."""

    code = "backend_unavailable"
