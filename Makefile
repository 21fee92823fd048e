# Spyglass: the two commands a newcomer needs are `make run` and `make test`.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed
RUN_STAMP := $(VENV)/.installed-run
LOCK   := requirements.lock
DATA   ?= ./data

.PHONY: setup setup-run run test bench bench-ui generate clean chromium lock clickhouse-servers nats-server

# Everything (runtime, test extras, Chromium): what `make test` and the benchmarks need.
setup: $(STAMP) chromium

# Only what running Spyglass needs: no test tools, no browser.
setup-run: $(RUN_STAMP)

# The UI tests drive Debian's Chromium (never a browser downloaded by a test tool).
chromium:
	@if [ ! -x /usr/bin/chromium ]; then \
	  if [ "$$(id -u)" = 0 ]; then apt-get update -qq && apt-get install -y -qq chromium; \
	  else echo "The UI tests need Debian's chromium: sudo apt-get install -y chromium"; fi; \
	fi

# The clickhouse backend's tests start Debian's clickhouse-server (18.16) and zookeeper themselves.
clickhouse-servers:
	@if [ ! -x /usr/sbin/clickhouse-server ] || [ ! -f /usr/share/java/zookeeper.jar ]; then \
	  if [ "$$(id -u)" = 0 ]; then apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq clickhouse-server clickhouse-client zookeeper; \
	  else echo "The clickhouse tests need: sudo apt-get install -y clickhouse-server clickhouse-client zookeeper"; fi; \
	fi

# The pipeline tests (tests/pipeline) start Debian's nats-server with JetStream themselves.
nats-server:
	@if ! command -v nats-server >/dev/null && [ ! -x /usr/sbin/nats-server ]; then \
	  if [ "$$(id -u)" = 0 ]; then apt-get update -qq && apt-get install -y -qq nats-server; \
	  else echo "The pipeline tests need Debian's nats-server: sudo apt-get install -y nats-server"; fi; \
	fi

# Versions come from $(LOCK) (pip constraints: exact pins of what passed the tests). A
# package not in it yet (just added to pyproject.toml) installs unpinned until `make lock`.
$(RUN_STAMP): pyproject.toml $(LOCK)
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -c $(LOCK) -e .
	touch $(RUN_STAMP)

$(STAMP): pyproject.toml $(LOCK)
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -c $(LOCK) -e '.[test]'
	touch $(RUN_STAMP) $(STAMP)

run: setup-run
	$(BIN)/spyglass all-in-one --data-dir $(DATA)

# Refresh $(LOCK): install runtime + test dependencies afresh (newest allowed by
# pyproject.toml) into a scratch venv and pin exactly what got installed. Run the tests
# afterwards and commit the new lock with them.
lock:
	rm -rf .lock-venv
	$(PYTHON) -m venv .lock-venv
	.lock-venv/bin/pip install --quiet --upgrade pip
	.lock-venv/bin/pip install --quiet -e '.[test]'
	( echo "# Exact versions of every runtime and test dependency, used as pip constraints by the"; \
	  echo "# Makefile (pip install -c $(LOCK)). Regenerate with: make lock"; \
	  .lock-venv/bin/pip freeze --exclude-editable ) > $(LOCK)
	rm -rf .lock-venv

test: setup clickhouse-servers nats-server
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
