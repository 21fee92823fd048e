"""Names on the wire and in span tags that Jaeger clients and backends agree on.

Kept in one module so that propagators, samplers and the tracer cannot drift apart, and
so that the values match jaeger-client-python (``jaeger-reference.md`` E.7).
"""

from __future__ import annotations

import spyglass

# -- propagation headers ---------------------------------------------------------------
TRACE_ID_HEADER = "uber-trace-id"
BAGGAGE_HEADER_PREFIX = "uberctx-"
BAGGAGE_HEADER_KEY = "jaeger-baggage"
DEBUG_ID_HEADER_KEY = "jaeger-debug-id"

# -- span flags (Jaeger) ---------------------------------------------------------------
SAMPLED_FLAG = 0x01
DEBUG_FLAG = 0x02

# -- sampler tags on root spans (read by the backend's adaptive sampling) ---------------
SAMPLER_TYPE_TAG_KEY = "sampler.type"
SAMPLER_PARAM_TAG_KEY = "sampler.param"
SAMPLER_TYPE_CONST = "const"
SAMPLER_TYPE_PROBABILISTIC = "probabilistic"
SAMPLER_TYPE_RATE_LIMITING = "ratelimiting"
SAMPLER_TYPE_LOWER_BOUND = "lowerbound"
SAMPLER_TYPE_REMOTE = "remote"

# -- process tags ------------------------------------------------------------------------
CLIENT_VERSION = f"Python-spyglass-{spyglass.__version__}"
JAEGER_VERSION_TAG_KEY = "jaeger.version"
JAEGER_HOSTNAME_TAG_KEY = "hostname"
JAEGER_IP_TAG_KEY = "ip"

# -- defaults (jaeger-client-python's, so a migrated service behaves the same) -----------
DEFAULT_REPORTING_HOST = "localhost"
DEFAULT_REPORTING_PORT = 6831
DEFAULT_SAMPLING_PORT = 5778
DEFAULT_COLLECTOR_HTTP_PORT = 14268
DEFAULT_OTLP_HTTP_PORT = 4318
DEFAULT_SAMPLING_INTERVAL = 60.0
DEFAULT_SAMPLING_PROBABILITY = 0.001
DEFAULT_MAX_OPERATIONS = 2000
DEFAULT_FLUSH_INTERVAL = 1.0
DEFAULT_BATCH_SIZE = 10
DEFAULT_QUEUE_SIZE = 100
MAX_TAG_VALUE_LENGTH = 1024
MAX_TRACEBACK_LENGTH = 4096
UDP_MAX_PACKET_SIZE = 65_000

# OpenTracing's special tag that forces (> 0) or forbids (0) sampling.
SAMPLING_PRIORITY_TAG_KEY = "sampling.priority"
