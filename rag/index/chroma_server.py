"""A Chroma server over the local data folder, run as a child process of `rag serve`.

`rag serve --workers N` runs N processes over one index. A local `PersistentClient` is
one process's database (its SQLite file and HNSW segments are not safe for several
writers, and each client keeps its own in-memory view), so the folder is served instead
by Chroma's own server: `chroma run --path`, the Rust server bundled in the `chromadb`
wheel, which reads and writes the folder format `PersistentClient` uses. The workers
reach it as `RAG_CHROMA_HOST`/`RAG_CHROMA_PORT` over loopback HTTP, so every write any
of them makes is seen by all, and the folder stays usable by the local client once the
server has stopped.

The server listens on 127.0.0.1 only, in its own session (a Ctrl-C in the terminal
reaches `rag serve`, which stops the server after its workers), and on Linux it is
also told to exit if `rag serve` dies without stopping it. The Rust server has no
usage telemetry; `ANONYMIZED_TELEMETRY=False` is still set in its environment.

Left out: authentication and TLS (loopback only), restarting a crashed server (the
workers then answer 503 until `rag serve` is restarted), and guarding the folder
against a `rag ingest` that opens it directly while the server runs (point that at the
server with `RAG_CHROMA_HOST`/`RAG_CHROMA_PORT` instead).
"""

import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path
from types import TracebackType
from typing import IO, Self

from rag.errors import BackendUnavailable

HOST = "127.0.0.1"
_PR_SET_PDEATHSIG = 1  # <linux/prctl.h>


def free_port(host: str = HOST) -> int:
    """A TCP port on `host` that is free right now."""
    with socket.socket() as s:
        s.bind((host, 0))
        return int(s.getsockname()[1])


def heartbeat(host: str, port: int) -> bool:
    """Whether a Chroma server answers its heartbeat at host:port."""
    import chromadb
    from chromadb.config import Settings as ChromaSettings

    try:
        client = chromadb.HttpClient(
            host=host, port=port, settings=ChromaSettings(anonymized_telemetry=False)
        )
        client.heartbeat()
    except Exception:  # chromadb raises assorted errors while a server is starting
        return False
    return True


class ChromaServer:
    """`chroma run` over one folder on a free loopback port; a context manager."""

    def __init__(self, path: Path, *, log: Path | None = None, port: int | None = None) -> None:
        self.path = path
        self.log = log
        self.host = HOST
        self.port = port or free_port()
        self.process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"http://{self.host}:{self.port}"

    def env(self) -> dict[str, str]:
        """The variables that point `Settings` (and so every worker) at this server."""
        return {"RAG_CHROMA_HOST": self.host, "RAG_CHROMA_PORT": str(self.port)}

    def start(self, timeout_s: float = 60.0) -> None:
        """Start the server and return once its heartbeat answers; `BackendUnavailable` if not."""
        self.path.mkdir(parents=True, exist_ok=True)
        command = [
            *(sys.executable, "-m", "rag.index.chroma_server", str(os.getpid())),
            *("run", "--path", str(self.path), "--host", self.host, "--port", str(self.port)),
        ]
        env = {**os.environ, "ANONYMIZED_TELEMETRY": "False"}
        out: IO[bytes] | int = self.log.open("ab") if self.log else subprocess.DEVNULL
        try:
            self.process = subprocess.Popen(
                command, env=env, stdin=subprocess.DEVNULL, stdout=out, stderr=subprocess.STDOUT,
                start_new_session=True,
            )  # fmt: skip
        finally:
            if not isinstance(out, int):
                out.close()  # the child holds its own copy
        deadline = time.monotonic() + timeout_s
        while not heartbeat(self.host, self.port):
            code = self.process.poll()
            if code is not None or time.monotonic() > deadline:
                self.stop()
                why = f"exited with {code}" if code is not None else f"no answer in {timeout_s:g}s"
                where = f"; its log is {self.log}" if self.log else ""
                raise BackendUnavailable(
                    f"the Chroma server for {self.path} did not start on {self.url} ({why}){where}"
                )
            time.sleep(0.1)

    def stop(self, timeout_s: float = 15.0) -> None:
        """Stop the server (SIGTERM, then SIGKILL after `timeout_s`) and reap it."""
        if self.process is None:
            return
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=timeout_s)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        self.process = None

    def __enter__(self) -> Self:
        self.start()
        return self

    def __exit__(
        self,
        kind: type[BaseException] | None,
        value: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.stop()


def _die_with(parent: int) -> None:
    """Ask Linux to send this process SIGTERM when its parent dies (elsewhere: no-op)."""
    if sys.platform != "linux":
        return
    import ctypes

    ctypes.CDLL(None, use_errno=True).prctl(_PR_SET_PDEATHSIG, int(signal.SIGTERM))
    if os.getppid() != parent:  # the parent died before the request took effect
        sys.exit(1)


def _main(argv: list[str]) -> None:
    """`python -m rag.index.chroma_server PARENT_PID run ...`: Chroma's CLI, tied to its parent.

    The `chroma` console script calls the same function through `chromadb.cli`, which
    also imports the whole Python client; the server needs only the Rust bindings.
    """
    _die_with(int(argv[0]))
    import chromadb_rust_bindings

    chromadb_rust_bindings.cli(["chroma", *argv[1:]])


if __name__ == "__main__":
    _main(sys.argv[1:])
