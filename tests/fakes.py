"""In-process fakes for unit tests: a deterministic embedder, a scripted generator, and
an OpenAI-compatible server on 127.0.0.1 that echoes the caller's headers in its errors.
"""

import hashlib
import json
import math
import re
import threading
from collections.abc import Iterator, Sequence
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from rag.answer.generate import Draft
from rag.index.embed import EMBEDDERS
from rag.schema import Passage


class FakeEmbedder:
    """Hashes words into 64 buckets: same words, same vector; no model needed.

    Registered as `fake` (set `embedder="fake"` in the test's settings).
    """

    name = "fake"
    dim = 64

    def __init__(self) -> None:
        self.calls: list[int] = []  # batch sizes, to check what was (re-)embedded

    def _vector(self, text: str) -> list[float]:
        v = [0.0] * self.dim
        for word in re.findall(r"\w+", text.lower()):
            v[int(hashlib.md5(word.encode()).hexdigest(), 16) % self.dim] += 1.0
        norm = math.sqrt(sum(x * x for x in v)) or 1.0
        return [x / norm for x in v]

    def embed_documents(self, texts: Sequence[str]) -> list[list[float]]:
        self.calls.append(len(texts))
        return [self._vector(t) for t in texts]

    def embed_query(self, text: str) -> list[float]:
        return self._vector(text)


EMBEDDERS.register("fake")(lambda settings: FakeEmbedder())


class ScriptedGenerator:
    """Returns queued texts in order and records what it was asked."""

    name = "scripted"
    final_stream = False

    def __init__(self, *texts: str) -> None:
        self.queue = list(texts)
        self.history: list[tuple[str, int]] = []

    def rewrite(self, history: str, question: str) -> str | None:
        return None

    def check(self) -> None:
        """Always ready."""

    def generate(self, question: str, passages: Sequence[Passage]) -> Draft:
        self.history.append((question, len(passages)))
        text = self.queue.pop(0)
        return Draft(text, answerable=not text.startswith("The articles do not"))

    def stream(self, question: str, passages: Sequence[Passage]) -> Iterator[str | Draft]:
        draft = self.generate(question, passages)
        yield from re.findall(r"\S+\s*", draft.text)
        yield draft


class EchoingUpstream:
    """A hostile OpenAI-compatible server: every error body repeats the request's headers.

    `status` maps a path to the status it answers with. With `midstream`, a streamed chat
    completion starts with 200 and one token, then sends the echo as an `error` event.
    `models` (when set) makes `/v1/models` succeed with these ids, each followed by the
    caller's `Authorization` header. `authorizations` records what callers sent.
    """

    def __init__(self) -> None:
        self.status = {"/v1/models": 401, "/v1/chat/completions": 500, "/v1/embeddings": 401}
        self.midstream = False
        self.models: list[str] | None = None
        self.authorizations: list[str] = []
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), self._handler())
        self.url = f"http://127.0.0.1:{self._server.server_address[1]}/v1"
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)

    def __enter__(self) -> "EchoingUpstream":
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._server.shutdown()
        self._server.server_close()

    def echo(self, headers: dict[str, str]) -> dict[str, Any]:
        """An error body in OpenAI's shape that leaks the key every way it can."""
        auth = headers.get("Authorization", headers.get("authorization", ""))
        key = auth.removeprefix("Bearer ")
        return {
            "error": {
                "fragment": key[5:21],  # a piece of the key without its start
                "message": f"Incorrect API key provided: {key}\nYou sent: {auth}",
                "type": "invalid_request_error",
                "code": "invalid_api_key",
                "headers": headers,
                "api_key": key,
            }
        }

    def _handler(self) -> type[BaseHTTPRequestHandler]:
        upstream = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, format: str, *args: Any) -> None:
                """Quiet: the test reads the service's log, not this one."""

            def _send(self, status: int, body: bytes, kind: str = "application/json") -> None:
                self.send_response(status)
                self.send_header("Content-Type", kind)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def _answer(self, request: dict[str, Any]) -> None:
                headers = dict(self.headers.items())
                upstream.authorizations.append(headers.get("Authorization", ""))
                echo = upstream.echo(headers)
                path = self.path.rstrip("/")
                if path == "/v1/models" and upstream.models is not None:
                    auth = headers.get("Authorization", "")
                    cards = [{"id": f"{m} {auth}", "object": "model"} for m in upstream.models]
                    self._send(200, json.dumps({"object": "list", "data": cards}).encode())
                elif (
                    path == "/v1/chat/completions" and upstream.midstream and request.get("stream")
                ):
                    delta = {"choices": [{"index": 0, "delta": {"content": "The "}}]}
                    events = f"data: {json.dumps(delta)}\n\ndata: {json.dumps(echo)}\n\n"
                    self._send(200, events.encode(), "text/event-stream")
                else:
                    self._send(upstream.status.get(path, 404), json.dumps(echo).encode())

            def do_GET(self) -> None:
                self._answer({})

            def do_POST(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                self._answer(json.loads(self.rfile.read(length) or b"{}"))

        return Handler
