"""Spyglass: distributed tracing that speaks Jaeger."""
__version__ = "0.1.0"
