"""``spyglass demo``: a small ride-dispatch application in the spirit of Jaeger's HotROD.

Five services run in one process, each on its own 127.0.0.1 socket, calling each other over
real HTTP and gRPC: ``frontend`` (spyglass.client) asks ``customer`` (OpenTelemetry SDK, with a
``sqlite`` database) who is calling, ``driver`` (spyglass.client, gRPC, with a ``redis``-like
cache) for the nearest drivers and ``route`` (OpenTelemetry SDK) for each route, then publishes
the dispatch on a message queue that ``notifier`` (OpenTelemetry SDK) consumes in a new trace
linked to the producer's span. Baggage (``customer``, ``session``) travels with every call;
some customers are slow (a lock held in the database), some drivers time out in the cache and
one customer does not exist (an error). ``app`` assembles it and drives load; ``services``
holds the services and ``tracing`` the two kinds of tracer."""
