# Quick start: `make publish` runs the main job on the bundled site,
# `make test` runs the whole test suite. Both create .venv on first use.

PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin

.PHONY: publish test lint bench bench-smoke torture torture-short clean

publish: $(VENV)/.installed
	$(BIN)/publisher publish

# pytest on 4 worker processes (pytest-xdist), even on 2 cores: many tests
# wait on a subprocess, a server or the clock. An empty PYTHONDONTWRITEBYTECODE
# lets pytest keep its rewritten test modules in __pycache__ where the
# environment sets it; otherwise each worker rewrites them all on every run.
test: $(VENV)/.installed-test
	$(BIN)/ruff check publisher tests bench torture
	$(BIN)/mypy publisher
	$(BIN)/lint-imports --no-cache
	PYTHONDONTWRITEBYTECODE= $(BIN)/pytest -q -n 4 --dist worksteal

lint: $(VENV)/.installed-test
	$(BIN)/ruff check publisher tests bench torture
	$(BIN)/mypy publisher
	$(BIN)/lint-imports --no-cache

bench: $(VENV)/.installed-test
	$(BIN)/python -m bench.run

bench-smoke: $(VENV)/.installed-test
	$(BIN)/python -m bench.run --smoke

# Kill anywhere, full disks (tmpfs: needs root), concurrency, SMTP faults,
# hostile input; several minutes. torture-short is what .ci/run runs.
torture: $(VENV)/.installed-test
	$(BIN)/python -m torture

torture-short: $(VENV)/.installed-test
	$(BIN)/python -m torture --short

$(VENV)/.created:
	$(PYTHON) -c 'import sys; sys.exit(sys.version_info < (3, 11) and "publisher needs Python 3.11 or newer")'
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	touch $@

$(VENV)/.installed: pyproject.toml $(VENV)/.created
	$(BIN)/python -m pip install --quiet -e .
	touch $@

$(VENV)/.installed-test: pyproject.toml $(VENV)/.created
	$(BIN)/python -m pip install --quiet -e '.[test]'
	touch $@ $(VENV)/.installed

clean:
	rm -rf $(VENV) out/feed.xml out/rss.xml out/digest .publisher
