# One command each: `make demo` and `make test` set up .venv when missing (tools/setup_env.sh;
# the first run compiles mmcv's ops (docs/get_started.md lists the recorded times); later runs reuse
# the cached wheel).
VENV ?= .venv
PYTHON := $(VENV)/bin/python
# pytest-xdist workers (a file's tests stay on one worker: module fixtures are built once)
TEST_WORKERS ?= 2
PYTEST := $(PYTHON) -m pytest tests -n $(TEST_WORKERS) --dist loadfile

# The floor stack: the README's GPU recipe (Python 3.10, torch 2.1.2, numpy<2), run as printed
# in its own venv by tools/setup_floor_env.sh (torch from the registry, mmcv compiled for it)
FLOOR_VENV ?= .venv-floor
PYENV_ROOT ?= $(HOME)/.pyenv
FLOOR_PYTHON ?= $(lastword $(sort $(wildcard $(PYENV_ROOT)/versions/3.10.*/bin/python3.10)))

.PHONY: env test test-fast env-floor test-floor env-mmdeploy test-mmdeploy demo demo-tiny benchmark \
	lint wheelhouse

env:
	VENV=$(VENV) bash tools/setup_env.sh

test: env
	$(PYTEST)

test-fast: env
	$(PYTEST) -m "not slow"

env-floor:
	@test -x "$(FLOOR_PYTHON)" || { echo "error: no Python 3.10 under $(PYENV_ROOT)/versions: set FLOOR_PYTHON=/path/to/python3.10" >&2; exit 1; }
	VENV=$(FLOOR_VENV) PYTHON=$(FLOOR_PYTHON) bash tools/setup_floor_env.sh

# The fast suite plus the slow tests marked `floor` (a tools/train.py -> tools/test.py round trip)
# in the floor venv, where the recipe installed this checkout (`pip install -e .`)
test-floor: env-floor
	$(FLOOR_VENV)/bin/python -m pytest tests -n $(TEST_WORKERS) --dist loadfile -m "not slow or floor"

# MMDeploy 1.3.1 on the floor stack in a venv of its own (it pins protobuf <= 3.20.2; not CI), and
# tools/deployment/mmdeploy_check.py run there by tests/test_mmdeploy_check.py
MMDEPLOY_VENV ?= .venv-mmdeploy
env-mmdeploy:
	$(MAKE) env-floor FLOOR_VENV=$(MMDEPLOY_VENV)
	$(MMDEPLOY_VENV)/bin/pip install -q -c requirements/gpu.txt mmdeploy==1.3.1

test-mmdeploy: env-mmdeploy
	MMDEPLOY_PYTHON=$(abspath $(MMDEPLOY_VENV))/bin/python $(MMDEPLOY_VENV)/bin/python -m pytest tests/test_mmdeploy_check.py

demo: env
	$(PYTHON) tools/demo.py

# the five-minute check: 4 + 2 images, 2 iterations per model (the pipeline runs; nothing learned)
demo-tiny: env
	$(PYTHON) tools/demo.py --tiny --work-dir work_dirs/demo_tiny

benchmark: env
	$(PYTHON) tools/analysis_tools/benchmark_relation.py

lint: env
	$(VENV)/bin/ruff check mmseg_rga tools tests

# Wheels for a host without internet (docs/get_started.md, "An offline CUDA host"): run where
# the registry is reachable; PYTHON= a Python of the host's version, TORCH= the host's torch
# version, LEAVE_OUT= distributions to leave out (see tools/build_wheelhouse.sh)
wheelhouse:
	PYTHON=$(PYTHON) TORCH=$(TORCH) WHEELHOUSE=$(WHEELHOUSE) LEAVE_OUT="$(LEAVE_OUT)" bash tools/build_wheelhouse.sh
