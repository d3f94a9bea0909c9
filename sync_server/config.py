"""Server configuration defaults; see :func:`sync_server.create_app` for the override order."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from contract.transport import BrokerSettings

DEFAULTS: dict[str, object] = {
    "DATABASE_URL": None,  # None: SQLite in the instance folder
    # The public tracking page with {number}, as the stations print it on receipts; the
    # citizens' SMS carry it (sync_server/petitions/notify.py).
    "TRACKING_URL": None,
    "SECRET_KEY": None,  # required outside tests
    "MQTT_HOST": "127.0.0.1",
    "MQTT_PORT": 1883,
    "MQTT_USERNAME": "dcs-server",
    "MQTT_PASSWORD": None,
    "MQTT_CA_FILE": None,
    "MQTT_CERT_FILE": None,
    "MQTT_KEY_FILE": None,
    # TLS: one certificate per process, <client id>.crt.pem/.key.pem (dcs-ingest-1,
    # dcs-kiosk-1, dcs-replica-1, dcs-commands), from `dcs-provision broker config`.
    "MQTT_CERT_DIR": None,
    # The broker's CRL (`dcs-provision broker config --out`/crl.pem, readable by the server's
    # user): the alarm rules warn before its nextUpdate, after which the broker refuses every
    # client. MQTT_CA_FILE, MQTT_CERT_FILE and MQTT_CERT_DIR's certificates are watched too.
    "MQTT_CRL_FILE": None,
    "INGEST_GROUP": "ingest",
    "INGEST_BATCH_SIZE": 500,
    # Replicas (sync_server/replicas): the Ed25519 key stations trust, how often the
    # publisher looks for record changes, how long a replica command waits for a station.
    "REPLICA_SIGNING_KEY_FILE": None,  # None: instance/replica-signing.key, made on first use
    "REPLICA_POLL_S": 5.0,
    "REPLICA_COMMAND_TTL_S": 24 * 3600,
    # Hardening (sync_server/security.py): PRODUCTION turns on HTTPS-only cookies, https URLs
    # and HSTS; PROXY_COUNT trusts that many reverse proxies' X-Forwarded-* headers.
    "PRODUCTION": False,
    "PROXY_COUNT": 0,
    "HSTS_MAX_AGE_S": 365 * 24 * 3600,
    "SESSION_COOKIE_HTTPONLY": True,
    "SESSION_COOKIE_SAMESITE": "Lax",
    # /metrics: per-station series (six per station) on top of the fleet-wide ones.
    "METRICS_PER_STATION": True,
    # Citizen-facing texts (sync_server/i18n.py): th, vi or en; pages may switch, SMS whose
    # reader's language is not known use this one.
    "DEFAULT_LANGUAGE": "th",
    # The deployment (contract/local_time.py): every time a page or an SMS shows is in this
    # IANA zone and calendar ("buddhist" or "gregorian"); the same as the stations'
    # [local_time]. Vietnam: "Asia/Ho_Chi_Minh" and "gregorian".
    "TIMEZONE": "Asia/Bangkok",
    "CALENDAR": "buddhist",
    # Kiosk services (sync_server/kiosk_services): a request older than this (by the
    # station's sent_at) is refused and nothing is done for it, so a code asked for during a
    # network drop is never texted later. Stations wait 5 s; the rest is clock margin.
    "KIOSK_REQUEST_MAX_AGE_S": 15.0,
}


class ServerConfigError(RuntimeError):
    """The server refuses to start with this configuration."""


def broker_settings(config: dict[str, Any]) -> BrokerSettings:
    """The server's broker connection from its configuration."""

    def path(key: str) -> Path | None:
        return Path(config[key]) if config.get(key) else None

    return BrokerSettings(
        host=config["MQTT_HOST"],
        port=int(config["MQTT_PORT"]),
        username=config["MQTT_USERNAME"],
        password=config["MQTT_PASSWORD"],
        ca_file=path("MQTT_CA_FILE"),
        cert_file=path("MQTT_CERT_FILE"),
        key_file=path("MQTT_KEY_FILE"),
        cert_dir=path("MQTT_CERT_DIR"),
    )
