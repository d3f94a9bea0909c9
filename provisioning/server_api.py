"""The central server's REST API as ``dcs-provision`` uses it: a URL and a bearer token.

The technician's laptop holds no server secret and no database address: it records
enrolments, rotations and decommissions through ``/api/v1`` with a token carrying the scopes
``stations:enroll`` and ``stations:command`` (``dcs-server api-token create``). Standard
library only (urllib). The token goes in the ``Authorization`` header and nowhere else: not
in a message, not in ``repr``. Redirects are refused so it is never sent to another address.
"""

from __future__ import annotations

import json
import ssl
import urllib.error
import urllib.request
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from urllib.parse import quote, urlsplit

#: What ``dcs-provision`` needs on the server.
ENROL_SCOPE = "stations:enroll"
COMMAND_SCOPE = "stations:command"
TOKEN_HINT = (
    f"dcs-server api-token create --name provisioning --scope {ENROL_SCOPE} --scope {COMMAND_SCOPE}"
)


class ServerApiError(Exception):
    """The server refused a request or could not be reached; the message says what to do."""


@dataclass(frozen=True)
class CertificateFacts:
    """What the server records of a station certificate."""

    serial: str  # lowercase hex, as the CA's issued.json and CRL name it
    sha256: str
    not_after: datetime

    @classmethod
    def of(cls, cert: Any) -> CertificateFacts:
        """The facts of a ``cryptography`` x509 certificate."""
        from cryptography.hazmat.primitives import hashes

        return cls(
            serial=format(cert.serial_number, "x"),
            sha256=cert.fingerprint(hashes.SHA256()).hex(),
            not_after=cert.not_valid_after_utc,
        )

    def as_json(self) -> dict[str, str]:
        """The request body's ``certificate``."""
        return {
            "serial": self.serial,
            "sha256": self.sha256,
            "not_after": self.not_after.astimezone(UTC).isoformat(),
        }


class _NoRedirects(urllib.request.HTTPRedirectHandler):
    """A redirect would carry the token to wherever it points: refuse it instead."""

    def redirect_request(self, req, fp, code, msg, headers, newurl):  # type: ignore[no-untyped-def]
        raise ServerApiError(
            f"the server redirected {req.full_url} to {newurl}: use that address as --server-url"
        )


