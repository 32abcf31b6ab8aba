"""`make bench-api`: HTTP latency and throughput of `rag serve` on 127.0.0.1 over the seeds.

Measures, one request at a time, `POST /api/ask` end to end and, for `POST /api/chat`
with `stream: true`, the time to the first SSE event (`sources`) and to `done`. Then
it loads `/api/ask` with many requests at a fixed concurrency (1,000 at 50 by default)
against three arrangements of the same index: 1 worker over the local store (the
default `rag serve`), 1 worker over a Chroma server, and `rag serve --workers 2` (which
starts its own Chroma server); for each, requests per second, p50/p95/p99 latency,
errors, the cores the server's processes (uvicorn's parent, workers, Chroma) used, and
their resident memory before and after the load. The servers run as subprocesses over
a temporary index; figures vary with machine load, so they are printed, never asserted.
The load client runs on the same machine and takes CPU from the servers. Left out:
other endpoints under load, and memory and CPU figures on systems without `/proc`.
"""

import argparse
import asyncio
import os
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator, Mapping, Sequence
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass
from pathlib import Path

import httpx
from rich.console import Console
from rich.table import Table

from evals.bench import QUESTIONS
from evals.score import percentile
from rag.config import load_settings
from rag.index.chroma_server import ChromaServer
from rag.service import RagService


def _free_port() -> int:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@dataclass
class Served:
    """A running `rag serve`: its URL and the process ids whose memory is its footprint."""

    url: str
    pid: int
    extra_pids: tuple[int, ...] = ()

    def pids(self) -> list[int]:
        """The server, its children (workers, Chroma) and `extra_pids`."""
        return [*process_tree(self.pid), *self.extra_pids]

    def rss_mb(self) -> float:
        """Resident memory of all the server's processes."""
        return sum(_rss_kb(p) for p in self.pids()) / 1024

    def cpu_seconds(self) -> float:
        """CPU time (user + system) all the server's processes have used so far."""
        return sum(_cpu_ticks(p) for p in self.pids()) / os.sysconf("SC_CLK_TCK")


def process_tree(root: int) -> list[int]:
    """`root` and all its descendants, from `/proc` (empty where there is none)."""
    parents: dict[int, list[int]] = {}
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            # pid (comm) state ppid ...; comm may hold spaces, so split after its ')'.
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue  # the process ended meanwhile
        parents.setdefault(int(fields[1]), []).append(int(stat.parent.name))
    found, todo = [], [root]
    while todo:
        pid = todo.pop()
        found.append(pid)
        todo.extend(parents.get(pid, []))
    return found


def _cpu_ticks(pid: int) -> int:
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return 0
    return int(fields[11]) + int(fields[12])  # utime, stime (fields 14 and 15 of stat)


def _rss_kb(pid: int) -> int:
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    except OSError:
        pass
    return 0


@contextmanager
def served(
    data: Path,
    *,
    workers: int = 1,
    chroma: ChromaServer | None = None,
    command: Sequence[str] = ("-m", "rag.cli"),
    env: Mapping[str, str] | None = None,
) -> Iterator[Served]:
    """`rag serve --workers N` over a data folder on a free loopback port, once ready.

    With `chroma`, the server uses that Chroma server (`RAG_CHROMA_HOST`) instead of
    the folder; with more than one worker and no `chroma`, it starts its own. `command`
    is what Python runs to reach `rag` (another entry point may register backends
    first); `env` adds variables.
    """
    port = _free_port()
    variables = {**os.environ, "RAG_DATA_DIR": str(data), **(env or {})}
    if chroma is not None:
        variables.update(chroma.env())
    proc = subprocess.Popen(
        [sys.executable, *command, "serve", "--port", str(port), "--workers", str(workers)],
        env=variables, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )  # fmt: skip
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 180
        while True:
            try:
                if httpx.get(f"{url}/readyz", timeout=5).status_code == 200:
                    break
            except httpx.TransportError:
                pass
            if proc.poll() is not None or time.monotonic() > deadline:
                raise SystemExit("rag serve did not start")
            time.sleep(0.2)
        chroma_pids = (chroma.process.pid,) if chroma and chroma.process else ()
        yield Served(url, proc.pid, chroma_pids)
    finally:
        proc.terminate()
        proc.wait(timeout=30)


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


