"""Failures of an OpenAI-compatible server, told without repeating what the server said.

A server's error body is untrusted: one that echoes request headers puts the API key in
it. So a message for users (`/readyz`, error bodies, SSE `error` events, the CLI) names
only the server's address (credentials stripped), the HTTP status or the kind of
connection failure, and a hint. The body goes to the log, redacted by `redact`.
Left out: recognising every secret format; `redact` knows the configured key, bearer
tokens, `sk-…` keys and `key=value` pairs, and cuts the rest short.
"""

import json
import logging
import re
import socket
import ssl
from collections.abc import Iterable
from urllib.parse import urlsplit, urlunsplit

import httpx
import openai

from rag.config import Settings

log = logging.getLogger("rag.upstream")

FRAGMENT = 8  # any run of this many characters of a secret counts as the secret
LIMIT = 300  # characters of a redacted body kept for the log
MASK = "[redacted]"

# A value: anything up to a delimiter, unless it is already masked.
_VALUE = rf"(?!{re.escape(MASK)})[^\s\"',;}}\]]+"
_AUTH_SCHEME = re.compile(rf"(?i)\b(bearer\s+){_VALUE}|\b(basic\s+)[A-Za-z0-9+/]{{8,}}=*")
_SK_KEY = re.compile(r"\bsk-[A-Za-z0-9_\-]{6,}")
_ASSIGNED = re.compile(
    rf"(?i)([\"']?[\w-]*(?:api[-_]?key|token|secret|password)[\"']?\s*[:=]\s*[\"']?){_VALUE}"
)
_USERINFO = re.compile(r"(?i)(\b[a-z][a-z0-9+.\-]*://)[^/\s@\"']+@")

_STATUS: dict[int, tuple[str, str]] = {
    400: ("bad request", "the prompt may exceed the model's context (RAG_LLM_PASSAGES)"),
    401: ("authentication failed", "check RAG_OPENAI_API_KEY"),
    403: ("permission denied", "check that RAG_OPENAI_API_KEY may use the model"),
    404: ("not found", "check RAG_OPENAI_BASE_URL (usually ending in /v1) and the model name"),
    408: ("request timeout", "try again, or raise RAG_OPENAI_TIMEOUT_S"),
    413: ("request too large", "lower RAG_LLM_PASSAGES"),
    422: ("unprocessable request", "check the model name"),
    429: ("rate limited or out of quota", "try again later, or check the account's quota"),
}


def _secret_spans(text: str, secret: str) -> Iterable[tuple[int, int]]:
    """Spans of `text` that hold the secret or any run of `FRAGMENT`+ of its characters."""
    lowered, key = text.lower(), secret.lower()
    if len(key) < FRAGMENT:
        start = lowered.find(key) if key else -1
        while start >= 0:
            yield start, start + len(key)
            start = lowered.find(key, start + 1)
        return
    # Every run of FRAGMENT+ shared characters is covered by shared FRAGMENT-grams.
    grams = {key[i : i + FRAGMENT] for i in range(len(key) - FRAGMENT + 1)}
    for i in range(len(lowered) - FRAGMENT + 1):
        if lowered[i : i + FRAGMENT] in grams:
            yield i, i + FRAGMENT


def redact(text: str, secrets: Iterable[str | None] = (), limit: int = LIMIT) -> str:
    """`text` on one line with secrets, tokens and URL credentials masked, cut to `limit`."""
    text = text[: limit * 4]  # what could survive the cut below, and no more work than that
    covered = [False] * len(text)
    for secret in secrets:
        for start, end in _secret_spans(text, secret or ""):
            covered[start:end] = [True] * (end - start)
    kept: list[str] = []
    for i, char in enumerate(text):
        if not covered[i]:
            kept.append(char)
        elif i == 0 or not covered[i - 1]:
            kept.append(MASK)
    out = "".join(kept)
    out = _USERINFO.sub(rf"\1{MASK}@", out)
    out = _AUTH_SCHEME.sub(lambda m: f"{m[1] or m[2]}{MASK}", out)
    out = _SK_KEY.sub(f"sk-{MASK}", out)
    out = _ASSIGNED.sub(rf"\1{MASK}", out)
    out = " ".join(out.split())
    return out if len(out) <= limit else out[:limit] + "…"


def safe_url(url: str) -> str:
    """A URL with its user name, password, query and fragment removed."""
    try:
        parts = urlsplit(url)
        host = parts.hostname or ""
        port = parts.port
    except ValueError:
        return "(an unparsable URL)"
    if ":" in host:
        host = f"[{host}]"
    netloc = f"{host}:{port}" if port else host
    return urlunsplit((parts.scheme, netloc, parts.path, "", ""))


def server_label(settings: Settings) -> str:
    """How messages name the model server: its safe URL, or OpenAI's API."""
    return safe_url(settings.openai_base_url) if settings.openai_base_url else "OpenAI's API"


def _connection_reason(exc: BaseException) -> str:
    """What went wrong with a connection, from the exception types in its chain."""
    seen: BaseException | None = exc
    for _ in range(8):  # causes nest a few levels deep (openai → httpx → httpcore → OS)
        if seen is None:
            break
        if isinstance(seen, openai.APITimeoutError | httpx.TimeoutException | TimeoutError):
            return "timed out (RAG_OPENAI_TIMEOUT_S)"
        if isinstance(seen, ConnectionRefusedError):
            return "connection refused"
        if isinstance(seen, socket.gaierror):
            return "the host name did not resolve"
        if isinstance(seen, ConnectionResetError):
            return "connection reset"
        if isinstance(seen, ssl.SSLError):
            return "TLS handshake failed"
        seen = seen.__cause__ or seen.__context__
    return f"connection failed ({type(exc).__name__})"


def describe(exc: Exception, where: str, action: str) -> str:
    """A message for users about a failed call: status or failure kind, never the body."""
    if isinstance(exc, openai.APIStatusError):
        code = exc.status_code
        meaning, hint = _STATUS.get(
            code,
            ("server error", "see the model server's log")
            if code >= 500
            else ("unexpected status", "see the model server's log"),
        )
        return (
            f"the model server at {where} answered HTTP {code} ({meaning}) while {action}: {hint}"
        )
    if isinstance(exc, openai.APIConnectionError | httpx.TransportError):
        return (
            f"could not reach the model server at {where} while {action}: {_connection_reason(exc)}"
        )
    return (
        f"the model server at {where} failed while {action}: its reply was an error or not "
        f"an OpenAI-compatible reply ({type(exc).__name__})"
    )


def _body(exc: Exception) -> str | None:
    body = getattr(exc, "body", None)
    if body is None:
        return None
    return body if isinstance(body, str) else json.dumps(body, default=str)


def failure_message(exc: Exception, settings: Settings, action: str) -> str:
    """`describe` for the configured server; the server's own reply is logged, redacted."""
    message = describe(exc, server_label(settings), action)
    body = _body(exc)
    if body:
        log.warning("%s; its reply, redacted: %s", message, redact(body, [settings.openai_key()]))
    return message