@dataclass(frozen=True)
class ServerApi:
    """The server at ``url`` (e.g. ``https://dcs.example.org``), called with ``token``."""

    url: str
    token: str = field(repr=False)
    ca_file: Path | None = None
    timeout_s: float = 30.0  # a decommission waits for the broker to take the wipe

    def __post_init__(self) -> None:
        parts = urlsplit(self.url)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise ServerApiError(f"the server URL must be http(s)://host[:port], not {self.url!r}")
        if self.ca_file is not None and parts.scheme != "https":
            raise ServerApiError("a CA file is only for an https server URL")
        # The base URL, whether given with or without the API's prefix.
        base = self.url.rstrip("/").removesuffix("/api/v1")
        object.__setattr__(self, "url", base)

    @property
    def sends_token_in_clear(self) -> bool:
        """http to another machine: anyone on the path can read the token."""
        parts = urlsplit(self.url)
        return parts.scheme == "http" and parts.hostname not in ("127.0.0.1", "localhost", "::1")

    def check_token(self, *scopes: str) -> str:
        """The token's name, once the server has confirmed it carries every one of ``scopes``.

        Called before a step that cannot be undone (a revocation, a re-signed bundle), so a
        wrong token or address stops the command before it changes anything.
        """
        _, info = self._call("GET", "/api/v1/token")
        missing = [scope for scope in scopes if scope not in info.get("scopes", [])]
        if missing:
            raise ServerApiError(
                f"the API token {info.get('name', '?')!r} lacks the scope {' and '.join(missing)}; "
                f"ask an administrator for one made with: {TOKEN_HINT}"
            )
        return str(info.get("name", ""))

    def record_enrolment(
        self, station_id: str, certificate: CertificateFacts, technician: str | None
    ) -> tuple[dict[str, Any], bool]:
        """Record the station's enrolment: the record, and ``False`` if it was on record."""
        status, record = self._call(
            "POST", _station_path(station_id, "enrolments"), _event(certificate, technician)
        )
        return record, status == 201

    def record_rotation(
        self, station_id: str, certificate: CertificateFacts, technician: str | None
    ) -> tuple[dict[str, Any], bool]:
        """Record the station's new certificate: the record, and ``False`` if it was on record."""
        status, record = self._call(
            "POST", _station_path(station_id, "rotations"), _event(certificate, technician)
        )
        return record, status == 201

    def record_replacement(
        self, station_id: str, certificate: CertificateFacts, technician: str | None
    ) -> tuple[dict[str, Any], bool]:
        """Record a replacement card's certificate: the record, ``False`` if it was on record."""
        status, record = self._call(
            "POST", _station_path(station_id, "replacements"), _event(certificate, technician)
        )
        return record, status == 201

    def petition_serial(self, station_id: str) -> int:
        """The highest petition serial the server applied from the station (0: none)."""
        answer = self._call("GET", _station_path(station_id, "counters"))[1]
        serial = answer.get("petition_serial")
        if not isinstance(serial, int) or isinstance(serial, bool) or serial < 0:
            raise ServerApiError(f"the server's counters for {station_id} make no sense: {answer}")
        return serial

    def decommission(
        self, station_id: str, revoked_serials: list[str], technician: str | None
    ) -> dict[str, Any]:
        """Mark the revoked certificates decommissioned and queue the station's replica wipe."""
        body: dict[str, Any] = {"revoked_serials": revoked_serials}
        if technician:
            body["technician"] = technician
        return self._call("POST", _station_path(station_id, "decommission"), body)[1]

    def _call(
        self, method: str, path: str, body: dict[str, Any] | None = None
    ) -> tuple[int, dict[str, Any]]:
        """The answer's status and JSON body; :class:`ServerApiError` for anything else."""
        url = self.url + path
        headers = {"Authorization": f"Bearer {self.token}", "Accept": "application/json"}
        data = None
        if body is not None:
            data = json.dumps(body).encode()
            headers["Content-Type"] = "application/json"
        request = urllib.request.Request(url, data=data, method=method, headers=headers)  # noqa: S310 - http(s) only, checked above
        try:
            with self._opener().open(request, timeout=self.timeout_s) as response:
                return response.status, json.load(response)
        except urllib.error.HTTPError as exc:
            raise ServerApiError(_refusal(method, url, exc)) from None
        except (urllib.error.URLError, OSError) as exc:
            raise ServerApiError(_unreachable(self.url, exc)) from None
        except ValueError:  # not JSON: another service answers at this address
            raise ServerApiError(f"{url} did not answer JSON: is it the DCS server?") from None

    def _opener(self) -> urllib.request.OpenerDirector:
        handlers: list[urllib.request.BaseHandler] = [_NoRedirects()]
        if self.url.startswith("https:"):
            context = ssl.create_default_context(
                cafile=str(self.ca_file) if self.ca_file is not None else None
            )
            handlers.append(urllib.request.HTTPSHandler(context=context))
        return urllib.request.build_opener(*handlers)


def _station_path(station_id: str, action: str) -> str:
    return f"/api/v1/stations/{quote(station_id, safe='')}/{action}"


def _event(certificate: CertificateFacts, technician: str | None) -> dict[str, Any]:
    body: dict[str, Any] = {"certificate": certificate.as_json()}
    if technician:
        body["technician"] = technician
    return body


def _refusal(method: str, url: str, error: urllib.error.HTTPError) -> str:
    """A message for an HTTP error: the API's own message when it sent one."""
    try:
        payload = json.loads(error.read() or b"{}")
        message = payload.get("message") if isinstance(payload, dict) else None
        details = payload.get("errors") if isinstance(payload, dict) else None
    except ValueError:
        message, details = None, None
    if error.code == 401:
        return (
            f"the server refused the API token ({message or 'unknown or revoked'}); "
            f"ask an administrator for one made with: {TOKEN_HINT}"
        )
    if error.code == 403:
        return (
            f"the server refused: {message or 'the token lacks a scope'}; "
            f"ask an administrator for a token made with: {TOKEN_HINT}"
        )
    if message is None:
        return f"{method} {url} answered {error.code} {error.reason}: is it the DCS server's URL?"
    return f"the server answered {error.code}: {message}" + (f" {details}" if details else "")


def _unreachable(url: str, error: BaseException) -> str:
    reason = getattr(error, "reason", error)
    if isinstance(reason, ssl.SSLCertVerificationError):
        return (
            f"cannot verify the server's certificate at {url} ({reason.verify_message}); "
            "pass its CA with --server-ca"
        )
    if isinstance(reason, ConnectionRefusedError):
        return f"cannot reach the server at {url}: connection refused (is it running there?)"
    if isinstance(reason, TimeoutError):
        return f"cannot reach the server at {url}: no answer in time"
    return f"cannot reach the server at {url}: {reason}"
