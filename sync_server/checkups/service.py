"""Booking and cancelling check-ups for the card holder at a station.

Booking reserves the slot in our database first (a ``pending`` row whose unique
``active_slot`` and ``active_citizen`` make a second booking of the slot, or of the
resident, fail on the constraint), then asks the clinic; the clinic's answer (its reference
and the video-call link) and the SMS are committed together. A clinic that refuses or fails
releases the reservation. Cancelling asks the clinic first, then frees the slot and queues
the "cancelled" SMS in one commit. Every step is audited with the station as actor.
"""

from __future__ import annotations

import hashlib
import hmac
import re
import secrets
from collections.abc import Callable, Mapping
from datetime import UTC, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import peewee

from contract.checkups import CheckupBooking as BookingView
from contract.checkups import CheckupSlot
from sync_server.audit import audit
from sync_server.checkups.adapter import ClinicAdapter, ClinicSlot, SlotTakenError
from sync_server.checkups.holder import card_read_here, phone_on_file
from sync_server.checkups.models import CheckupBooking
from sync_server.checkups.texts import BOOKED_TEMPLATE, CANCELLED_TEMPLATE, timezone_of
from sync_server.config import ServerConfigError
from sync_server.db import utc_now, write_transaction
from sync_server.sms.gateway import mask_phone
from sync_server.sms.outbox import Outbox, enqueue

#: How far ahead slots are offered, and at most how many.
HORIZON = timedelta(days=14)
MAX_SLOTS = 40
PENDING, BOOKED, CANCELLED = "pending", "booked", "cancelled"


