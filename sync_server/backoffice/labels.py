"""The words citizens and officers see for statuses and services, in Thai and English.

One catalogue for the back office, the tracking page and the SMS texts; code uses the keys.
"""

from __future__ import annotations

#: Petition statuses (keys of ``sync_server.records.petitions.TRANSITIONS``): (Thai, English).
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

#: Services that are data-correction requests rather than petitions (the queue's "kind").
CORRECTION_SERVICES = frozenset({"population_correction"})


def status_label(status: str) -> tuple[str, str]:
    """(Thai, English) for ``status``; an unknown one shows as itself."""
    return STATUS_LABELS.get(status, (status, status))


def service_label(service: str) -> tuple[str, str]:
    """(Thai, English) for ``service``; an unknown one shows as itself."""
    return SERVICE_LABELS.get(service, (service, service))
