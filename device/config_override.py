"""Settings changed remotely: an override of allowlisted keys on top of the station's config.

The station's TOML config sits in a bundle signed by the fleet CA, so a remote change cannot
be written into it. A ``config`` job (contract/rollout.py), once its server signature is
verified, is written to ``<data_dir>/config-override.json``; :func:`apply_override` lays it
over the TOML when the config is loaded. Only keys of the contract's allowlist
(``CONFIG_KEYS``: sync tuning and kiosk settings) are ever applied — the file is checked
again at each load, so a file edited on the SD card cannot reach identity, broker, keys,
devices or paths. A kiosk setting on a station without a kiosk is ignored (it must not
turn a headless station into a kiosk).
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

import msgspec

from contract.errors import ContractError
from contract.rollout import ConfigChange, check_settings
from device.atomic_file import write_atomically

log = logging.getLogger(__name__)

OVERRIDE_FILE = "config-override.json"


def override_path(data_dir: str | Path) -> Path:
    """Where the remote override of a station lives."""
    return Path(data_dir) / OVERRIDE_FILE


def read_override(data_dir: str | Path) -> ConfigChange | None:
    """The override in force, or ``None`` (none, or unreadable: logged, the base config rules)."""
    path = override_path(data_dir)
    try:
        return msgspec.json.decode(path.read_bytes(), type=ConfigChange)
    except FileNotFoundError:
        return None
    except (OSError, msgspec.DecodeError, ContractError) as exc:
        log.error("ignored the configuration override %s: %s", path, exc)
        return None


def write_override(data_dir: str | Path, change: ConfigChange | None) -> None:
    """Put ``change`` in force at the next load (``None`` removes the override); durable."""
    path = override_path(data_dir)
    if change is None:
        path.unlink(missing_ok=True)
        return
    path.parent.mkdir(parents=True, exist_ok=True)
    write_atomically(path, msgspec.json.encode(change))


def merged(base: ConfigChange | None, change: ConfigChange) -> ConfigChange:
    """``change`` laid over the override already in force (later settings win)."""
    settings = dict(base.settings) if base is not None else {}
    settings.update(change.settings)
    return ConfigChange(settings=settings, label=change.label)


def apply_override(data: dict[str, Any]) -> dict[str, Any]:
    """The config mapping ``data`` (parsed TOML) with the override of its data_dir applied."""
    data_dir = data.get("data_dir")
    if not isinstance(data_dir, str):
        return data
    change = read_override(data_dir)
    if change is None:
        return data
    try:
        settings = check_settings(change.settings)
    except ContractError as exc:
        log.error("ignored the configuration override: %s", exc)
        return data
    result = dict(data)
    for key, value in settings.items():
        section, name = key.split(".", 1)
        if section == "kiosk" and not isinstance(result.get("kiosk"), dict):
            continue
        table = dict(result.get(section) or {})
        table[name] = value
        result[section] = table
    return result
