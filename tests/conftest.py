"""Shared fixtures: settings in temp folders, a seeded real index, the network guard."""

import os
import shutil
import socket
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import netguard
import pytest

ROOT = Path(__file__).resolve().parent.parent
SEEDS = ROOT / "seeds"
NETGUARD_DIR = Path(netguard.__file__).resolve().parent
ARTIFACTS = ROOT / "test-artifacts"

netguard.install()

from rag.config import Settings, load_settings  # noqa: E402
from rag.service import RagService  # noqa: E402


def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    if netguard.ATTEMPTS:
        print(f"\nnetwork guard blocked: {netguard.ATTEMPTS}")


@pytest.fixture
def make_settings(tmp_path: Path) -> Callable[..., Settings]:
    """Settings whose data folder is a fresh temp dir; keyword arguments override fields."""

    def factory(**overrides: object) -> Settings:
        values: dict[str, object] = {"data_dir": tmp_path / "data", "seeds_dir": SEEDS}
        values.update(overrides)
        return load_settings(**values)

    return factory


@pytest.fixture(scope="session")
def seeded_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A data folder with `seeds/` ingested through the real embedder and Chroma."""
    data = tmp_path_factory.mktemp("seeded")
    RagService(load_settings(data_dir=data, seeds_dir=SEEDS)).ingest_folder(SEEDS)
    return data


@pytest.fixture(scope="session")
def seeded_service(seeded_dir: Path) -> RagService:
    """A read-only service over the seeded index (do not write through it)."""
    return RagService(load_settings(data_dir=seeded_dir, seeds_dir=SEEDS))


@pytest.fixture
def seeded_copy(tmp_path: Path, seeded_dir: Path) -> Path:
    """A private, writable copy of the seeded data folder."""
    target = tmp_path / "seeded"
    shutil.copytree(seeded_dir, target)
    return target


# TestClient's default host ("testserver") is not one the app answers to (RAG_ALLOWED_HOSTS).
LOCAL = "http://127.0.0.1"


def settled_readyz(client: Any) -> Any:
    """`GET /readyz` once the app's warm-up is over (503 `warming_up` until then).

    `client` is a TestClient or an httpx.Client with the server's base URL.
    """
    import time

    for _ in range(1200):
        response = client.get("/readyz")
        if response.json()["status"] != "warming_up":
            return response
        time.sleep(0.1)
    raise AssertionError("the app did not finish warming up")


def free_port() -> int:
    """A TCP port on 127.0.0.1 that is free right now."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def guarded_env(**extra: str) -> dict[str, str]:
    """Environment for a subprocess that installs the network guard and stays offline."""
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join([str(NETGUARD_DIR), str(ROOT)])
    env.update(extra)
    return env


@pytest.fixture
def artifacts() -> Iterator[Path]:
    """Folder for screenshots and other files a person may want to look at."""
    ARTIFACTS.mkdir(exist_ok=True)
    yield ARTIFACTS


ADMIN_TOKEN = "test-admin-token"


@dataclass
class LiveServer:
    """A `rag serve` subprocess on 127.0.0.1 over its own copy of the seeded index."""

    url: str
    token: str
    log: Path
    netlog: Path


@contextmanager
def rag_server(
    folder: Path, seeded_dir: Path, ready_path: str = "/readyz", **env: str
) -> Iterator[LiveServer]:
    """`rag serve` on a free port over a copy of the seeded index, with the network guard.

    `env` adds `RAG_*` variables; the server counts as started once `ready_path` answers
    200. Its stdout and stderr go to `LiveServer.log`, complete once the block has exited.
    """
    import subprocess
    import sys
    import time
    import urllib.request

    data = folder / "data"
    shutil.copytree(seeded_dir, data)
    port = free_port()
    log, netlog = folder / "server.log", folder / "net.log"
    defaults = {"RAG_DATA_DIR": str(data), "RAG_ADMIN_TOKEN": ADMIN_TOKEN,
                "RAG_GENERATOR": "extractive", "RAG_NETGUARD_LOG": str(netlog)}  # fmt: skip
    env = guarded_env(**{**defaults, **env})
    with log.open("wb") as out:
        proc = subprocess.Popen(
            [sys.executable, "-m", "rag.cli", "serve", "--port", str(port)],
            cwd=ROOT, env=env, stdout=out, stderr=subprocess.STDOUT,
        )  # fmt: skip
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 120
    try:
        while True:
            if proc.poll() is not None:
                pytest.fail(f"rag serve exited with {proc.returncode}:\n{log.read_text()}")
            try:
                with urllib.request.urlopen(f"{url}{ready_path}", timeout=5) as resp:
                    if resp.status == 200:
                        break
            except OSError:
                pass
            if time.monotonic() > deadline:
                pytest.fail(f"rag serve did not become ready:\n{log.read_text()}")
            time.sleep(0.2)
        yield LiveServer(url, ADMIN_TOKEN, log, netlog)
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=15)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


@pytest.fixture(scope="session")
def live_server(tmp_path_factory: pytest.TempPathFactory, seeded_dir: Path) -> Iterator[LiveServer]:
    """`rag serve` with the extractive generator; stopped after the session."""
    with rag_server(tmp_path_factory.mktemp("server"), seeded_dir) as server:
        yield server


@pytest.fixture
def admin(seeded_copy: Path, seeded_service: RagService) -> Iterator[Any]:
    """A TestClient over a writable copy of the seeded index whose app has ADMIN_TOKEN."""
    from fastapi.testclient import TestClient

    from api.main import create_app

    settings = load_settings(data_dir=seeded_copy, seeds_dir=SEEDS, admin_token=ADMIN_TOKEN)
    service = RagService(settings, embedder=seeded_service.embedder)
    with TestClient(create_app(service=service), base_url=LOCAL) as client:
        yield client


@contextmanager
def thread_server(service: RagService) -> Iterator[str]:
    """uvicorn in a thread on 127.0.0.1 over `service` (for fakes a subprocess cannot hold);
    yields its URL and stops it after the block."""
    import threading
    import time

    import uvicorn

    from api.main import create_app

    port = free_port()
    config = uvicorn.Config(create_app(service=service), host="127.0.0.1", port=port,
                            log_level="warning")  # fmt: skip
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 60
    while not server.started:
        assert thread.is_alive() and time.monotonic() < deadline, "uvicorn did not start"
        time.sleep(0.05)
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        thread.join(timeout=10)
