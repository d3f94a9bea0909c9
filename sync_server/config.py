"""Server configuration defaults; see :func:`sync_server.create_app` for the override order."""

from __future__ import annotations

DEFAULTS: dict[str, object] = {
    "DATABASE_URL": None,  # None: SQLite in the instance folder
    "SECRET_KEY": None,  # required outside tests
    "MQTT_HOST": "127.0.0.1",
    "MQTT_PORT": 1883,
    "MQTT_USERNAME": "dcs-server",
    "MQTT_PASSWORD": None,
    "MQTT_CA_FILE": None,
    "MQTT_CERT_FILE": None,
    "MQTT_KEY_FILE": None,
    "INGEST_GROUP": "ingest",
    "INGEST_BATCH_SIZE": 500,
}


class ServerConfigError(RuntimeError):
    """The server refuses to start with this configuration."""
