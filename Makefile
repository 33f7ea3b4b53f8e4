# Two commands do everything on a fresh machine: `make run` and `make test`.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: install run console demo test lint migrate clean

install: $(STAMP)

# Re-installs only when the project definition or the lock changes.
$(STAMP): pyproject.toml requirements.lock
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -c requirements.lock -e '.[dev]'
	touch $(STAMP)

migrate: install
	$(BIN)/koxbot migrate

run: migrate
	$(BIN)/koxbot run

console: migrate
	$(BIN)/koxbot console

demo: migrate
	$(BIN)/koxbot demo

test: install
	$(BIN)/ruff check bot storage tests bench
	$(BIN)/lint-imports
	$(BIN)/python -m pytest -q

lint: install
	$(BIN)/ruff check bot storage tests bench
	$(BIN)/lint-imports

clean:
	rm -rf $(VENV) data/*.sqlite3* .pytest_cache
