"""The fleet's certificate authority: an offline root, an intermediate that signs, the CRL.

Layout of a CA directory (``ca init``)::

    root.crt.pem, root.key.pem                   the root (keep offline; key encrypted)
    intermediate.crt.pem, intermediate.key.pem   signs stations, the broker, servers, bundles
    chain.pem                                    intermediate + root, what clients trust
    crl.pem                                      revoked serials, signed by the intermediate
    issued.json                                  every certificate issued, for revocation

Keys are ECDSA P-256, the CA keys encrypted with the passphrase. A station's identity is
its certificate's common name (= the station id, also a DNS SAN): Mosquitto's
``use_identity_as_username`` turns it into the MQTT username the ACL confines.
"""

from __future__ import annotations

import datetime as dt
import ipaddress
import json
import os
from dataclasses import dataclass
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from contract.topics import RESERVED_IDENTITY_PREFIX, STATION_ID_PATTERN, is_valid_station_id

ROOT_DAYS = 20 * 365
INTERMEDIATE_DAYS = 10 * 365
LEAF_DAYS = 2 * 365
#: A CRL's validity (nextUpdate - now). Mosquitto refuses every client once the CRL it holds
#: has passed nextUpdate, so ``ca crl refresh`` re-signs it daily (a systemd timer).
CRL_DAYS = 30
ORGANISATION = "Digital Citizen Station fleet"


class PkiError(Exception):
    """A CA operation that cannot be done; the message says why."""


def _now() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


def _name(common_name: str) -> x509.Name:
    return x509.Name(
        [
            x509.NameAttribute(NameOID.ORGANIZATION_NAME, ORGANISATION),
            x509.NameAttribute(NameOID.COMMON_NAME, common_name),
        ]
    )


def _write_key(path: Path, key: ec.EllipticCurvePrivateKey, passphrase: bytes | None) -> None:
    encryption = (
        serialization.BestAvailableEncryption(passphrase)
        if passphrase
        else serialization.NoEncryption()
    )
    path.write_bytes(
        key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, encryption)
    )
    path.chmod(0o600)


def _write_atomically(path: Path, data: bytes) -> None:
    """Replace ``path`` in one step: a reader (the broker) never sees half a file."""
    partial = path.with_name(path.name + ".partial")
    partial.write_bytes(data)
    partial.chmod(0o644)  # a CRL is public; the broker's own user must read it
    os.replace(partial, path)


def _crl_number(crl: x509.CertificateRevocationList) -> int:
    """The CRL's number extension, 0 when it has none (CRLs published before it was set)."""
    try:
        return crl.extensions.get_extension_for_class(x509.CRLNumber).value.crl_number
    except x509.ExtensionNotFound:
        return 0


def _pem(cert: x509.Certificate) -> bytes:
    return cert.public_bytes(serialization.Encoding.PEM)


def _ca_cert(
    subject: str,
    key: ec.EllipticCurvePrivateKey,
    issuer: x509.Certificate | None,
    issuer_key: ec.EllipticCurvePrivateKey,
    days: int,
    path_length: int,
) -> x509.Certificate:
    now = _now()
    builder = (
        x509.CertificateBuilder()
        .subject_name(_name(subject))
        .issuer_name(issuer.subject if issuer else _name(subject))
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(minutes=5))
        .not_valid_after(now + dt.timedelta(days=days))
        .add_extension(x509.BasicConstraints(ca=True, path_length=path_length), critical=True)
        .add_extension(
            x509.KeyUsage(
                digital_signature=True,
                content_commitment=False,
                key_encipherment=False,
                data_encipherment=False,
                key_agreement=False,
                key_cert_sign=True,
                crl_sign=True,
                encipher_only=False,
                decipher_only=False,
            ),
            critical=True,
        )
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), False)
    )
    return builder.sign(issuer_key, hashes.SHA256())


