# belvedere — two commands do everything: `make demo` and `make test`.
# Each creates or refreshes .venv itself and is safe to run twice.

PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
VENDOR := belvedere/web/static/vendor/maplibre-gl.js

.PHONY: install demo test check bench clean

$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip
	$(BIN)/python -m pip install -q -e '.[dev]'
	touch $(STAMP)

# MapLibre comes from the npm registry at build time (no CDN at run time).
$(VENDOR): package.json package-lock.json scripts/vendor_web.sh
	bash scripts/vendor_web.sh
	touch $(VENDOR)

install: $(STAMP) $(VENDOR)

demo: install
	$(BIN)/belvedere demo

test: install
	$(BIN)/pytest

check: install
	$(BIN)/ruff check belvedere tests benchmarks
	$(BIN)/mypy belvedere
	$(BIN)/lint-imports

bench: install
	$(BIN)/python benchmarks/ingest.py

clean:
	rm -rf $(VENV) node_modules belvedere/web/static/vendor demo-data belvedere.duckdb*
