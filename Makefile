# Two entry points for a fresh clone: `make demo` and `make test`.
PYTHON ?= python3
VENV   ?= .venv
BIN    := $(VENV)/bin
PY     := $(BIN)/python
STAMP  := $(VENV)/.installed
CHROMIUM ?= /usr/bin/chromium
PYTEST_ARGS ?=

.PHONY: all install browser services lint typecheck test demo bench readme clean

all: test

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -e '.[all,openapi,dev]'
	touch $(STAMP)

install: $(STAMP)

# Debian's chromium is the browser the E2E gate drives; playwright cannot download one here.
browser:
	@if [ -x "$(CHROMIUM)" ] || command -v chromium >/dev/null 2>&1; then \
	  echo "chromium: $$(command -v chromium || echo $(CHROMIUM))"; \
	elif [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then \
	  echo "installing Debian's chromium"; \
	  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null; \
	else \
	  echo "chromium is missing: run 'sudo apt-get install chromium' (or 'playwright install chromium')" >&2; exit 1; \
	fi

# The real servers the tests drive: Postgres (restore drills), Prometheus and its Pushgateway
# (monitoring SLOs and export), nginx (load throughput). Installed, never started here: each
# test starts its own on a free loopback port and stops it.
SERVICES_BIN := /usr/lib/postgresql /usr/bin/prometheus /usr/bin/prometheus-pushgateway /usr/sbin/nginx
services:
	@missing=""; \
	for path in $(SERVICES_BIN); do [ -e "$$path" ] || missing="$$missing $$path"; done; \
	if [ -z "$$missing" ]; then echo "services: postgresql, prometheus, pushgateway, nginx"; \
	elif [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then \
	  echo "installing Debian's postgresql prometheus prometheus-pushgateway nginx (missing:$$missing)"; \
	  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends \
	    postgresql prometheus prometheus-pushgateway nginx >/dev/null; \
	else \
	  echo "missing:$$missing; run 'sudo apt-get install postgresql prometheus prometheus-pushgateway nginx'" >&2; exit 1; \
	fi

lint: $(STAMP)
	$(BIN)/ruff check src tests benchmarks suites locustfiles
	$(BIN)/ruff format --check src tests benchmarks suites locustfiles

typecheck: $(STAMP)
	$(BIN)/mypy

# pytest-playwright is off for the suite itself: its soft-assertion scope cannot nest, which
# breaks in-process pytester runs. The E2E tests run pytest in a subprocess with it on.
# Schemathesis's own pytest plugin is off too (the gate imports Schemathesis itself).
# Two passes: everything in parallel (xdist), then the tests marked serial, alone, because
# they measure time or CPU that other tests running beside them would disturb.
TEST_PLUGINS := -p no:playwright -p no:schemathesis
test: $(STAMP) browser services lint typecheck
	$(BIN)/pytest $(TEST_PLUGINS) -n auto -m "not serial" $(PYTEST_ARGS)
	$(BIN)/pytest $(TEST_PLUGINS) -m serial $(PYTEST_ARGS)

demo: $(STAMP) browser
	$(PY) -m pytest_opsgate.demo.rungate

# Timing goals live here, as ratios measured side by side, never in tests.
bench: $(STAMP) browser
	$(PY) benchmarks/readiness_lag.py
	$(PY) benchmarks/plugin_overhead.py
	$(PY) benchmarks/e2e_overhead.py
	$(PY) benchmarks/load_accuracy.py
	$(PY) benchmarks/load_throughput.py
	$(PY) benchmarks/idle_overhead.py
	$(PY) benchmarks/judge_simulation.py

# The README's option tables come from src/pytest_opsgate/settings/table.py.
readme: $(STAMP)
	$(PY) -m pytest_opsgate.settings

clean:
	rm -rf $(VENV) gate-artifacts demo-report .pytest_cache .mypy_cache .ruff_cache