@dataclass
class Load:
    """The outcome of one load run: latencies of the answered requests, errors, wall time."""

    latencies_ms: list[float]
    errors: int
    seconds: float

    @property
    def rate(self) -> float:
        """Answered requests per second."""
        return len(self.latencies_ms) / self.seconds if self.seconds else 0.0


async def _load(url: str, questions: list[str], requests: int, concurrency: int) -> Load:
    # A new connection per request, as from many separate clients: uvicorn's workers share
    # one listening socket, and a worker that accepts a kept-alive connection keeps it.
    limits = httpx.Limits(max_connections=concurrency, max_keepalive_connections=0)
    latencies: list[float] = []
    errors = 0
    issued = 0

    async def client_loop(client: httpx.AsyncClient) -> None:
        nonlocal errors, issued
        while issued < requests:
            question = questions[issued % len(questions)]
            issued += 1
            started = time.perf_counter()
            try:
                response = await client.post("/api/ask", json={"question": question})
                ok = response.status_code == 200 and "answer" in response.json()
            except httpx.HTTPError:
                ok = False
            if ok:
                latencies.append((time.perf_counter() - started) * 1000)
            else:
                errors += 1

    async with httpx.AsyncClient(base_url=url, timeout=300, limits=limits) as client:
        started = time.perf_counter()
        await asyncio.gather(*(client_loop(client) for _ in range(concurrency)))
        seconds = time.perf_counter() - started
    return Load(latencies, errors, seconds)


def load_table(data: Path, requests: int, concurrency: int) -> Table:
    """Throughput of `/api/ask` under concurrent load, 1 and 2 workers side by side."""
    table = Table(
        title=f"POST /api/ask under load: {requests} requests, {concurrency} concurrent",
        caption=f"{os.cpu_count()} CPUs, load average {os.getloadavg()[0]:.1f} at the start; "
        "cores: CPU time of all server processes (uvicorn, workers, Chroma) over wall time; "
        "RSS: their resident memory",
    )
    for column in ("arrangement", "req/s", "p50 ms", "p95 ms", "p99 ms", "errors", "cores",
                   "RSS before MB", "RSS after MB"):  # fmt: skip
        table.add_column(column, justify="left" if column == "arrangement" else "right")
    arrangements = (("1 worker, local store", 1, False),
                    ("1 worker, Chroma server", 1, True),
                    ("2 workers, Chroma server", 2, False))  # fmt: skip
    for name, workers, own_chroma in arrangements:
        with ExitStack() as stack:
            chroma = None
            if own_chroma:
                chroma = stack.enter_context(ChromaServer(data / "chroma"))
            server = stack.enter_context(served(data, workers=workers, chroma=chroma))
            # Warm-up: every worker's first questions pay one-off costs.
            asyncio.run(_load(server.url, QUESTIONS, 4 * concurrency, concurrency))
            before, cpu = server.rss_mb(), server.cpu_seconds()
            load = asyncio.run(_load(server.url, QUESTIONS, requests, concurrency))
            after, cores = server.rss_mb(), (server.cpu_seconds() - cpu) / load.seconds
        values = load.latencies_ms
        latency = [f"{percentile(values, q):.0f}" for q in (50, 95, 99)]
        table.add_row(name, f"{load.rate:.1f}", *latency, str(load.errors), f"{cores:.2f}",
                      f"{before:.0f}", f"{after:.0f}")  # fmt: skip
    return table


def main() -> None:
    """Print latency figures for the seeds, then throughput for 1 and 2 workers."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=5, help="passes over the questions")
    parser.add_argument("--seeds", type=Path, default=Path("seeds"))
    parser.add_argument("--requests", type=int, default=1000, help="requests per load run")
    parser.add_argument("--concurrency", type=int, default=50, help="requests in flight")
    args = parser.parse_args()
    console = Console(width=120)
    with tempfile.TemporaryDirectory() as tmp:
        data = Path(tmp) / "data"
        RagService(load_settings(data_dir=data)).ingest_folder(args.seeds)
        with served(data) as server, httpx.Client(base_url=server.url, timeout=120) as client:
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
        if args.requests > 0:
            console.print(load_table(data, args.requests, args.concurrency))


if __name__ == "__main__":
    main()
