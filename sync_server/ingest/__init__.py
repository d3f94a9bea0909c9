"""MQTT ingest: apply each station transaction exactly once, answer live lookups."""
