# vidseek: the two commands a new user needs are `make serve LIBRARY=...` and `make test`.
PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
INDEX_DIR ?= vidseek-index
MODEL ?= ViT-B-32
PRETRAINED ?= openai
HOST ?= 127.0.0.1
PORT ?= 8000
# torch and torchvision are pinned to the builds this project is tested with.
TORCH_PINS := torch==2.14.1 torchvision==0.29.1

.PHONY: help setup serve index test lint clean bench-index bench-query bench-ann bench-finetune

help:
	@echo "make serve LIBRARY=/path/to/videos [MODEL=ViT-B-32 PRETRAINED=openai|/path/weights.pt]  index + serve on http://$(HOST):$(PORT)/"
	@echo "make test                                                                            set up and run the test suite"

$(VENV)/.installed: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q $(TORCH_PINS)
	$(PY) -m pip install -q -e '.[test]'
	touch $@

setup: $(VENV)/.installed

index: setup
	@test -n "$(LIBRARY)" || { echo "usage: make index LIBRARY=/path/to/videos [MODEL=... PRETRAINED=...]"; exit 2; }
	$(VENV)/bin/vidseek index build "$(LIBRARY)" --index-dir "$(INDEX_DIR)" --model "$(MODEL)" --pretrained "$(PRETRAINED)"

serve: index
	$(VENV)/bin/vidseek serve --index-dir "$(INDEX_DIR)" --host "$(HOST)" --port "$(PORT)"

test: setup
	HF_HUB_OFFLINE=1 $(PY) -m pytest $(PYTEST_ARGS)

lint: setup
	$(VENV)/bin/ruff check app indexer models tests benchmarks
	$(VENV)/bin/lint-imports

# Benchmarks print a table of ratios measured in one run, then one line of JSON.
bench-index: setup
	HF_HUB_OFFLINE=1 $(PY) benchmarks/bench_index.py $(BENCH_ARGS)

bench-query: setup
	HF_HUB_OFFLINE=1 $(PY) benchmarks/bench_query.py $(BENCH_ARGS)

bench-ann: setup
	HF_HUB_OFFLINE=1 $(PY) benchmarks/bench_ann.py $(BENCH_ARGS)

bench-finetune: setup
	HF_HUB_OFFLINE=1 $(PY) benchmarks/bench_finetune.py $(BENCH_ARGS)

clean:
	rm -rf $(VENV) build *.egg-info .pytest_cache tests/artifacts
