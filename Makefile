# Spyglass: the two commands a newcomer needs are `make run` and `make test`.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed
RUN_STAMP := $(VENV)/.installed-run
LOCK   := requirements.lock
DATA   ?= ./data

.PHONY: setup setup-run run test bench bench-ui generate clean chromium lock clickhouse-servers nats-server curl

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

# The TLS tests (tests/server/test_tls.py) use curl with --cacert and --cert as a client.
curl:
	@if ! command -v curl >/dev/null; then \
	  if [ "$$(id -u)" = 0 ]; then apt-get update -qq && apt-get install -y -qq curl; \
	  else echo "The TLS tests need curl: sudo apt-get install -y curl"; fi; \
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

# Two test processes, a file each at a time (a file's servers and fixtures stay in one
# process): the suite mostly waits on the servers it starts, so two fit the 2 cores.
# --durations: the slowest tests are listed, so the suite's time (under 15 minutes) stays watched.
test: setup clickhouse-servers nats-server podman curl
	$(BIN)/python -m pytest -q -n 2 --dist loadfile --durations=20

bench: setup
	$(BIN)/python bench/ingest.py
	$(BIN)/python bench/query.py
	$(BIN)/python bench/storage.py
	$(BIN)/python bench/tracer.py

bench-ui: setup
	$(BIN)/python bench/ui.py

# The full fuzzing run (docs/fuzzing.md): a million inputs per decoder, minutes per target.
.PHONY: fuzz
fuzz: setup
	$(BIN)/python bench/fuzz.py --jobs 2 --record

# Regenerates the committed Thrift and protobuf bindings from the IDL sources in
# src/spyglass/codecs/{thrift,proto}. Installing Spyglass never needs this.
generate: setup
	command -v thrift >/dev/null || (apt-get update -qq && apt-get install -y -qq thrift-compiler)
	$(BIN)/python -m spyglass.codecs.generate

clean:
	rm -rf $(VENV) .pytest_cache build *.egg-info src/*.egg-info

# -- containers (deploy/README.md): one image for every role, compose files, the demo ---------
# Podman (Debian's) builds and runs them; no Docker engine and no image registry are needed.
IMAGE        ?= spyglass:latest
BASE_IMAGE   ?= localhost/spyglass-base:bookworm
# The Debian mirror the base image is bootstrapped from: this host's own (apt's sources).
DEBIAN_MIRROR ?= $(shell (sed -n 's/^URIs: *//p' /etc/apt/sources.list.d/*.sources; \
	  sed -n 's/^deb  *\(\[[^]]*\] *\)\{0,1\}\([^ ]*\).*/\2/p' /etc/apt/sources.list) 2>/dev/null \
	  | grep -v security | head -n 1)
COMPOSE_FILE ?= deploy/compose/all-in-one.yaml
COMPOSE_PROJECT ?= spyglass
# Podman's defaults fail in some VMs (setrlimit refused, crun vs hybrid cgroups): this
# containers.conf keeps the limits within the hard ones and uses runc.
PODMAN_CONF  := build/containers.conf
PODMAN       := CONTAINERS_CONF=$(CURDIR)/$(PODMAN_CONF) podman

.PHONY: podman base-image wheelhouse image infra-images compose-up compose-down demo

podman:
	@command -v podman >/dev/null && command -v podman-compose >/dev/null && command -v runc >/dev/null \
	  && command -v debootstrap >/dev/null || { \
	  if [ "$$(id -u)" = 0 ]; then apt-get update -qq && \
	    apt-get install -y -qq podman buildah runc uidmap podman-compose debootstrap; \
	  else echo "needs: sudo apt-get install -y podman buildah runc uidmap podman-compose debootstrap"; exit 1; fi; }
	@mkdir -p build
	@n=$$(ulimit -Hn); [ "$$n" = unlimited ] || [ "$$n" -gt 16384 ] && n=16384; \
	  printf '[containers]\ndefault_ulimits = ["nofile=%s:%s", "nproc=32768:32768"]\n[engine]\nruntime = "runc"\n' \
	  $$n $$n > $(PODMAN_CONF)

# A Debian bookworm root filesystem made locally (no registry): debootstrap, then import.
base-image: podman
	@$(PODMAN) image exists $(BASE_IMAGE) || { \
	  rm -rf build/rootfs && debootstrap --variant=minbase bookworm build/rootfs $(DEBIAN_MIRROR) && \
	  tar -C build/rootfs -c . | $(PODMAN) import - $(BASE_IMAGE) && rm -rf build/rootfs; }

# Every wheel the image installs, built on the host, so the image build needs no package index.
wheelhouse: setup
	rm -rf build/wheelhouse
	$(BIN)/pip wheel --quiet --wheel-dir build/wheelhouse '.[demo]'

image: base-image wheelhouse
	$(PODMAN) build --format docker --build-arg BASE=$(BASE_IMAGE) \
	  --build-arg REVISION=$$(git rev-parse --short HEAD 2>/dev/null || echo unknown) \
	  -t $(IMAGE) -f Containerfile .

# NATS and ClickHouse for the distributed compose file, from Debian's packages on the same base.
infra-images: base-image
	$(PODMAN) build --format docker --build-arg BASE=$(BASE_IMAGE) -t spyglass-nats:latest deploy/nats
	$(PODMAN) build --format docker --build-arg BASE=$(BASE_IMAGE) -t spyglass-clickhouse:latest deploy/clickhouse

compose-up: image
	@case "$(COMPOSE_FILE)" in *distributed*) $(MAKE) infra-images;; esac
	CONTAINERS_CONF=$(CURDIR)/$(PODMAN_CONF) podman-compose -p $(COMPOSE_PROJECT) -f $(COMPOSE_FILE) up -d

compose-down:
	CONTAINERS_CONF=$(CURDIR)/$(PODMAN_CONF) podman-compose -p $(COMPOSE_PROJECT) -f $(COMPOSE_FILE) down -t 0
	-$(PODMAN) network rm -f $(COMPOSE_PROJECT)_default >/dev/null 2>&1

# HotROD-like demo: several services calling each other, traced into a local all-in-one.
demo: setup
	$(BIN)/pip install --quiet -e '.[demo]'
	$(BIN)/spyglass demo
