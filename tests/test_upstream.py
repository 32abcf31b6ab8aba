"""A model server's error text never reaches users, and reaches the log only redacted.

The server here is hostile on purpose (`fakes.EchoingUpstream`): every error body repeats
the request's headers, `Authorization` and so the API key included.
"""

import json
import secrets
import traceback
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from conftest import free_port, rag_server, settled_readyz
from fakes import EchoingUpstream

from rag.answer.llm import OpenAIGenerator
from rag.config import Settings, load_settings
from rag.errors import BackendUnavailable, ConfigError
from rag.index.embed import OpenAIEmbedder
from rag.schema import Passage
from rag.upstream import FRAGMENT, MASK, redact, safe_url

TACNA = "How long will the state of emergency in Tacna last?"
PASSAGE = Passage("c1", "d1", "Peru declared a 60-day state of emergency in Tacna.", 0, 52,
                  "Peru and Tacna", None, None, 1.0)  # fmt: skip


def new_key() -> str:
    """A long random key without an `sk-` prefix, so only the key itself can be matched."""
    return "k" + secrets.token_urlsafe(36)


def leaks(key: str, text: str) -> list[str]:
    """Every run of `FRAGMENT` characters of `key` found in `text` (case ignored)."""
    lowered = text.lower()
    pieces = {key[i : i + FRAGMENT].lower() for i in range(len(key) - FRAGMENT + 1)}
    return sorted(p for p in pieces if p in lowered)


# -- redaction, worked out by hand ---------------------------------------------------------


def test_redact_masks_the_key_and_every_long_piece_of_it() -> None:
    key = "ABCDEFGHIJKLMNOP"
    assert redact(f"got {key}!", [key]) == f"got {MASK}!"
    assert redact("piece CDEFGHIJ here", [key]) == f"piece {MASK} here"  # 8 characters
    assert redact("piece cdefghij here", [key]) == f"piece {MASK} here"  # any case
    assert redact("short CDEFGHI stays", [key]) == "short CDEFGHI stays"  # 7: too short
    # Two pieces that touch become one mask; separate pieces stay separate.
    assert redact("ABCDEFGHIJ-IJKLMNOP", [key]) == f"{MASK}-{MASK}"
    assert redact("a 1234 b", ["1234"]) == f"a {MASK} b"  # a short secret: whole only
    assert redact("nothing here", [None, ""]) == "nothing here"


def test_redact_masks_tokens_and_credentials_it_was_not_told_about() -> None:
    text = (
        '{"authorization": "Bearer abc.def-ghi", "x-api-key": "k123", "token": "t9", '
        '"max_tokens": 200} sk-proj-1234567890 http://user:pw@host:8000/v1 '
        "Basic dXNlcjpwYXNzd29yZA=="
    )
    assert redact(text) == (
        f'{{"authorization": "Bearer {MASK}", "x-api-key": "{MASK}", "token": "{MASK}", '
        f'"max_tokens": 200}} sk-{MASK} http://{MASK}@host:8000/v1 Basic {MASK}'
    )


def test_redact_keeps_one_line_and_cuts_long_text() -> None:
    assert redact("line one\n\tline two\r\n") == "line one line two"
    cut = redact("x" * 1000, limit=20)
    assert cut == "x" * 20 + "…"


def test_safe_url_drops_credentials_query_and_fragment() -> None:
    assert safe_url("https://user:pw@example.com:8443/v1?key=1#f") == "https://example.com:8443/v1"
    assert safe_url("http://[::1]:8080/v1") == "http://[::1]:8080/v1"
    assert safe_url("http://127.0.0.1/v1") == "http://127.0.0.1/v1"
    assert safe_url("http://host:notaport/v1") == "(an unparsable URL)"


# -- the openai generator and embedder against the echoing server, in process --------------


@pytest.fixture
def upstream() -> Iterator[EchoingUpstream]:
    with EchoingUpstream() as server:
        yield server


def settings_for(url: str, key: str, **overrides: object) -> Settings:
    values = {"generator": "openai", "embedder": "openai", "openai_base_url": url,
              "openai_api_key": key, "openai_max_retries": 0, "openai_timeout_s": 10}  # fmt: skip
    return load_settings(**{**values, **overrides})


def seen(exc: BaseException) -> str:
    """Everything a log or a user could see of an exception: message and full traceback."""
    return "".join(traceback.format_exception(exc))


