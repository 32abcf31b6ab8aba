"""Several `rag serve` workers over one index, through a Chroma server `rag serve` starts.

Real parts throughout: the bundled embedder, `chroma run` over a folder written by the
local `PersistentClient`, uvicorn's worker processes, the network guard. Which worker
answers a request is read from `/proc` (the process holding the server side of the
connection), so the test can ask each worker in turn instead of hoping the kernel
spreads the requests.
"""

import http.client
import json
import signal
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
from conftest import ADMIN_TOKEN, ROOT, SEEDS, free_port, guarded_env

from evals.bench_api import process_tree
from rag.config import load_settings
from rag.errors import BackendUnavailable
from rag.index.chroma_server import ChromaServer, heartbeat
from rag.ingest.documents import parse_article
from rag.service import RagService

pytestmark = pytest.mark.slow

TACNA = "How long will the state of emergency in Tacna last?"
QUESTIONS = [
    TACNA,
    "Who is Peru's interior minister?",
    "How many military personnel were deployed in Tumbes?",
    "Who is the governor of Arica and Parinacota?",
]
PRIZE = "Who won the Zorblax cycling prize?"
PRIZE_ARTICLE = (
    "Zorblax cycling prize awarded in Lima\n\n"
    "LIMA — The Zorblax cycling prize was won by Mariela Quispe on Sunday after a "
    "180-kilometre race through the Andes. Quispe finished four minutes ahead of the field."
)


def cmdline(pid: int) -> str:
    try:
        return Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode()
    except OSError:
        return ""


def gone(pid: int, wait_s: float = 10.0) -> bool:
    """Whether a process has ended (a zombie counts) within `wait_s` seconds."""
    deadline = time.monotonic() + wait_s
    while time.monotonic() < deadline:
        try:
            state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
        except OSError:
            return True
        if state in ("Z", "X"):
            return True
        time.sleep(0.1)
    return False


def socket_owner(server_port: int, client_port: int, pids: list[int]) -> int | None:
    """Which of `pids` holds the server side of the loopback connection from `client_port`."""
    inode = None
    for line in Path("/proc/net/tcp").read_text().splitlines()[1:]:
        fields = line.split()
        local, remote = fields[1].split(":")[1], fields[2].split(":")[1]
        if int(local, 16) == server_port and int(remote, 16) == client_port:
            inode = fields[9]
    for pid in pids:
        for fd in Path(f"/proc/{pid}/fd").iterdir():
            try:
                if fd.readlink().name == f"socket:[{inode}]":
                    return pid
            except OSError:
                continue
    return None


def connection_to(port: int, worker: int, workers: list[int]) -> http.client.HTTPConnection:
    """A kept-alive connection that `worker` accepted (others are opened until one is)."""
    opened: list[http.client.HTTPConnection] = []
    try:
        for _ in range(60):
            conn = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
            opened.append(conn)
            conn.request("GET", "/healthz")  # answered only once a worker has accepted it
            conn.getresponse().read()
            if socket_owner(port, conn.sock.getsockname()[1], workers) == worker:
                opened.remove(conn)
                return conn
        raise AssertionError(f"worker {worker} accepted none of 60 connections")
    finally:
        for other in opened:
            other.close()


def call(conn: http.client.HTTPConnection, method: str, path: str,
         body: dict[str, object], **headers: str) -> tuple[int, dict[str, object]]:  # fmt: skip
    conn.request(method, path, json.dumps(body), {"Content-Type": "application/json", **headers})
    response = conn.getresponse()
    return response.status, json.loads(response.read())


def ask_worker(port: int, worker: int, workers: list[int], question: str) -> dict[str, object]:
    conn = connection_to(port, worker, workers)
    try:
        status, answer = call(conn, "POST", "/api/ask", {"question": question})
    finally:
        conn.close()
    assert status == 200, answer
    return answer


