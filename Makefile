# Two commands: `make demo` and `make test`. Each builds its own virtualenv in .venv.
PY ?= python3
VENV := .venv
BIN := $(VENV)/bin
# Django 6 needs Python 3.12+: where python3.12 runs, `make test` also runs tests/djangotasks under
# Django 6 in a second small venv (the main venv, on python3, has the django-tasks backport).
# python3.12 from PATH, else a pyenv-installed 3.12 that is not the active version.
PY312 ?= $(shell for v in "" $$(pyenv versions --bare 2>/dev/null | grep '^3\.12'); do \
	PYENV_VERSION=$$v python3.12 -c 'import sys; print(sys.executable)' 2>/dev/null && break; done)
VENV6 := .venv-django6

$(BIN)/.installed: pyproject.toml
	$(PY) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip
	$(BIN)/pip install -q -e '.[test]'
	touch $@

$(VENV6)/bin/.installed: pyproject.toml
	$(PY312) -m venv $(VENV6)
	$(VENV6)/bin/pip install -q --upgrade pip
	$(VENV6)/bin/pip install -q -e '.[test-django6]'
	touch $@

.PHONY: venv demo test test-django6 lint bench
venv: $(BIN)/.installed

demo: venv  # make demo PORT=8001 for another port
	$(BIN)/python -m goodjob demo $(if $(PORT),--port $(PORT))

test: venv
	@scripts/ensure-chromium
	$(BIN)/ruff check goodjob tests bench examples
	$(BIN)/mypy
	$(BIN)/pytest -q
	$(MAKE) --no-print-directory test-django6

test-django6:
ifneq ($(PY312),)
	$(MAKE) --no-print-directory $(VENV6)/bin/.installed
	$(VENV6)/bin/pytest -q -p no:cacheprovider tests/djangotasks
else
	@echo "python3.12 not found: tests/djangotasks ran on the django-tasks backport only"
endif

bench: venv
	$(BIN)/python bench/enqueue.py
