"""``python -m device.replica key --config station.toml``: the station's replica public key.

Prints the base64 public key the server's enrolment needs (``dcs-server replica enrol``),
making the key pair first if the station has none yet. ``status`` prints where the replica
stands (nothing personal).
"""

from __future__ import annotations

from pathlib import Path

import click

from device.config import load_config
from device.errors import StationError
from device.replica.keys import load_or_create_station_key, public_key_text

config_option = click.option(
    "--config",
    "config_path",
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    envvar="DCS_STATION_CONFIG",
    required=True,
)


@click.group()
def cli() -> None:
    """The station's replica."""


@cli.command()
@config_option
def key(config_path: Path) -> None:
    """Print this station's replica public key (base64)."""
    try:
        config = load_config(config_path)
        if config.replica is None:
            raise click.ClickException("the config has no [replica] section")
        private = load_or_create_station_key(Path(config.secrets_dir) / config.replica.key_file)
    except StationError as exc:
        raise click.ClickException(str(exc)) from None
    click.echo(public_key_text(private))


@cli.command()
@config_option
def status(config_path: Path) -> None:
    """Print the replica's building, cursor, as-of time and record count."""
    from device.replica.store import ReplicaStore
    from device.store import load_key, open_store

    try:
        config = load_config(config_path)
        with open_store(config.store_path, config.store_key_path, config.station_id) as store:
            state = ReplicaStore(store, load_key(config.store_key_path)).state()
    except StationError as exc:
        raise click.ClickException(str(exc)) from None
    for name, value in vars(state).items():
        click.echo(f"{name:16} {value}")


if __name__ == "__main__":
    cli()
