# Spyglass: the two commands a newcomer needs are `make run` and `make test`.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed
DATA   ?= ./data

.PHONY: setup run test bench generate clean

setup: $(STAMP)

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

# Regenerates the committed Thrift and protobuf bindings from the IDL sources in
# src/spyglass/codecs/{thrift,proto}. Installing Spyglass never needs this.
generate: setup
	command -v thrift >/dev/null || (apt-get update -qq && apt-get install -y -qq thrift-compiler)
	$(BIN)/python -m spyglass.codecs.generate

clean:
	rm -rf $(VENV) .pytest_cache build *.egg-info src/*.egg-info
