"""``dcs-provision``: the field technician's tool, one module per command group.

Errors are clear messages with an exit code (1: a check or step failed, 2: bad input),
never a traceback.
"""

from __future__ import annotations

import click

from provisioning.cli.broker import broker
from provisioning.cli.ca import ca
from provisioning.cli.harden import harden
from provisioning.cli.station import station
from provisioning.cli.units import units
from provisioning.cli.watchdog import watchdog


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
def main() -> None:
    """Provision digital citizen stations and the central server."""


main.add_command(ca)
main.add_command(broker)
main.add_command(units)
main.add_command(harden)
main.add_command(station)
main.add_command(watchdog)
