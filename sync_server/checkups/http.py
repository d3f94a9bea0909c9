"""A clinic over HTTP: the JSON the adapter interface maps to (``devtools/clinic.py`` speaks it).

- ``GET  {url}/v1/slots?from=<iso>&to=<iso>`` → ``{"slots": [{"id", "starts_at", "ends_at",
  "kind"}]}``
- ``POST {url}/v1/bookings`` ``{"slot_id", "patient_ref"}`` → 201 ``{"ref", "video_url"}``,
  409 when the slot is taken
- ``DELETE {url}/v1/bookings/<ref>`` → 204 (404 when unknown: already gone)

Every request carries ``Authorization: Bearer <CLINIC_TOKEN>``. Timeouts, refused connections
and 5xx are :class:`ClinicUnavailableError`; the caller decides what the resident is told.
"""

from __future__ import annotations

import json
import urllib.error
import urllib.parse
import urllib.request
from datetime import datetime
from typing import Any

from sync_server.checkups.adapter import (
    ClinicBooking,
    ClinicSlot,
    ClinicUnavailableError,
    SlotTakenError,
)


class HttpClinic:
    """:class:`~sync_server.checkups.adapter.ClinicAdapter` over HTTP."""

    def __init__(self, name: str, url: str, token: str, timeout_s: float = 5.0) -> None:
        if not url.startswith(("http://", "https://")):
            raise ValueError("CLINIC_URL must be an http(s) URL")
        self.name = name
        self._url = url.rstrip("/")
        self._token = token
        self._timeout_s = timeout_s

    def _call(self, method: str, path: str, body: dict[str, Any] | None = None) -> tuple[int, Any]:
        data = json.dumps(body).encode() if body is not None else None
        request = urllib.request.Request(  # noqa: S310 - the URL is checked to be http(s)
            self._url + path,
            data=data,
            method=method,
            headers={
                "Authorization": f"Bearer {self._token}",
                "Content-Type": "application/json",
                "Accept": "application/json",
            },
        )
        try:
            with urllib.request.urlopen(request, timeout=self._timeout_s) as response:  # noqa: S310
                raw = response.read()
                return response.status, json.loads(raw) if raw else None
        except urllib.error.HTTPError as exc:
            if exc.code >= 500:
                raise ClinicUnavailableError(f"clinic answered {exc.code}") from None
            return exc.code, None
        except (OSError, ValueError) as exc:  # refused, timed out, not JSON
            raise ClinicUnavailableError(f"clinic unreachable: {type(exc).__name__}") from None

    def free_slots(self, start: datetime, end: datetime) -> list[ClinicSlot]:
        """The clinic's free slots between ``start`` and ``end``."""
        query = urllib.parse.urlencode({"from": start.isoformat(), "to": end.isoformat()})
        status, body = self._call("GET", f"/v1/slots?{query}")
        if status != 200 or not isinstance(body, dict):
            raise ClinicUnavailableError(f"clinic answered {status} to a slot list")
        try:
            return [
                ClinicSlot(
                    slot_id=str(item["id"]),
                    starts_at=datetime.fromisoformat(item["starts_at"]),
                    ends_at=datetime.fromisoformat(item["ends_at"]),
                    kind=str(item.get("kind") or "general"),
                )
                for item in body["slots"]
            ]
        except (KeyError, TypeError, ValueError):
            raise ClinicUnavailableError("clinic sent a malformed slot list") from None

    def book(self, slot_id: str, patient_ref: str) -> ClinicBooking:
        """Book ``slot_id`` for ``patient_ref``."""
        status, body = self._call(
            "POST", "/v1/bookings", {"slot_id": slot_id, "patient_ref": patient_ref}
        )
        if status == 409:
            raise SlotTakenError(slot_id)
        if status != 201 or not isinstance(body, dict):
            raise ClinicUnavailableError(f"clinic answered {status} to a booking")
        try:
            return ClinicBooking(clinic_ref=str(body["ref"]), video_url=str(body["video_url"]))
        except KeyError:
            raise ClinicUnavailableError("clinic sent a malformed booking") from None

    def cancel(self, clinic_ref: str) -> None:
        """Cancel ``clinic_ref``; an unknown one is already gone."""
        status, _ = self._call("DELETE", f"/v1/bookings/{urllib.parse.quote(clinic_ref, safe='')}")
        if status not in (200, 204, 404):
            raise ClinicUnavailableError(f"clinic answered {status} to a cancellation")
