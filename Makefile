# The two commands of the README: `make run` (SOFT on ml-100k with the embedded LLM) and `make test`.
# Both create .venv on first use and install the tested set of packages from requirements.lock, hash-checked, with
# the embedded LLM. TORCH picks the torch build, which the lock leaves out: the default CPU/CUDA wheel 2.13.0 (on
# this project's machines it comes from the local disk); on a GPU machine e.g. `make run TORCH='torch>=2.6'`.
# `make lock` regenerates requirements.lock from pyproject.toml with uv, installed in its own virtualenv.
VENV ?= .venv
PYTHON ?= python3
TORCH ?= torch==2.13.0
LOCK := requirements.lock
LOCK_TOOL ?= $(HOME)/.cache/recbole_soft/locktool
UV_VERSION ?= 0.13.9
BIN := $(VENV)/bin

.PHONY: install run test lock

# the lock first, without dependencies (it holds them all); then torch, which adds only its own; then the package
$(BIN)/activate: pyproject.toml $(LOCK)
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip
	$(BIN)/pip install -q --require-hashes --no-deps -r $(LOCK)
	$(BIN)/pip install -q "$(TORCH)"
	$(BIN)/pip install -q --no-deps -e .
	touch $@

install: $(BIN)/activate

run: install
	$(BIN)/python run_recbole_soft.py --model=SOFT --dataset=ml-100k

# one pytest worker per core (pytest-xdist), each test file on one worker: its module fixtures run once
test: install
	$(BIN)/python -m pytest -q -n auto --dist loadfile

$(LOCK_TOOL)/bin/uv:
	$(PYTHON) -m venv $(LOCK_TOOL)
	$(LOCK_TOOL)/bin/pip install -q "uv==$(UV_VERSION)"

# keeps the pins of the current lock that still satisfy pyproject.toml; `make lock LOCK_FLAGS=--upgrade` takes the
# newest versions instead
lock: $(LOCK_TOOL)/bin/uv
	$(LOCK_TOOL)/bin/uv pip compile pyproject.toml --extra test --group pyproject.toml:embedded-llm \
		--overrides lock-overrides.txt --generate-hashes --python-version 3.11 --python-platform x86_64-manylinux_2_28 \
		--custom-compile-command "make lock" --quiet $(LOCK_FLAGS) --output-file $(LOCK)
