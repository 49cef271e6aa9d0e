# belvedere — two commands do everything: `make demo` and `make test`.
# Each creates or refreshes .venv itself and is safe to run twice.

PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
VENDOR := belvedere/web/static/vendor/maplibre-gl.js

.PHONY: install demo test check bench clean audit-deps

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

# Known vulnerabilities in the installed dependencies (pip-audit, in its own venv so that it
# audits the project's packages, not its own). It needs a vulnerability service: PyPI's JSON API
# (default) or OSV (AUDIT_SERVICE=osv; AUDIT_OSV_URL=… for a local OSV mirror). --strict fails
# when a package cannot be checked, so an offline run fails loudly instead of passing empty.
# CI runs offline and does not run it (docs/security.md).
AUDIT_SERVICE ?= pypi
AUDIT_OSV_URL ?=
audit-deps: install
	test -x .venv-audit/bin/pip-audit || ($(PYTHON) -m venv .venv-audit && \
		.venv-audit/bin/python -m pip install -q pip-audit)
	$(BIN)/python -m pip freeze --exclude-editable > .venv-audit/requirements.txt
	.venv-audit/bin/pip-audit --strict --no-deps --disable-pip --progress-spinner off \
		-r .venv-audit/requirements.txt -s $(AUDIT_SERVICE) \
		$(if $(AUDIT_OSV_URL),--osv-url $(AUDIT_OSV_URL))

clean:
	rm -rf $(VENV) .venv-audit node_modules belvedere/web/static/vendor demo-data belvedere.duckdb*