class CheckupRefusedError(Exception):
    """The request cannot go ahead; ``reason`` is a code the kiosk translates."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


def _utc(value: datetime | str) -> datetime:
    if isinstance(value, str):
        value = datetime.fromisoformat(value)
    return value if value.tzinfo else value.replace(tzinfo=UTC)


#: The clinic's short name, the prefix of its slot ids (``contract.checkups.SlotId``).
CLINIC_NAME = re.compile(r"^[a-z0-9][a-z0-9-]{0,31}$")


class CheckupService:
    """Check-ups at one clinic (``clinic``) for the residents at the stations."""

    def __init__(
        self,
        clinic: ClinicAdapter | None,
        outbox: Outbox,
        *,
        secret: bytes,
        timezone: str = "Asia/Bangkok",
        clock: Callable[[], datetime] = utc_now,
    ) -> None:
        self.clinic = clinic
        self.outbox = outbox
        self._secret = secret
        self.zone = ZoneInfo(timezone)
        self._clock = clock

    @classmethod
    def from_config(cls, config: Mapping[str, Any], outbox: Outbox) -> CheckupService:
        """The clinic of ``CLINIC_URL`` (none configured: every request says so)."""
        from sync_server.checkups.http import HttpClinic

        url = config.get("CLINIC_URL")
        name = str(config.get("CLINIC_NAME") or "clinic")
        if not CLINIC_NAME.match(name):
            # It prefixes every slot id the kiosk is sent: a bad one would fail every request.
            raise ServerConfigError(f"CLINIC_NAME {name!r}: lowercase letters, digits and '-'")
        clinic = (
            HttpClinic(
                name,
                str(url),
                str(config.get("CLINIC_TOKEN") or ""),
                float(config.get("CLINIC_TIMEOUT_S") or 5.0),
            )
            if url
            else None
        )
        secret = config["SECRET_KEY"]
        return cls(
            clinic,
            outbox,
            secret=secret.encode() if isinstance(secret, str) else bytes(secret),
            timezone=timezone_of(config),
        )

    # -- what the kiosk asks ---------------------------------------------------------------

    def slots(self, station_id: str, citizen_id: str) -> list[CheckupSlot]:
        """The clinic's free slots that nobody here holds, soonest first."""
        clinic = self._clinic()
        self._holder(station_id, citizen_id)
        now = self._clock()
        held = {
            row.active_slot
            for row in CheckupBooking.select(CheckupBooking.active_slot).where(
                CheckupBooking.active_slot.is_null(False)
            )
        }
        free = [
            self._slot_view(slot)
            for slot in clinic.free_slots(now, now + HORIZON)
            if slot.starts_at > now and self._slot_id(slot.slot_id) not in held
        ]
        return free[:MAX_SLOTS]

    def book(
        self, station_id: str, citizen_id: str, slot: str, language: str | None
    ) -> BookingView:
        """Book ``slot`` for the card holder; the SMS with the time and link is on its way."""
        clinic = self._clinic()
        self._holder(station_id, citizen_id)
        phone = phone_on_file(citizen_id)
        if phone is None:
            raise CheckupRefusedError("no_phone")
        name, _, clinic_slot = slot.partition(":")
        now = self._clock()
        chosen = next(
            (s for s in clinic.free_slots(now, now + HORIZON) if s.slot_id == clinic_slot),
            None,
        )
        if name != clinic.name or chosen is None or chosen.starts_at <= now:
            raise CheckupRefusedError("slot_taken")
        row = self._reserve(station_id, citizen_id, slot, chosen, language)
        try:
            answer = clinic.book(clinic_slot, self._patient_ref(citizen_id))
        except BaseException as exc:
            with write_transaction():
                row.delete_instance()
            if isinstance(exc, SlotTakenError):
                raise CheckupRefusedError("slot_taken") from None
            raise
        with write_transaction():
            row.state, row.clinic_ref, row.video_url = BOOKED, answer.clinic_ref, answer.video_url
            row.save()
            message_id = enqueue(
                phone,
                BOOKED_TEMPLATE,
                {
                    "ref": row.ref,
                    "starts_at": chosen.starts_at.isoformat(),
                    "video_url": row.video_url,
                },
                language=language,
                dedupe_key=f"checkup.booked:{row.ref}",
            )
            audit(f"station:{station_id}", "checkup.book", citizen_id, "booked")
        # Sent now for the resident at the screen; a failure is retried by the SMS worker.
        self.outbox.deliver_now([message_id])
        return self._view(row, phone)

    def cancel(self, station_id: str, citizen_id: str, ref: str) -> BookingView:
        """Cancel the card holder's booking ``ref``; the "cancelled" SMS is on its way."""
        clinic = self._clinic()
        self._holder(station_id, citizen_id)
        row = CheckupBooking.get_or_none(
            (CheckupBooking.ref == ref)
            & (CheckupBooking.citizen_id == citizen_id)
            & (CheckupBooking.state == BOOKED)
        )
        if row is None:
            raise CheckupRefusedError("no_booking")
        clinic.cancel(row.clinic_ref)
        phone = phone_on_file(citizen_id)
        with write_transaction():
            row.state, row.cancelled_at = CANCELLED, self._clock()
            row.active_slot = row.active_citizen = None
            row.save()
            message_id = None
            if phone is not None:
                message_id = enqueue(
                    phone,
                    CANCELLED_TEMPLATE,
                    {"ref": row.ref, "starts_at": _utc(row.starts_at).isoformat()},
                    language=row.language,
                    dedupe_key=f"checkup.cancelled:{row.ref}",
                )
            audit(f"station:{station_id}", "checkup.cancel", citizen_id, "cancelled")
        if message_id is not None:
            self.outbox.deliver_now([message_id])
        return self._view(row, phone)

    def mine(self, station_id: str, citizen_id: str) -> list[BookingView]:
        """The card holder's booked check-ups that have not ended."""
        self._holder(station_id, citizen_id)
        rows = (
            CheckupBooking.select()
            .where(
                (CheckupBooking.citizen_id == citizen_id)
                & (CheckupBooking.state == BOOKED)
                & (CheckupBooking.ends_at > self._clock())
            )
            .order_by(CheckupBooking.starts_at)
        )
        phone = phone_on_file(citizen_id)
        return [self._view(row, phone) for row in rows]

    # -- helpers ---------------------------------------------------------------------------

    def _clinic(self) -> ClinicAdapter:
        if self.clinic is None:
            raise CheckupRefusedError("no_clinic")
        return self.clinic

    def _holder(self, station_id: str, citizen_id: str) -> None:
        if not card_read_here(station_id, citizen_id, self._clock()):
            raise CheckupRefusedError("not_card_holder")

    def _slot_id(self, clinic_slot: str) -> str:
        assert self.clinic is not None
        return f"{self.clinic.name}:{clinic_slot}"

    def _patient_ref(self, citizen_id: str) -> str:
        """What the clinic knows the resident by: a keyed hash, never the citizen id."""
        return hmac.new(self._secret, f"patient:{citizen_id}".encode(), hashlib.sha256).hexdigest()[
            :24
        ]

    def _reserve(
        self,
        station_id: str,
        citizen_id: str,
        slot: str,
        chosen: ClinicSlot,
        language: str | None,
    ) -> CheckupBooking:
        try:
            with write_transaction():
                return CheckupBooking.create(
                    ref=secrets.token_hex(4).upper(),
                    clinic=slot.partition(":")[0],
                    slot=slot,
                    starts_at=_utc(chosen.starts_at),
                    ends_at=_utc(chosen.ends_at),
                    citizen_id=citizen_id,
                    station_id=station_id,
                    language=language,
                    state=PENDING,
                    active_slot=slot,
                    active_citizen=citizen_id,
                )
        except peewee.IntegrityError:
            held = CheckupBooking.select().where(CheckupBooking.active_citizen == citizen_id)
            raise CheckupRefusedError("already_booked" if held.exists() else "slot_taken") from None

    def _slot_view(self, slot: ClinicSlot) -> CheckupSlot:
        return CheckupSlot(
            slot=self._slot_id(slot.slot_id),
            starts_at=_utc(slot.starts_at).astimezone(self.zone),
            ends_at=_utc(slot.ends_at).astimezone(self.zone),
            kind=slot.kind,
        )

    def _view(self, row: CheckupBooking, phone: str | None) -> BookingView:
        return BookingView(
            ref=row.ref,
            slot=row.slot,
            starts_at=_utc(row.starts_at).astimezone(self.zone),
            ends_at=_utc(row.ends_at).astimezone(self.zone),
            video_url=row.video_url or "",
            state=row.state,
            phone_masked=mask_phone(phone) if phone else None,
        )