def ask(port: int, question: str) -> tuple[int, dict[str, object]]:
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=120)
    try:
        return call(conn, "POST", "/api/ask", {"question": question})
    finally:
        conn.close()


def wait_ready(proc: subprocess.Popen[bytes], port: int, log: Path) -> None:
    deadline = time.monotonic() + 180
    while True:
        if proc.poll() is not None:
            pytest.fail(f"rag serve exited with {proc.returncode}:\n{log.read_text()}")
        try:
            conn = http.client.HTTPConnection("127.0.0.1", port, timeout=5)
            conn.request("GET", "/readyz")
            if conn.getresponse().status == 200:
                return
        except OSError:
            pass
        finally:
            conn.close()
        if time.monotonic() > deadline:
            pytest.fail(f"rag serve did not become ready:\n{log.read_text()}")
        time.sleep(0.3)


def test_two_workers_share_one_index_and_stop_their_chroma(
    seeded_copy: Path, tmp_path: Path
) -> None:
    port = free_port()
    log, netlog = tmp_path / "server.log", tmp_path / "net.log"
    env = guarded_env(RAG_DATA_DIR=str(seeded_copy), RAG_ADMIN_TOKEN=ADMIN_TOKEN,
                      RAG_GENERATOR="extractive", RAG_NETGUARD_LOG=str(netlog))  # fmt: skip
    env.pop("RAG_CHROMA_HOST", None)
    with log.open("wb") as out:
        proc = subprocess.Popen(
            [sys.executable, "-m", "rag.cli", "serve", "--port", str(port), "--workers", "2"],
            cwd=ROOT, env=env, stdout=out, stderr=subprocess.STDOUT,
        )  # fmt: skip
    try:
        wait_ready(proc, port, log)
        tree = process_tree(proc.pid)
        chroma = [p for p in tree if "rag.index.chroma_server" in cmdline(p)]
        workers = [p for p in tree if "multiprocessing.spawn" in cmdline(p)]
        assert len(chroma) == 1 and len(workers) == 2, [cmdline(p) for p in tree]
        assert f"--path {seeded_copy / 'chroma'} --host 127.0.0.1" in cmdline(chroma[0])

        # Concurrent questions, answered with citations.
        with ThreadPoolExecutor(8) as pool:
            results = list(pool.map(lambda q: ask(port, q), QUESTIONS * 3))
        assert all(status == 200 for status, _ in results), results
        for _, answer in results:
            assert answer["answerable"] and answer["citations"], answer
        assert "60 days" in str(results[0][1]["answer"])

        # Neither worker knows the prize yet (each built its BM25 at start-up).
        for worker in workers:
            before = ask_worker(port, worker, workers, PRIZE)
            assert "Quispe" not in str(before["answer"])

        # Added through the first worker ...
        conn = connection_to(port, workers[0], workers)
        status, added = call(conn, "POST", "/api/documents", {"text": PRIZE_ARTICLE},
                             Authorization=f"Bearer {ADMIN_TOKEN}")  # fmt: skip
        conn.close()
        assert status == 201, added
        doc_id = added["document"]["doc_id"]  # type: ignore[index]

        # ... answerable through both, again and again.
        for _ in range(2):
            for worker in workers:
                answer = ask_worker(port, worker, workers, PRIZE)
                assert "Mariela Quispe" in str(answer["answer"]), (worker, answer)
                citations = answer["citations"]
                assert isinstance(citations, list) and citations[0]["doc_id"] == doc_id
    finally:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(timeout=60)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
    assert proc.returncode == 0, log.read_text()
    assert gone(chroma[0]), f"Chroma server {chroma[0]} outlived rag serve"
    assert all(gone(w) for w in workers)
    assert not netlog.exists() or netlog.read_text() == ""


