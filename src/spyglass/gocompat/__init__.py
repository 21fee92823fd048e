"""Go-compatible text forms (durations, RFC 3339 times) with Go's exact errors: Jaeger is
written in Go, and its users and tools see these texts in parameters and messages."""
