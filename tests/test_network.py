"""Nothing leaves the machine: the guard works, and ingest and ask never trip it."""

import socket
from collections.abc import Callable

import netguard
import pytest
from conftest import SEEDS

from rag.config import Settings
from rag.service import RagService


def test_guard_blocks_and_records_outside_connections() -> None:
    before = len(netguard.ATTEMPTS)
    with socket.socket() as s, pytest.raises(netguard.NetworkBlocked):
        s.connect(("192.0.2.1", 443))  # TEST-NET-1, never routed
    with pytest.raises(netguard.NetworkBlocked):
        socket.getaddrinfo("example.com", 443)
    assert len(netguard.ATTEMPTS) == before + 2
    del netguard.ATTEMPTS[before:]


def test_guard_allows_loopback() -> None:
    with socket.socket() as server:
        server.bind(("127.0.0.1", 0))
        server.listen(1)
        with socket.create_connection(server.getsockname(), timeout=5):
            pass


def test_ingest_and_ask_open_no_outside_connection(make_settings: Callable[..., Settings]) -> None:
    before = list(netguard.ATTEMPTS)
    service = RagService(make_settings())  # real embedder, real persistent Chroma
    service.ingest_folder(SEEDS)
    service.ask("How long will the state of emergency in Tacna last?")
    service.ask("What is the capital of France?")
    assert before == netguard.ATTEMPTS
