# Two entry points a fresh machine needs (see README): `make serve` and `make test`.
PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
PIP := $(PY) -m pip
# torch is pinned: an unpinned torch pulls a multi-GB CUDA build. On the project's machines
# this version installs a CPU build from a local file.
TORCH ?= torch==2.13.0
# The UDP port `make serve` listens on: make serve PORT=9100
PORT ?= 9000

.PHONY: serve test lint bench mutation install-runtime install-test install-peers clean

$(PY):
	$(PYTHON) -m venv $(VENV)
	$(PIP) install -q --upgrade pip

# Installed only when the venv is missing or older than pyproject.toml (its dependencies); the
# install is editable, so source edits need no reinstall and `make serve` starts at once.
$(VENV)/.installed: pyproject.toml | $(PY)
	$(PIP) install -q -e .
	touch $@

install-runtime: $(VENV)/.installed

# Real peers for the daemon tests (Debian): liblo's oscsend/oscdump and a JACK server; for the
# REAPER client's tests, Lua 5.4 with LuaSocket and busted; for the Max-for-Live device's,
# Node (`node --test`; Debian 12's nodejs 18 runs the suite).
install-peers:
	@if ! command -v oscsend >/dev/null || ! command -v jackd >/dev/null \
	    || ! command -v lua5.4 >/dev/null || ! command -v busted >/dev/null \
	    || ! lua5.4 -e 'require "socket"' 2>/dev/null || ! command -v node >/dev/null; then \
	  SUDO=""; [ "$$(id -u)" = 0 ] || SUDO="sudo -n"; \
	  $$SUDO apt-get update -qq && \
	  DEBIAN_FRONTEND=noninteractive $$SUDO apt-get install -y -qq liblo-tools jackd2 lua5.4 lua-socket lua-busted nodejs >/dev/null; \
	fi

install-test: $(PY) install-peers
	$(PIP) install -q "$(TORCH)"
	$(PIP) install -q -e ".[export,train,plot,test]"
	touch $(VENV)/.installed

serve: install-runtime
	$(VENV)/bin/midigen-server --port $(PORT)

test: install-test
	$(VENV)/bin/ruff check .
	$(PY) -m pytest -q

lint: $(PY)
	$(VENV)/bin/ruff check . && $(VENV)/bin/ruff format --check .

bench: install-test
	$(VENV)/bin/midigen-bench --json bench.json

# Mutation testing of the core modules with cosmic-ray, in a scratch copy (mutation/run.py);
# not in CI (every mutant takes hours on 2 cores): make mutation ARGS="--sample 10"
mutation: install-test
	$(PY) mutation/run.py $(ARGS)

clean:
	rm -rf $(VENV) build *.egg-info .pytest_cache .ruff_cache .hypothesis
