"""``dcs-provision broker config``: Mosquitto with client certificates, the ACL and the CRL.

``dcs-provision broker emqx``: the same identities and rights for an EMQX 5 cluster.
"""

from __future__ import annotations

from pathlib import Path

import click
from rich.console import Console

from provisioning.broker import server_identities
from provisioning.broker_emqx import write_emqx_config
from provisioning.broker_tls import write_broker_config
from provisioning.cli.common import ca_dir_option, open_ca, passphrase_option


def server_processes(command):
    """The worker-count options both configurations take (one identity per process)."""
    for option in reversed(
        [
            click.option("--ingest-workers", default=2, show_default=True, help="dcs-ingest@1..N"),
            click.option("--kiosk-workers", default=1, show_default=True),
            click.option("--replica-workers", default=1, show_default=True),
        ]
    ):
        command = option(command)
    return command


@click.group()
def broker() -> None:
    """The fleet's MQTT broker."""


@broker.command("config")
@ca_dir_option
@passphrase_option
@click.option("--out", type=click.Path(file_okay=False, path_type=Path), required=True)
@click.option("--host", default="0.0.0.0", show_default=True, help="Address to listen on.")  # noqa: S104 - a broker listens for the fleet
@click.option("--port", default=8883, show_default=True)
@click.option("--hostname", "hostnames", multiple=True, help="Names stations use for it.")
@server_processes
def config(
    ca_dir: Path,
    passphrase_file: Path | None,
    out: Path,
    host: str,
    port: int,
    hostnames: tuple[str, ...],
    ingest_workers: int,
    kiosk_workers: int,
    replica_workers: int,
) -> None:
    """Write mosquitto.conf, its certificate, one per server process, the ACL and the CRL."""
    authority = open_ca(ca_dir, passphrase_file)
    identities = server_identities(ingest_workers, kiosk_workers, replica_workers)
    conf = write_broker_config(
        authority,
        out,
        host=host,
        port=port,
        hostnames=hostnames or ("localhost", "127.0.0.1"),
        identities=identities,
    )
    console = Console()
    console.print(f"wrote {conf}")
    console.print(
        f"server processes: MQTT_CERT_DIR = {out / 'clients'} "
        f"(one certificate each: {', '.join(identities)})",
        soft_wrap=True,
    )
    console.print(
        "after each revocation, and daily (the CRL lapses after 30 days): "
        f"dcs-provision ca crl refresh --broker-dir {out} --reload-command ...",
        soft_wrap=True,
    )


@broker.command("emqx")
@click.option("--out", type=click.Path(file_okay=False, path_type=Path), required=True)
@click.option(
    "--tls-dir",
    type=click.Path(file_okay=False, path_type=Path),
    help="Where `broker config` wrote chain.pem and broker.*.pem (default: --out).",
)
@click.option("--host", default="0.0.0.0", show_default=True, help="Address to listen on.")  # noqa: S104 - a broker listens for the fleet
@click.option("--port", default=8883, show_default=True)
@server_processes
def emqx(
    out: Path,
    tls_dir: Path | None,
    host: str,
    port: int,
    ingest_workers: int,
    kiosk_workers: int,
    replica_workers: int,
) -> None:
    """Write acl.conf and emqx.conf for EMQX 5: the rights and certificates of `broker config`."""
    identities = server_identities(ingest_workers, kiosk_workers, replica_workers)
    acl, conf = write_emqx_config(out, tls_dir=tls_dir, host=host, port=port, identities=identities)
    console = Console()
    console.print(f"wrote {acl}")
    console.print(f"wrote {conf} (append it to every node's emqx.conf)", soft_wrap=True)
    certificates = tls_dir or out
    if not (certificates / "chain.pem").exists():
        console.print(
            f"no chain.pem in {certificates} yet: the certificates come from "
            f"dcs-provision broker config --out {certificates}",
            soft_wrap=True,
        )
    console.print(
        "revocation: EMQX does not read crl.pem; also ban a revoked station's id (docs/scale.md)",
        soft_wrap=True,
    )
