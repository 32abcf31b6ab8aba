"""The HTTP protocol `rag serve` runs: uvicorn's h11 with a deadline for request headers.

uvicorn bounds idle keep-alive connections (`timeout_keep_alive`) but not a client that
opens a connection and sends its headers slowly or never: each such socket is held
forever. `BoundedH11Protocol` closes a connection that has not delivered a complete
request head within `RAG_CLIENT_TIMEOUT_S` of connecting or of its previous response.
h11 (not httptools) also bounds the head's size (`h11_max_incomplete_event_size`,
from `RAG_MAX_HEADER_BYTES`), answering 400 and closing.
"""

import asyncio
from typing import Any

from uvicorn.protocols.http.h11_impl import H11Protocol

from rag.config import get_settings


class BoundedH11Protocol(H11Protocol):
    """H11Protocol whose connections must send a request head within a deadline."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.head_timeout = get_settings().client_timeout_s
        self._head_deadline: asyncio.TimerHandle | None = None

    def _arm(self) -> None:
        self._disarm()
        self._head_deadline = self.loop.call_later(self.head_timeout, self._head_timed_out)

    def _disarm(self) -> None:
        if self._head_deadline is not None:
            self._head_deadline.cancel()
            self._head_deadline = None

    def _head_timed_out(self) -> None:
        self._head_deadline = None
        waiting = self.cycle is None or self.cycle.response_complete
        if waiting and not self.transport.is_closing():
            self.transport.close()

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        super().connection_made(transport)
        self._arm()

    def connection_lost(self, exc: Exception | None) -> None:
        self._disarm()
        super().connection_lost(exc)

    def handle_events(self) -> None:
        cycle = self.cycle
        super().handle_events()
        if self.cycle is not cycle:  # a request head arrived
            self._disarm()

    def on_response_complete(self) -> None:
        super().on_response_complete()
        if not self.transport.is_closing():
            self._arm()  # the next request on this keep-alive connection gets a deadline too