@dataclass
class CertificateAuthority:
    """An opened CA directory (the intermediate's key decrypted in memory)."""

    directory: Path
    intermediate: x509.Certificate
    intermediate_key: ec.EllipticCurvePrivateKey
    root: x509.Certificate

    @classmethod
    def init(cls, directory: Path, passphrase: bytes) -> CertificateAuthority:
        """Make the root and the intermediate in an empty directory."""
        directory = Path(directory)
        if (directory / "root.crt.pem").exists():
            raise PkiError(f"{directory} already holds a CA; refusing to overwrite it")
        if len(passphrase) < 12:
            raise PkiError("the CA passphrase must be at least 12 characters")
        directory.mkdir(parents=True, exist_ok=True)
        directory.chmod(0o700)
        root_key = ec.generate_private_key(ec.SECP256R1())
        root = _ca_cert("DCS fleet root CA", root_key, None, root_key, ROOT_DAYS, 1)
        key = ec.generate_private_key(ec.SECP256R1())
        intermediate = _ca_cert("DCS fleet issuing CA", key, root, root_key, INTERMEDIATE_DAYS, 0)
        _write_key(directory / "root.key.pem", root_key, passphrase)
        _write_key(directory / "intermediate.key.pem", key, passphrase)
        (directory / "root.crt.pem").write_bytes(_pem(root))
        (directory / "intermediate.crt.pem").write_bytes(_pem(intermediate))
        (directory / "chain.pem").write_bytes(_pem(intermediate) + _pem(root))
        (directory / "issued.json").write_text("[]")
        ca = cls(directory, intermediate, key, root)
        ca.publish_crl()
        return ca

    @classmethod
    def open(cls, directory: Path, passphrase: bytes) -> CertificateAuthority:
        """Open an existing CA; a wrong passphrase is a clear error."""
        directory = Path(directory)
        try:
            key = serialization.load_pem_private_key(
                (directory / "intermediate.key.pem").read_bytes(), passphrase
            )
            intermediate = x509.load_pem_x509_certificate(
                (directory / "intermediate.crt.pem").read_bytes()
            )
            root = x509.load_pem_x509_certificate((directory / "root.crt.pem").read_bytes())
        except FileNotFoundError as exc:
            raise PkiError(f"no CA in {directory} (run `dcs-provision ca init`): {exc}") from None
        except (ValueError, TypeError):
            raise PkiError("wrong CA passphrase") from None
        assert isinstance(key, ec.EllipticCurvePrivateKey)
        return cls(directory, intermediate, key, root)

    # -- issuing -------------------------------------------------------------------------

    def issue(
        self,
        common_name: str,
        *,
        kind: str,
        days: int = LEAF_DAYS,
        hosts: tuple[str, ...] = (),
        not_before: dt.datetime | None = None,
    ) -> tuple[ec.EllipticCurvePrivateKey, x509.Certificate]:
        """A key and a certificate: ``kind`` is ``client`` (stations, workers) or ``server``."""
        key, cert = self._sign(common_name, kind, days, hosts, not_before)
        self._record([(common_name, kind, cert)])
        return key, cert

    def issue_many(
        self, common_names: list[str], *, kind: str, days: int = LEAF_DAYS
    ) -> list[tuple[ec.EllipticCurvePrivateKey, x509.Certificate]]:
        """Keys and certificates for many names, recorded in one write of the register
        (issuing one by one rewrites it each time: minutes for a city's fleet)."""
        issued = [self._sign(name, kind, days, (), None) for name in common_names]
        self._record(
            [(name, kind, cert) for name, (_, cert) in zip(common_names, issued, strict=True)]
        )
        return issued

    def _sign(
        self,
        common_name: str,
        kind: str,
        days: int,
        hosts: tuple[str, ...],
        not_before: dt.datetime | None,
    ) -> tuple[ec.EllipticCurvePrivateKey, x509.Certificate]:
        key = ec.generate_private_key(ec.SECP256R1())
        start = not_before or (_now() - dt.timedelta(minutes=5))
        names: list[x509.GeneralName] = [x509.DNSName(common_name)]
        for host in hosts:
            try:
                names.append(x509.IPAddress(ipaddress.ip_address(host)))
            except ValueError:
                names.append(x509.DNSName(host))
        usage = (
            ExtendedKeyUsageOID.SERVER_AUTH if kind == "server" else ExtendedKeyUsageOID.CLIENT_AUTH
        )
        cert = (
            x509.CertificateBuilder()
            .subject_name(_name(common_name))
            .issuer_name(self.intermediate.subject)
            .public_key(key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(start)
            .not_valid_after(start + dt.timedelta(days=days))
            .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
            .add_extension(x509.SubjectAlternativeName(names), critical=False)
            .add_extension(x509.ExtendedKeyUsage([usage]), critical=False)
            .add_extension(
                x509.AuthorityKeyIdentifier.from_issuer_public_key(
                    self.intermediate_key.public_key()
                ),
                critical=False,
            )
            .sign(self.intermediate_key, hashes.SHA256())
        )
        return key, cert

    def _record(self, certificates: list[tuple[str, str, x509.Certificate]]) -> None:
        issued = self._issued()
        issued += [
            {
                "name": name,
                "kind": kind,
                "serial": format(cert.serial_number, "x"),
                "not_after": cert.not_valid_after_utc.isoformat(),
                "revoked_at": None,
            }
            for name, kind, cert in certificates
        ]
        self._save_issued(issued)

    def issue_station(
        self, station_id: str, *, days: int = LEAF_DAYS, not_before: dt.datetime | None = None
    ) -> tuple[ec.EllipticCurvePrivateKey, x509.Certificate]:
        """A station's client certificate; refuses an id that is not a station's.

        The broker makes the common name the MQTT username and the client id, so a
        certificate named ``dcs-server`` or ``dcs-ingest-1`` would carry a server process's
        access: the CA itself refuses it, whatever tool asks.
        """
        if not is_valid_station_id(station_id):
            raise PkiError(
                f"refusing a station certificate for {station_id!r}: a station id matches "
                f"{STATION_ID_PATTERN} and never starts with {RESERVED_IDENTITY_PREFIX!r} "
                "(the server's identities)"
            )
        return self.issue(station_id, kind="client", days=days, not_before=not_before)

    def chain_pem(self) -> bytes:
        """Intermediate then root."""
        return _pem(self.intermediate) + _pem(self.root)

    # -- revocation ----------------------------------------------------------------------

    def revoke(self, common_name: str) -> list[str]:
        """Revoke every live certificate of ``common_name``; republish the CRL. Serials."""
        issued = self._issued()
        revoked = []
        for entry in issued:
            if entry["name"] == common_name and entry["revoked_at"] is None:
                entry["revoked_at"] = _now().isoformat()
                revoked.append(entry["serial"])
        if not revoked:
            raise PkiError(f"no live certificate for {common_name}")
        self._save_issued(issued)
        self.publish_crl()
        return revoked

    def publish_crl(self, days: int = CRL_DAYS, *, carry_from: Path | None = None) -> Path:
        """Write ``crl.pem`` with every revoked serial, signed by the intermediate.

        ``carry_from`` is a CRL already published (the broker's copy): its revoked serials
        are kept even if this directory's ``issued.json`` does not know them, so re-signing
        from a stale copy of the CA can never quietly un-revoke a certificate. Its CRL number
        is continued, so a verifier can tell the newer of two CRLs.
        """
        now = _now()
        revoked: dict[int, dt.datetime] = {}
        number = 1
        previous = self._load_own_crl(carry_from) if carry_from is not None else None
        if previous is not None:
            for entry in previous:
                revoked[entry.serial_number] = entry.revocation_date_utc
            number = _crl_number(previous) + 1
        for issued in self._issued():
            if issued["revoked_at"]:
                serial = int(issued["serial"], 16)
                revoked.setdefault(serial, dt.datetime.fromisoformat(issued["revoked_at"]))
        own = self._load_own_crl(self.directory / "crl.pem")
        if own is not None:
            number = max(number, _crl_number(own) + 1)
        builder = (
            x509.CertificateRevocationListBuilder()
            .issuer_name(self.intermediate.subject)
            .last_update(now - dt.timedelta(minutes=5))
            .next_update(now + dt.timedelta(days=days))
            .add_extension(x509.CRLNumber(number), critical=False)
        )
        for serial, revoked_at in sorted(revoked.items()):
            builder = builder.add_revoked_certificate(
                x509.RevokedCertificateBuilder()
                .serial_number(serial)
                .revocation_date(revoked_at)
                .build()
            )
        crl = builder.sign(self.intermediate_key, hashes.SHA256())
        path = self.directory / "crl.pem"
        _write_atomically(path, crl.public_bytes(serialization.Encoding.PEM))
        return path

    def _load_own_crl(self, path: Path) -> x509.CertificateRevocationList | None:
        """The CRL at ``path`` if it exists; a CRL this intermediate did not sign is an error."""
        try:
            crl = x509.load_pem_x509_crl(path.read_bytes())
        except FileNotFoundError:
            return None
        except ValueError as exc:
            raise PkiError(f"{path} is not a PEM CRL: {exc}") from None
        if not crl.is_signature_valid(self.intermediate_key.public_key()):
            raise PkiError(f"{path} is not signed by this CA's intermediate; refusing to use it")
        return crl

    def _issued(self) -> list[dict]:
        return json.loads((self.directory / "issued.json").read_text())

    def _save_issued(self, issued: list[dict]) -> None:
        (self.directory / "issued.json").write_text(json.dumps(issued, indent=1))


def write_key_and_cert(
    directory: Path, stem: str, key: ec.EllipticCurvePrivateKey, cert: x509.Certificate
) -> tuple[Path, Path]:
    """``<stem>.key.pem`` (0600, unencrypted: a service reads it) and ``<stem>.crt.pem``."""
    directory.mkdir(parents=True, exist_ok=True)
    key_path, cert_path = directory / f"{stem}.key.pem", directory / f"{stem}.crt.pem"
    _write_key(key_path, key, None)
    cert_path.write_bytes(_pem(cert))
    return key_path, cert_path
