"""Imports point one way: api and evals use rag; rag never imports them or fastapi."""

import ast
from pathlib import Path

from conftest import ROOT

FORBIDDEN_IN_RAG = ("api", "evals", "fastapi", "starlette", "uvicorn")


def imported_modules(path: Path) -> set[str]:
    tree = ast.parse(path.read_text(encoding="utf-8"))
    found: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found |= {alias.name for alias in node.names}
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            found.add(node.module)
    return found


def test_rag_imports_neither_its_edges_nor_the_web_framework() -> None:
    offenders = {
        str(path.relative_to(ROOT)): sorted(
            m for m in imported_modules(path) if m.split(".")[0] in FORBIDDEN_IN_RAG
        )
        for path in sorted((ROOT / "rag").rglob("*.py"))
    }
    assert {k: v for k, v in offenders.items() if v} == {}


def test_api_does_not_import_evals() -> None:
    for path in sorted((ROOT / "api").rglob("*.py")):
        assert not any(m.split(".")[0] == "evals" for m in imported_modules(path)), path
