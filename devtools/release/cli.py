"""``dcs-release keygen`` and ``dcs-release build``."""

from __future__ import annotations

from pathlib import Path

import click
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from contract.release import (
    ARCHES,
    ReleaseError,
    load_private_key,
    public_key_text,
    write_private_key,
)
from devtools.release.build import BuildError, BuildOptions, build_release
from devtools.release.lock import REPO
from devtools.release.wheelhouse import WheelhouseError


@click.group()
def main() -> None:
    """Build and sign station releases."""


@main.command()
@click.option("--out", type=click.Path(path_type=Path), required=True, help="Private key file.")
def keygen(out: Path) -> None:
    """Make the release signing key; print the public half for the stations' bundles."""
    key = Ed25519PrivateKey.generate()
    try:
        write_private_key(out, key)
    except FileExistsError:
        raise click.ClickException(f"{out} exists: a release key is never overwritten") from None
    click.echo(public_key_text(key.public_key()))


@main.command()
@click.option("--arch", type=click.Choice(ARCHES), required=True)
@click.option("--python", "python", default="3.11", show_default=True)
@click.option("--key", type=click.Path(exists=True, path_type=Path), required=True)
@click.option("--out", type=click.Path(file_okay=False, path_type=Path), required=True)
@click.option(
    "--source",
    type=click.Path(exists=True, file_okay=False, path_type=Path),
    default=None,
    help="The project checkout to build (default: this one).",
)
@click.option(
    "--find-links",
    type=click.Path(exists=True, file_okay=False, path_type=Path),
    default=None,
    help="Take the dependency wheels from this directory only (no index).",
)
@click.option(
    "--prebuilt",
    type=click.Path(exists=True, file_okay=False, path_type=Path),
    default=None,
    help="Wheels built on a target machine for packages that publish none (pyscard).",
)
def build(
    arch: str,
    python: str,
    key: Path,
    out: Path,
    source: Path | None,
    find_links: Path | None,
    prebuilt: Path | None,
) -> None:
    """Build a signed release artifact of the project for ARCH; print its path."""
    options = BuildOptions(
        arch=arch,
        python=python,
        source=source or REPO,
        find_links=find_links,
        prebuilt=prebuilt,
    )
    try:
        artifact = build_release(options, load_private_key(key), out)
    except (BuildError, WheelhouseError, ReleaseError) as exc:
        raise click.ClickException(str(exc)) from None
    click.echo(artifact)