def test_chroma_server_reads_and_writes_the_local_folder(
    seeded_copy: Path, seeded_service: RagService
) -> None:
    local = load_settings(data_dir=seeded_copy, seeds_dir=SEEDS)
    expected = [d.doc_id for d in RagService(local).documents()]
    with ChromaServer(local.chroma_path) as server:
        remote = load_settings(data_dir=seeded_copy, seeds_dir=SEEDS,
                               chroma_host=server.host, chroma_port=server.port)  # fmt: skip
        service = RagService(remote, embedder=seeded_service.embedder)
        assert [d.doc_id for d in service.documents()] == expected
        answer = service.ask(TACNA)
        assert "60 days" in answer.answer and answer.citations
        outcome, _ = service.add_article(parse_article("prize", PRIZE_ARTICLE))
        assert outcome == "created"
    assert not heartbeat(server.host, server.port)

    # What the server wrote, the local client reads once the server has stopped.
    after = RagService(local, embedder=seeded_service.embedder)
    assert [d.doc_id for d in after.documents()] == sorted([*expected, "prize"])
    assert "Mariela Quispe" in after.ask(PRIZE).answer


def test_chroma_server_ends_when_its_parent_is_killed(seeded_copy: Path) -> None:
    script = (
        "import sys, time\n"
        "from pathlib import Path\n"
        "from rag.index.chroma_server import ChromaServer\n"
        "server = ChromaServer(Path(sys.argv[1]))\n"
        "server.start()\n"
        "print(server.process.pid, server.port, flush=True)\n"
        "time.sleep(300)\n"
    )
    parent = subprocess.Popen(
        [sys.executable, "-c", script, str(seeded_copy / "chroma")],
        cwd=ROOT, env=guarded_env(), stdout=subprocess.PIPE,
    )  # fmt: skip
    assert parent.stdout is not None
    pid, port = (int(x) for x in parent.stdout.readline().split())
    assert heartbeat("127.0.0.1", port)
    parent.kill()  # no chance to stop its child
    parent.wait()
    assert gone(pid), "the Chroma server outlived a killed parent"
    assert not heartbeat("127.0.0.1", port)


def test_a_chroma_server_that_cannot_start_is_reported(tmp_path: Path) -> None:
    import socket

    with socket.socket() as taken:  # bound, not listening: Chroma cannot bind the port
        taken.bind(("127.0.0.1", 0))
        server = ChromaServer(tmp_path / "chroma", port=taken.getsockname()[1],
                              log=tmp_path / "chroma.log")  # fmt: skip
        with pytest.raises(BackendUnavailable, match="did not start") as caught:
            server.start(timeout_s=30)
    assert "chroma.log" in str(caught.value) and server.process is None


def test_machines_with_their_own_data_dir_follow_each_others_writes(
    seeded_copy: Path, seeded_service: RagService, tmp_path: Path
) -> None:
    """Two API machines over one Chroma server, each with its own RAG_DATA_DIR (write
    lock, lexical index): a write on one is answered by the other, which re-indexes only
    the document that changed."""
    local = load_settings(data_dir=seeded_copy, seeds_dir=SEEDS)
    with ChromaServer(local.chroma_path) as server:

        def machine(folder: Path) -> RagService:
            settings = load_settings(data_dir=folder, seeds_dir=SEEDS,
                                     chroma_host=server.host, chroma_port=server.port)  # fmt: skip
            return RagService(settings, embedder=seeded_service.embedder)

        a, b = machine(tmp_path / "a"), machine(tmp_path / "b")
        assert "60 days" in b.ask(TACNA).answer  # b builds its own lexical index from Chroma
        held = b.store.lexical.doc_versions()
        outcome, _ = a.add_article(parse_article("prize", PRIZE_ARTICLE))
        assert outcome == "created"
        assert b.store.lexical.state() != b.store.state()  # b lags until it next looks
        assert "Mariela Quispe" in b.ask(PRIZE).answer
        assert b.store.lexical.doc_versions().keys() - held.keys() == {"prize"}
        assert b.store.lexical.state() == b.store.state()
        a.delete_document("prize")
        assert all(p.doc_id != "prize" for p in b.retrieve(PRIZE))
