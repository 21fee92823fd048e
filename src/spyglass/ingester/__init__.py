"""The ingester: drains the JetStream buffer into storage (Jaeger's ingester, for NATS)."""
