"""Collectors on every core (``--workers N``): N worker processes share the receivers'
ports (SO_REUSEPORT) and decode; the parent keeps the one storage writer (see
``supervisor.py`` and docs/pipeline.md)."""
