# The platform's commands. On a fresh Debian machine `make up` and `make test`
# install what is missing (Python packages, RabbitMQ, PostgreSQL) first.

VENV ?= .venv
PYTHON ?= python3
BIN := $(VENV)/bin

.PHONY: install infra up down test bench

$(BIN)/.installed: pyproject.toml
	$(PYTHON) -m venv $(VENV) || { rm -rf $(VENV); deploy/apt-install.sh python3-venv && $(PYTHON) -m venv $(VENV); }
	$(BIN)/pip install --quiet "setuptools>=65,<82" wheel
	$(BIN)/pip install --quiet -e .
	touch $@

install: $(BIN)/.installed

infra:
	deploy/infra.sh

up: install infra
	deploy/up.sh

down:
	deploy/down.sh

test: install infra
	$(BIN)/pytest

bench: install infra
	$(BIN)/python -m bench.relay
	$(BIN)/python -m bench.idle
	$(BIN)/python -m bench.replay
	$(BIN)/python -m bench.chain
	$(BIN)/python -m bench.enrollment
	$(BIN)/python -m bench.toolkit
