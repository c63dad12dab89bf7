# The two commands of the README: `make serve` and `make test`.
PYTHON ?= python3
VENV   ?= .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed

.PHONY: env emulators serve test lint typecheck pytest bench clean

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[test]'
	touch $(STAMP)

env: $(STAMP)

emulators: env
	$(BIN)/python -m tests.emulators install

serve: env
	$(BIN)/backup-store serve

lint: env
	$(BIN)/ruff check .

typecheck: env
	$(BIN)/mypy

pytest: env emulators
	$(BIN)/python -m pytest

test: lint typecheck pytest

bench: env emulators
	$(BIN)/python -m bench

clean:
	rm -rf $(VENV) backups data
