"""The event bus: outbox relay, in-process dispatch, and (later) Kafka and Redis fan-out."""
