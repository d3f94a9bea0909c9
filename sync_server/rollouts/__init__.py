"""Staged rollouts of releases and configuration changes (issue 13, items 2, 4 and 5).

``models.py`` the tables; ``releases.py`` the registry (upload, verify the release key's
signature, store); ``targets.py`` and ``waves.py`` who gets a rollout and when a wave moves
on; ``service.py`` create, advance, abort and roll back; ``jobs.py`` the signed job messages;
``delivery.py`` file blocks over MQTT within a per-station budget; ``worker.py`` the
``dcs-server rollouts run`` process; ``views.py`` the dashboard pages. See docs/updates.md.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

from flask import Flask

DEFAULTS: dict[str, object] = {
    # The release public key (base64 of the raw Ed25519 key): uploads must verify with it.
    "RELEASE_PUBLIC_KEY": None,
    "RELEASES_DIR": None,  # None: instance/releases
    "ROLLOUT_TICK_S": 5.0,
    # A job still "sent" (no report at all) after this long is sent again.
    "ROLLOUT_RESEND_S": 600.0,
    "ROLLOUT_DEADLINE_H": 72.0,
    "FILE_BYTES_FACTOR": 3.0,
}


def releases_dir(config: Mapping[str, Any], instance_path: str) -> Path:
    """Where release files are stored."""
    return Path(config.get("RELEASES_DIR") or Path(instance_path) / "releases")


def init_app(app: Flask) -> None:
    """Register the rollout pages and the configuration defaults."""
    from sync_server.rollouts.views import bp

    for key, value in DEFAULTS.items():
        app.config.setdefault(key, value)
    app.register_blueprint(bp)
