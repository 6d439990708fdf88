# The platform's commands. On a fresh Debian machine `make up` and `make test`
# install what is missing (Python packages, npm packages, RabbitMQ, PostgreSQL) first.

VENV ?= .venv
PYTHON ?= python3
BIN := $(VENV)/bin

.PHONY: install infra up down test bench browser

$(BIN)/.installed: pyproject.toml
	$(PYTHON) -m venv $(VENV) || { rm -rf $(VENV); deploy/apt-install.sh python3-venv && $(PYTHON) -m venv $(VENV); }
	$(BIN)/pip install --quiet "setuptools>=65,<82" wheel
	$(BIN)/pip install --quiet -e ".[test]"
	touch $@

# The pages' assets (Bootstrap Italia, Swagger UI) and axe-core for the browser tests, from the npm registry.
node_modules/.installed: package.json package-lock.json
	command -v npm >/dev/null || deploy/apt-install.sh nodejs npm
	npm ci --ignore-scripts --no-audit --no-fund --loglevel=error
	touch $@

install: $(BIN)/.installed node_modules/.installed

# Debian's chromium for the browser tests: Playwright drives it, and downloads no browser of its own.
browser:
	command -v chromium >/dev/null || deploy/apt-install.sh chromium

infra:
	deploy/infra.sh

up: install infra
	REBUILDING_DEV_LOGIN=1 deploy/up.sh

down:
	deploy/down.sh

test: install infra browser
	$(BIN)/pytest

bench: install infra
	$(BIN)/python -m bench.relay
	$(BIN)/python -m bench.idle
	$(BIN)/python -m bench.replay
	$(BIN)/python -m bench.registry
	$(BIN)/python -m bench.chain
	$(BIN)/python -m bench.enrollment
	$(BIN)/python -m bench.floor
	$(BIN)/python -m bench.reads
	$(BIN)/python -m bench.mail
	$(BIN)/python -m bench.hot_lab
	$(BIN)/python -m bench.surveys
	$(BIN)/python -m bench.toolkit
	$(BIN)/python -m bench.national
