"""Storage: one interface (``storage.api``), one folder per backend, one registry."""
