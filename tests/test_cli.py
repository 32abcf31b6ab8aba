"""The `rag` command as a user runs it: a subprocess, a temp data folder, the network guard."""

import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from conftest import ROOT, SEEDS, guarded_env

from rag.ingest.documents import load_article


def rag(*args: str, data: Path, log: Path | None = None) -> subprocess.CompletedProcess[str]:
    extra = {"RAG_DATA_DIR": str(data)}
    if log:
        extra["RAG_NETGUARD_LOG"] = str(log)
    return subprocess.run(
        [sys.executable, "-m", "rag.cli", *args],
        cwd=ROOT, env=guarded_env(**extra), capture_output=True, text=True, timeout=300,
    )  # fmt: skip


@pytest.fixture(scope="module")
def cli_data(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("cli")


def test_ingest_ask_reingest_offline(cli_data: Path, tmp_path: Path) -> None:
    log = tmp_path / "net.log"
    first = rag("ingest", str(SEEDS), "--json", data=cli_data, log=log)
    assert first.returncode == 0, first.stderr
    report = json.loads(first.stdout)
    assert report["created"] == 5 and report["chunks_written"] > 5

    asked = rag("ask", "How long will the state of emergency in Tacna last?", "--json",
                data=cli_data, log=log)  # fmt: skip
    assert asked.returncode == 0, asked.stderr
    answer = json.loads(asked.stdout)
    assert answer["answerable"] is True and "60 days" in answer["answer"]
    assert 0 < answer["confidence"] <= 1  # the reader's fitted scorer
    assert set(answer) >= {"answer", "answerable", "citations", "retrieval_query",
                           "timings_ms", "generator"}  # fmt: skip
    keys = {"n", "chunk_id", "doc_id", "title", "published", "outlet", "char_start",
            "char_end", "quote", "score", "supported", "answer_start",
            "answer_end", "page", "url", "author"}  # fmt: skip
    citation = answer["citations"][0]
    assert set(citation) == keys
    assert citation["doc_id"][:3] in {"003", "004"} and "60 days" in citation["quote"]
    text = (SEEDS / f"{citation['doc_id']}.txt").read_text(encoding="utf-8")
    assert citation["quote"] in text

    again = rag("ingest", str(SEEDS), "--json", data=cli_data, log=log)
    assert json.loads(again.stdout)["unchanged"] == 5
    docs = json.loads(rag("documents", "--json", data=cli_data).stdout)
    assert [d["doc_id"][:3] for d in docs] == ["000", "001", "002", "003", "004"]
    assert sum(d["chunk_count"] for d in docs) == report["chunks_written"]
    # The guard in the subprocesses recorded no attempt to leave the machine.
    assert not log.exists() or log.read_text() == ""


def test_plain_output_shows_citations(cli_data: Path) -> None:
    rag("ingest", str(SEEDS), data=cli_data)
    out = rag("ask", "Who is Peru's interior minister?", data=cli_data)
    assert out.returncode == 0
    assert "Vicente Tiburcio" in out.stdout and "[1]" in out.stdout
    assert re.search(r"^\((unsure \()?confidence \d+%", out.stdout, re.M), out.stdout


def test_bad_input_exit_codes(tmp_path: Path) -> None:
    data = tmp_path / "data"
    empty = tmp_path / "empty"
    empty.mkdir()
    out = rag("ingest", str(empty), data=data)
    assert out.returncode == 2 and "no .txt or .md files" in out.stderr
    out = rag("ingest", str(tmp_path / "missing"), data=data)
    assert out.returncode == 2 and "folder not found" in out.stderr
    out = rag("ask", "Anything?", data=data)
    assert out.returncode == 2 and "rag ingest" in out.stderr
    out = rag("ask", "   ", data=data)
    assert out.returncode == 2 and "empty" in out.stderr
    out = rag("ask", "x", "--from", "yesterday", data=data)
    assert out.returncode == 2 and "YYYY-MM-DD" in out.stderr
    assert "Traceback" not in out.stderr


def test_bad_files_are_reported_and_others_ingested(tmp_path: Path) -> None:
    folder = tmp_path / "articles"
    shutil.copytree(SEEDS, folder)
    (folder / "scan.txt").write_bytes(b"%PDF\x00\x01")
    story = load_article(SEEDS / "000_24eb7c9a55d07d77.txt").text
    (folder / "big.txt").write_text("\n\n".join([story] * (200_000 // len(story) + 1)))
    out = rag("ingest", str(folder), data=tmp_path / "data")
    assert out.returncode == 0
    assert "skipped scan.txt" in out.stderr and "5 created, 0 updated" in out.stdout
    assert "2 skipped" in out.stdout
    skipped = [line for line in out.stderr.splitlines() if line.startswith("skipped big.txt: ")]
    assert len(skipped) == 1
    assert "the limit is 200,000 (RAG_MAX_ARTICLE_CHARS)" in skipped[0]


def test_bad_configuration_is_named(tmp_path: Path) -> None:
    out = subprocess.run(
        [sys.executable, "-m", "rag.cli", "documents"], cwd=ROOT, capture_output=True, text=True,
        env=guarded_env(RAG_DATA_DIR=str(tmp_path), RAG_CHUNK_SIZE="lots"),
    )  # fmt: skip
    assert out.returncode == 4 and "RAG_CHUNK_SIZE" in out.stderr


def test_serve_needs_a_worker(capsys: pytest.CaptureFixture[str]) -> None:
    from rag.cli import main

    assert main(["serve", "--workers", "0"]) == 2
    assert "--workers must be at least 1" in capsys.readouterr().err


def test_make_run_takes_a_port_and_host_from_the_command_line_only() -> None:
    # Not the `make` running this suite: its MAKEFLAGS would be passed on.
    clean = {k: v for k, v in os.environ.items() if k not in ("MAKEFLAGS", "MFLAGS", "MAKELEVEL")}

    def dry_run(*args: str, env: dict[str, str] = clean) -> str:
        done = subprocess.run(["make", "--no-print-directory", "-n", "run", *args], cwd=ROOT,
                              capture_output=True, text=True, env=env, check=True)  # fmt: skip
        (serve,) = [line for line in done.stdout.splitlines() if "rag serve" in line]
        return serve

    assert dry_run().endswith("rag serve --host 127.0.0.1 --port 8000")
    assert dry_run("PORT=8765", "HOST=0.0.0.0").endswith("--host 0.0.0.0 --port 8765")
    exported = {**clean, "HOST": "build-box", "PORT": "5000"}  # zsh exports HOST
    assert dry_run(env=exported).endswith("--host 127.0.0.1 --port 8000")
