"""The words citizens and officers see for statuses and services, in Thai and English.

One catalogue for the back office, the tracking page and the SMS texts; code uses the keys.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone

from markupsafe import Markup

#: Petition statuses (keys of ``sync_server.petitions.service.TRANSITIONS``): (Thai, English).
STATUS_LABELS: dict[str, tuple[str, str]] = {
    "received": ("ได้รับคำร้องแล้ว", "Received"),
    "in_review": ("อยู่ระหว่างพิจารณา", "In review"),
    "waiting_for_citizen": ("รอข้อมูลเพิ่มเติมจากผู้ยื่น", "Waiting for the applicant"),
    "approved": ("อนุมัติแล้ว", "Approved"),
    "rejected": ("ไม่อนุมัติ", "Rejected"),
    "closed": ("ปิดเรื่องแล้ว", "Closed"),
}

#: Services a station files (``device/station.py`` SERVICE_TITLES): (Thai, English).
SERVICE_LABELS: dict[str, tuple[str, str]] = {
    "general_petition": ("คำร้องทั่วไป", "General petition"),
    "population_correction": ("แก้ไขข้อมูลทะเบียนราษฎร", "Population data correction"),
}


def status_label(status: str) -> tuple[str, str]:
    """(Thai, English) for ``status``; an unknown one shows as itself."""
    return STATUS_LABELS.get(status, (status, status))


def service_label(service: str) -> tuple[str, str]:
    """(Thai, English) for ``service``; an unknown one shows as itself."""
    return SERVICE_LABELS.get(service, (service, service))


#: Thailand keeps UTC+7 all year (no daylight saving).
THAI_TIME = timezone(timedelta(hours=7), "ICT")
THAI_MONTHS = [
    "ม.ค.",
    "ก.พ.",
    "มี.ค.",
    "เม.ย.",
    "พ.ค.",
    "มิ.ย.",
    "ก.ค.",
    "ส.ค.",
    "ก.ย.",
    "ต.ค.",
    "พ.ย.",
    "ธ.ค.",
]


def thai_time(value: datetime) -> Markup:
    """A server time as Thais read it (Thai time, Buddhist era), then the English date."""
    local = (value if value.tzinfo else value.replace(tzinfo=UTC)).astimezone(THAI_TIME)
    thai = f"{local.day} {THAI_MONTHS[local.month - 1]} {local.year + 543} {local:%H:%M} น."
    english = f"{local:%d %b %Y, %H:%M}"
    return Markup('{} <span lang="en">{}</span>').format(thai, english)
