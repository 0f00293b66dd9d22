# The two commands: `make run` and `make test`. Everything else they need is installed here.
SHELL := /bin/bash
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
PIP := $(BIN)/python -m pip
PIP_FLAGS := -q --disable-pip-version-check -c constraints.txt
export OSTIARY_TEST_PG_URL ?= postgresql+psycopg://postgres@127.0.0.1:5432/test
export OSTIARY_TEST_REDIS_URL ?= redis://127.0.0.1:6379/0

.PHONY: run test install dev lint typecheck imports pytest bench bench-deps lock clean system-deps node-deps

$(BIN)/activate:
	$(PYTHON) -m venv $(VENV)

$(VENV)/.installed: $(BIN)/activate pyproject.toml constraints.txt
	$(PIP) install $(PIP_FLAGS) -e .
	@touch $@

$(VENV)/.dev: $(VENV)/.installed
	$(PIP) install $(PIP_FLAGS) -e '.[dev]'
	@touch $@

install: $(VENV)/.installed
dev: $(VENV)/.dev

## make run: install, initialise ./var (SQLite + master key) when needed, print a first key, serve.
run: install
	$(BIN)/ostiary init --bootstrap-key
	$(BIN)/ostiary serve

## make test: dev dependencies, then ruff, mypy, import-linter and pytest (SQLite and PostgreSQL).
test: dev system-deps node-deps lint typecheck imports pytest

lint: dev
	$(BIN)/ruff check src tests bench

typecheck: dev
	$(BIN)/mypy

imports: dev
	$(BIN)/lint-imports

pytest: dev
	$(BIN)/pytest

## Debian packages the tests drive (installed here, never by hand). Skipped when present.
# chromium: Playwright browser tests; slapd + ldap-utils: the sync agent's LDAP source tests
SYSTEM_PACKAGES := chromium slapd ldap-utils
system-deps:
	@OSTIARY_SYSTEM_PACKAGES="$(SYSTEM_PACKAGES)" ./scripts/system-deps.sh

## npm packages the browser tests inject (axe-core), pinned by package-lock.json.
node_modules/.package-lock.json: package.json package-lock.json
	npm ci --no-audit --no-fund --ignore-scripts
node-deps: node_modules/.package-lock.json

## The benchmarks' load generator (wrk, in C: it leaves the CPU to the server).
BENCH_PACKAGES := wrk valgrind
bench-deps:
	@OSTIARY_SYSTEM_PACKAGES="$(BENCH_PACKAGES)" ./scripts/system-deps.sh

bench: dev bench-deps
	$(BIN)/python -m bench

## Regenerate the pinned constraints from a clean environment.
lock:
	rm -rf .lockenv && $(PYTHON) -m venv .lockenv
	.lockenv/bin/python -m pip install -q --disable-pip-version-check -e '.[dev]'
	.lockenv/bin/python -m pip freeze --exclude-editable | grep -v '^ostiary' > constraints.txt
	rm -rf .lockenv

clean:
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache
