"""Security: who is calling (``principal``), shared by authentication and tenancy."""
