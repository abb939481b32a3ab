# Entry points. `make run` and `make test` install first when needed.
SHELL := /bin/bash
VENV ?= .venv
PY := $(VENV)/bin/python
# Python 3.10 is required by tfx 1.16 (tfx 1.16's python_requires); find it on a fresh machine.
# (pyenv's `python3.10` shim exists even where it cannot run, so each candidate is tried.)
PYTHON310 ?= $(shell for p in $$(ls -d $(HOME)/.pyenv/versions/3.10.*/bin/python3.10 2>/dev/null | sort -rV) \
	$$(command -v python3.10); do "$$p" -c 'import sys; assert sys.version_info[:2] == (3, 10)' \
	2>/dev/null && { echo "$$p"; break; }; done)
STAMP := $(VENV)/.installed
DEMO_DIR ?= demo_data
export TF_USE_LEGACY_KERAS := 1

.PHONY: install run test test-fast bench bench-demo lint demo-data clean image

install: $(STAMP)

$(STAMP): requirements/lock.txt requirements/base.txt requirements/dev.txt pyproject.toml
	@if [ -z "$(PYTHON310)" ]; then echo "error: Python 3.10 not found (tried python3.10 and ~/.pyenv/versions/3.10.*); install it, or pass PYTHON310=/path/to/python3.10" >&2; exit 1; fi
	@echo "installing into $(VENV) with $(PYTHON310) (pinned stack, a few minutes on a fresh machine)"
	@[ -x $(PY) ] || $(PYTHON310) -m venv $(VENV)
	@set -o pipefail; $(PY) -m pip install -q --disable-pip-version-check \
	    -c requirements/lock.txt -r requirements/base.txt -r requirements/dev.txt 2>&1 \
	    | { grep -Ev "is ignored: it is neither a file nor a directory|^ *DEPRECATION:" || true; }
	@set -o pipefail; $(PY) -m pip install -q --disable-pip-version-check --no-deps --no-build-isolation -e . 2>&1 \
	    | { grep -Ev "is ignored: it is neither a file nor a directory|^ *DEPRECATION:" || true; }
	@touch $(STAMP)

demo-data: install $(DEMO_DIR)/UCF101_videos.zip

# Written again when pipeline/demo_data.py (what the demo data is) is newer than it, so a
# checkout whose demo data changed does not go on training on the old one.
$(DEMO_DIR)/UCF101_videos.zip: pipeline/demo_data.py | $(STAMP)
	@$(PY) -m pipeline demo-data --out $(DEMO_DIR)

# The whole pipeline on the demo data (config: configs/demo.yaml, which reads demo_data/);
# RUN_ARGS passes more, e.g. make run RUN_ARGS="--set trainer.epochs=5".
run: demo-data
	@$(PY) -m pipeline run --config configs/demo.yaml $(RUN_ARGS)

# The suite on TEST_WORKERS processes (pytest-xdist): a test file, or a group of files
# sharing a session fixture (xdist_group, tests/conftest.py), runs on one worker.
TEST_WORKERS ?= 2
PYTEST_ARGS := -q -n $(TEST_WORKERS) --dist loadgroup

test: install
	$(PY) -m pytest $(PYTEST_ARGS) tests

test-fast: install
	$(PY) -m pytest $(PYTEST_ARGS) -m "not slow" tests

bench: install
	$(PY) -m bench.ingest
	$(PY) -m bench.backbone
	$(PY) -m bench.finetune
	$(PY) -m bench.stream

# The demo's trainer over 10 seeds (README "Reproducible and reliable"); ~50 min on
# 2 cores, so not part of `make bench`.
bench-demo: demo-data
	$(PY) -m bench.demo --seeds 10

lint: install
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .

# The Kubeflow pipeline's container image (Dockerfile; needs a Docker engine, not built in CI).
IMAGE ?= video-action-pipeline:latest
image:
	docker build -t $(IMAGE) .

clean:
	rm -rf runs $(DEMO_DIR) .pytest_cache
