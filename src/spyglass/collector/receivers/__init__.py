"""Receivers: the HTTP and gRPC plumbing that turns requests into ``processor.submit`` calls."""
