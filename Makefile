# Spyglass: the two commands a newcomer needs are `make run` and `make test`.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed
DATA   ?= ./data

.PHONY: setup run test bench bench-ui generate clean chromium

setup: $(STAMP) chromium

# The UI tests drive Debian's Chromium (never a browser downloaded by a test tool).
chromium:
	@if [ ! -x /usr/bin/chromium ]; then \
	  if [ "$$(id -u)" = 0 ]; then apt-get update -qq && apt-get install -y -qq chromium; \
	  else echo "The UI tests need Debian's chromium: sudo apt-get install -y chromium"; fi; \
	fi

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e '.[test]'
	touch $(STAMP)

run: setup
	$(BIN)/spyglass all-in-one --data-dir $(DATA)

test: setup
	$(BIN)/python -m pytest -q

bench: setup
	$(BIN)/python bench/ingest.py
	$(BIN)/python bench/query.py
	$(BIN)/python bench/storage.py
	$(BIN)/python bench/tracer.py

bench-ui: setup
	$(BIN)/python bench/ui.py

# Regenerates the committed Thrift and protobuf bindings from the IDL sources in
# src/spyglass/codecs/{thrift,proto}. Installing Spyglass never needs this.
generate: setup
	command -v thrift >/dev/null || (apt-get update -qq && apt-get install -y -qq thrift-compiler)
	$(BIN)/python -m spyglass.codecs.generate

clean:
	rm -rf $(VENV) .pytest_cache build *.egg-info src/*.egg-info