def test_generator_and_embedder_errors_name_the_status_not_the_body(
    upstream: EchoingUpstream, caplog: pytest.LogCaptureFixture
) -> None:
    key = new_key()
    settings = settings_for(upstream.url, key)
    generator = OpenAIGenerator(settings)
    shown: list[str] = []

    with pytest.raises(ConfigError) as refused:
        generator.check()
    message = str(refused.value)
    assert message == (
        f"the model server at {upstream.url} answered HTTP 401 (authentication failed) "
        "while listing models: check RAG_OPENAI_API_KEY"
    )
    shown.append(seen(refused.value))

    with pytest.raises(BackendUnavailable, match=r"HTTP 500 \(server error\) while answering"):
        generator.generate(TACNA, [PASSAGE])
    with pytest.raises(BackendUnavailable, match=r"HTTP 500") as failed:
        list(generator.stream(TACNA, [PASSAGE]))
    shown.append(seen(failed.value))
    upstream.midstream = True
    with pytest.raises(BackendUnavailable, match="its reply was an error") as broken:
        list(generator.stream(TACNA, [PASSAGE]))
    shown.append(seen(broken.value))
    assert generator.rewrite("user: Peru?", "And how long?") is None  # falls back, logged

    with pytest.raises(BackendUnavailable, match=r"HTTP 401 .* while embedding") as embedding:
        OpenAIEmbedder(settings).embed_query("Tacna")
    shown.append(seen(embedding.value))

    upstream.models = ["other-model"]
    with pytest.raises(ConfigError, match=r"'gpt-4o-mini' is not served .* other-model") as names:
        generator.check()
    shown.append(seen(names.value))

    assert upstream.authorizations and set(upstream.authorizations) == {f"Bearer {key}"}
    assert leaks(key, "".join(shown) + caplog.text) == []
    assert MASK in caplog.text  # the server's replies were logged, masked


def test_credentials_in_the_base_url_are_not_shown(
    upstream: EchoingUpstream, caplog: pytest.LogCaptureFixture
) -> None:
    # httpx sends them as `Basic` auth (instead of the key), which the server echoes.
    url = upstream.url.replace("http://", "http://admin:hunter22@")
    with pytest.raises(ConfigError) as refused:
        OpenAIGenerator(settings_for(url, new_key())).check()
    assert upstream.authorizations == ["Basic YWRtaW46aHVudGVyMjI="]  # admin:hunter22
    assert f"the model server at {upstream.url} answered HTTP 401" in str(refused.value)
    shown = seen(refused.value) + caplog.text
    assert "Basic [redacted]" in caplog.text
    assert "hunter22" not in shown and "YWRtaW46aHVudGVyMjI" not in shown


def test_an_unreachable_server_is_named_without_guessing() -> None:
    url = f"http://127.0.0.1:{free_port()}/v1"  # nothing listens there
    generator = OpenAIGenerator(settings_for(url, new_key()))
    with pytest.raises(BackendUnavailable) as caught:
        generator.check()
    assert str(caught.value) == (
        f"could not reach the model server at {url} while listing models: connection refused"
    )


# -- a real `rag serve` in front of the echoing server -------------------------------------


def sse_payloads(text: str) -> list[str]:
    return [line[5:].strip() for line in text.splitlines() if line.startswith("data:")]


@pytest.mark.slow
def test_rag_serve_never_shows_or_logs_the_key(
    tmp_path: Path, seeded_dir: Path, upstream: EchoingUpstream
) -> None:
    key = new_key()
    question = [{"role": "user", "content": TACNA}]
    follow_up = [
        {"role": "user", "content": "Why did Peru declare a state of emergency in Tacna?"},
        {"role": "assistant", "content": "To contain a migration wave."},
        {"role": "user", "content": "And how long will it last?"},  # asks the model to rewrite
    ]
    env = {"RAG_GENERATOR": "openai", "RAG_OPENAI_BASE_URL": upstream.url,
           "RAG_OPENAI_API_KEY": key, "RAG_OPENAI_MAX_RETRIES": "0"}  # fmt: skip
    bodies: list[str] = []
    with (
        rag_server(tmp_path, seeded_dir, ready_path="/healthz", **env) as server,
        httpx.Client(base_url=server.url, timeout=120) as client,
    ):
        ready = settled_readyz(client)
        assert ready.status_code == 503
        assert "HTTP 401 (authentication failed)" in ready.json()["checks"]["generator"]
        bodies.append(ready.text)

        ask = client.post("/api/ask", json={"question": TACNA})
        assert ask.status_code == 503, ask.text
        assert "HTTP 500 (server error)" in ask.json()["error"]["message"]
        bodies.append(ask.text)

        plain = client.post("/v1/chat/completions", json={"model": "m", "messages": follow_up})
        assert plain.status_code == 503, plain.text
        bodies.append(plain.text)

        for midstream in (False, True):
            upstream.midstream = midstream
            chat = client.post("/api/chat", json={"messages": follow_up, "stream": True})
            assert chat.status_code == 200
            assert "event: error" in chat.text and "the model server at" in chat.text
            bodies.append(chat.text)
            streamed = client.post(
                "/v1/chat/completions", json={"model": "m", "messages": question, "stream": True}
            )
            payloads = sse_payloads(streamed.text)
            assert payloads[-1] == "[DONE]"
            assert "error" in json.loads(payloads[-2]), streamed.text
            bodies.append(streamed.text)
    log = server.log.read_text()

    assert len(upstream.authorizations) >= 8
    assert set(upstream.authorizations) == {f"Bearer {key}"}  # the server did get the key
    assert leaks(key, "\n".join(bodies)) == []
    assert leaks(key, log) == []
    assert MASK in log and "its reply, redacted" in log  # the log got its replies, masked
    assert not server.netlog.exists() or server.netlog.read_text() == ""
