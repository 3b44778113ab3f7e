# Two entry points for a fresh checkout (see README): `make sample` and `make test`.
# Everything is installed by these targets: the Python packages into .venv, the Rust crates
# by cargo, the npm packages for interop tests by npm, the services the tests run for real
# (Debian packages) by apt-get.

PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
SAMPLE_OUT ?= out/sample-ldes

.PHONY: venv build interop services sample test rust-checks python-checks bench clean

$(VENV)/.installed: requirements-dev.txt
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -r requirements-dev.txt
	touch $@

venv: $(VENV)/.installed

# The one release build of the extension, installed into the venv (editable).
build: venv
	VIRTUAL_ENV=$(abspath $(VENV)) $(VENV)/bin/maturin develop --release --quiet

# The npm client the interop test runs (tests/test_interop.py), exactly as pinned by the lock file.
interop/node_modules/.package-lock.json: interop/package.json interop/package-lock.json
	cd interop && npm ci --no-audit --no-fund

interop: interop/node_modules/.package-lock.json

# Debian packages of the services the tests start themselves: PostgreSQL (tests/pg.py starts a
# throwaway cluster), mosquitto (tests/test_mqtt.py) and Java 17 for Spark (tests/test_spark.py,
# ldesfrag.spark). Installed only when missing.
SUDO := $(shell [ "$$(id -u)" = 0 ] || echo sudo)

services:
	@missing=""; \
	ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1 || command -v initdb >/dev/null 2>&1 \
		|| missing="$$missing postgresql"; \
	[ -x /usr/sbin/mosquitto ] || command -v mosquitto >/dev/null 2>&1 || missing="$$missing mosquitto"; \
	command -v java >/dev/null 2>&1 || missing="$$missing openjdk-17-jre-headless"; \
	if [ -n "$$missing" ]; then \
		if command -v apt-get >/dev/null 2>&1; then \
			$(SUDO) apt-get update -qq && \
			$(SUDO) env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $$missing; \
		else echo "make services: install these Debian packages (the tests run them):$$missing" >&2; exit 1; fi; \
	fi

# The main job on the bundled sample: the N-Quads dump → a static LDES in $(SAMPLE_OUT)
# (serve it with `.venv/bin/ldesfrag serve $(SAMPLE_OUT)`); a rerun appends nothing new.
sample: build
	$(VENV)/bin/ldesfrag publish sample/members.nq.gz --view sample/view.toml --out $(SAMPLE_OUT) \
		--base-url http://127.0.0.1:8000/

rust-checks:
	cargo fmt --all --check
	cargo clippy --all-targets --locked -- -D warnings
	cargo test --locked

python-checks: build interop services
	$(VENV)/bin/ruff check python tests benches scripts
	$(VENV)/bin/ruff format --check python tests benches scripts
	$(VENV)/bin/mypy python/ldesfrag
	$(PY) -m mypy.stubtest ldesfrag._ldesfrag --allowlist .stubtest-allowlist
	$(PY) -m pytest tests
	$(PY) -m pytest benches --benchmark-disable -q

test: rust-checks python-checks

# Benchmarks, measured (see benches/RESULTS.md).
bench: build
	$(PY) -m pytest benches --benchmark-only --benchmark-columns=min,median,mean,ops,rounds

clean:
	rm -rf target $(VENV) out interop/node_modules
