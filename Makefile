# Two commands: `make demo` and `make test`. Each builds its own virtualenv in .venv.
PY ?= python3
VENV := .venv
BIN := $(VENV)/bin

$(BIN)/.installed: pyproject.toml
	$(PY) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip
	$(BIN)/pip install -q -e '.[test]'
	touch $@

.PHONY: venv demo test lint bench
venv: $(BIN)/.installed

demo: venv  # make demo PORT=8001 for another port
	$(BIN)/python -m goodjob demo $(if $(PORT),--port $(PORT))

test: venv
	@scripts/ensure-chromium
	$(BIN)/ruff check goodjob tests bench examples
	$(BIN)/mypy
	$(BIN)/pytest -q

bench: venv
	$(BIN)/python bench/enqueue.py
