"""`make bench-api`: HTTP latency of `rag serve` on 127.0.0.1 over the seeds.

Measures `POST /api/ask` end to end and, for `POST /api/chat` with `stream: true`,
the time to the first SSE event (`sources`) and to `done`. The server runs as a
subprocess over a temporary index; figures vary with machine load, so they are
printed, never asserted. Left out: concurrent load (one client, one request at a time).
"""

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx
from rich.console import Console
from rich.table import Table

from evals.bench import QUESTIONS
from evals.score import percentile
from rag.config import load_settings
from rag.service import RagService


def _free_port() -> int:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@contextmanager
def served(data: Path) -> Iterator[str]:
    """`rag serve` over a data folder on a free loopback port; yields its URL."""
    port = _free_port()
    env = {**os.environ, "RAG_DATA_DIR": str(data)}
    proc = subprocess.Popen(
        [sys.executable, "-m", "rag.cli", "serve", "--port", str(port)],
        env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )  # fmt: skip
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 120
        while True:
            try:
                if httpx.get(f"{url}/readyz", timeout=5).status_code == 200:
                    break
            except httpx.TransportError:
                pass
            if proc.poll() is not None or time.monotonic() > deadline:
                raise SystemExit("rag serve did not start")
            time.sleep(0.2)
        yield url
    finally:
        proc.terminate()
        proc.wait(timeout=15)


def time_ask(client: httpx.Client, question: str) -> float:
    """Milliseconds for one `POST /api/ask`."""
    started = time.perf_counter()
    client.post("/api/ask", json={"question": question}).raise_for_status()
    return (time.perf_counter() - started) * 1000


def time_stream(client: httpx.Client, question: str) -> tuple[float, float]:
    """Milliseconds to the end of the first SSE event and to the end of the stream."""
    body = {"messages": [{"role": "user", "content": question}], "stream": True}
    started = time.perf_counter()
    first = 0.0
    with client.stream("POST", "/api/chat", json=body) as response:
        response.raise_for_status()
        buffered = b""
        for piece in response.iter_raw():
            buffered += piece
            if not first and b"\n\n" in buffered:
                first = (time.perf_counter() - started) * 1000
    return first, (time.perf_counter() - started) * 1000


def main() -> None:
    """Print latency figures for the seeds."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=5, help="passes over the questions")
    parser.add_argument("--seeds", type=Path, default=Path("seeds"))
    args = parser.parse_args()
    console = Console()
    with tempfile.TemporaryDirectory() as tmp:
        data = Path(tmp) / "data"
        RagService(load_settings(data_dir=data)).ingest_folder(args.seeds)
        with served(data) as url, httpx.Client(base_url=url, timeout=120) as client:
            time_ask(client, QUESTIONS[0])  # warm-up: first-use costs are not latency
            asks, firsts, dones = [], [], []
            for _ in range(args.rounds):
                for question in QUESTIONS:
                    asks.append(time_ask(client, question))
                    first, done = time_stream(client, question)
                    firsts.append(first)
                    dones.append(done)
    table = Table(title=f"HTTP latency on 127.0.0.1, {len(asks)} requests each (ms)")
    for column in ("measure", "median", "p90", "max"):
        table.add_column(column, justify="right" if column != "measure" else "left")
    for name, values in (("POST /api/ask", asks), ("SSE first event (sources)", firsts),
                         ("SSE done", dones)):  # fmt: skip
        table.add_row(name, f"{statistics.median(values):.1f}",
                      f"{percentile(values, 90):.1f}", f"{max(values):.1f}")  # fmt: skip
    console.print(table)


if __name__ == "__main__":
    main()
