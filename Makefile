# Two commands: `make run` and `make test`. Everything else is set up by them.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
FLASK := $(BIN)/flask --app wsgi
HOST ?= 127.0.0.1
PORT ?= 5000

.PHONY: run test lint setup secret db demo css clean

# The server, with `flask jobs run` every minute beside it (reminders, waiting lists, mail). The loop runs in
# the background, where the shell ignores Ctrl-C, so the trap stops it when gunicorn stops.
# Links in emails follow HOST and PORT (FLASK_RUN_HOST/PORT) unless BASE_URL is configured.
run: setup secret db demo
	@export FLASK_RUN_HOST=$(HOST) FLASK_RUN_PORT=$(PORT); \
	while true; do $(FLASK) jobs run; sleep 60; done & jobs_loop=$$!; \
	trap 'kill $$jobs_loop 2>/dev/null' EXIT INT TERM; \
	$(BIN)/gunicorn --config gunicorn.conf.py --bind $(HOST):$(PORT) wsgi:app

test: setup secret
	$(BIN)/python -m pytest $(PYTEST_ARGS)

# ruff (lint and format) and mypy, with the settings in pyproject.toml.
lint: setup
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy

setup: $(VENV)/.installed

$(VENV)/.installed: requirements.txt requirements-dev.txt
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -r requirements-dev.txt
	touch $@

# A random SECRET_KEY in instance/config.py, written once.
secret:
	@mkdir -p instance
	@grep -qs '^SECRET_KEY' instance/config.py || \
		$(BIN)/python -c "import secrets; print(f'SECRET_KEY = {secrets.token_hex(32)!r}')" >> instance/config.py

db: setup secret
	$(FLASK) db upgrade

demo: db
	$(FLASK) demo load

# Rebuild the committed CSS and htmx from npm (not needed to run the app).
css:
	npm ci && npm run build

clean:
	rm -rf $(VENV) .pytest_cache
