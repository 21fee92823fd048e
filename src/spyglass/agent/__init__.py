"""The agent: UDP receivers for what Jaeger clients emit (Thrift ``emitBatch`` and
``emitZipkinBatch`` packets), feeding the span processor or forwarding to a collector."""
