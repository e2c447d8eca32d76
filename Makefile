# One command each: `make demo` and `make test` set up .venv when missing (tools/setup_env.sh;
# the first run compiles mmcv's ops, 10-27 min on the 2-core machines we timed; later runs reuse
# the cached wheel).
VENV ?= .venv
PYTHON := $(VENV)/bin/python
# pytest-xdist workers (a file's tests stay on one worker: module fixtures are built once)
TEST_WORKERS ?= 2
PYTEST := $(PYTHON) -m pytest tests -n $(TEST_WORKERS) --dist loadfile

.PHONY: env test test-fast demo demo-tiny benchmark lint

env:
	VENV=$(VENV) bash tools/setup_env.sh

test: env
	$(PYTEST)

test-fast: env
	$(PYTEST) -m "not slow"

demo: env
	$(PYTHON) tools/demo.py

# the five-minute check: 4 + 2 images, 2 iterations per model (the pipeline runs; nothing learned)
demo-tiny: env
	$(PYTHON) tools/demo.py --tiny --work-dir work_dirs/demo_tiny

benchmark: env
	$(PYTHON) tools/analysis_tools/benchmark_relation.py

lint: env
	$(VENV)/bin/ruff check mmseg_rga tools tests
