"""The durable buffer between collectors and ingesters (NATS JetStream) and its encoding."""
