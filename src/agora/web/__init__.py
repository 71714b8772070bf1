"""The web tier: the v1 REST API, SSE streams, authentication, rate limits, idempotency."""
