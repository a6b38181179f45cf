# Quick start targets. Each creates .venv on first use and installs lcnn into it.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
DATA ?= $(if $(LCNN_DATA_DIR),$(LCNN_DATA_DIR),$(abspath ../shared/data))

.PHONY: install demo mnist test clean

$(BIN)/lcnn: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	# torch first, pinned, so that the CPU wheel is taken instead of a multi-GB CUDA build.
	$(BIN)/pip install --quiet torch==2.13.0
	$(BIN)/pip install --quiet -e '.[dev]'
	touch $(BIN)/lcnn

install: $(BIN)/lcnn

# Reuses the corpus in runs/demo/corpus when it exists and replaces the previous run in runs/demo/run.
demo: install
	LCNN_DATA_DIR=$(DATA) $(BIN)/lcnn demo --out runs/demo --force

mnist: install
	LCNN_DATA_DIR=$(DATA) $(BIN)/lcnn train configs/mnist.yaml --out runs/mnist --force

test: install
	LCNN_DATA_DIR=$(DATA) OMP_WAIT_POLICY=PASSIVE $(BIN)/python -m pytest -q

clean:
	rm -rf $(VENV) runs
