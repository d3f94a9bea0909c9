"""The privacy scan: does a blob (a file, a zip, a page) carry any of a person's data?

``personal_values`` lists the forms a synthetic resident's data can take (the citizen id run
together and grouped, the phone in its local, dashed and international forms, every part of
the names); :func:`privacy_findings` looks for each of them, and for anything shaped like a
citizen id with a valid check digit, in the blob and in every member of a zip inside it.
"""

from __future__ import annotations

import io
import re
import zipfile
from collections.abc import Iterable

from contract.identifiers import citizen_id_check_digit

_THIRTEEN = re.compile(r"(?<!\d)\d{13}(?!\d)")


def personal_values(citizen_id: str, phone: str, names: Iterable[str] = ()) -> dict[str, str]:
    """What to look for, by a label that says which form it is (never logged by the tests)."""
    values = {
        "citizen id": citizen_id,
        "citizen id (grouped)": (
            f"{citizen_id[0]}-{citizen_id[1:5]}-{citizen_id[5:10]}-{citizen_id[10:12]}-"
            f"{citizen_id[12]}"
        ),
        "phone": phone,
        "phone (dashed)": f"{phone[:3]}-{phone[3:]}",
        "phone (international)": "+66" + phone[1:],
    }
    for number, name in enumerate(names):
        for part, word in enumerate(name.split()):
            if len(word) >= 2:
                values[f"name {number} part {part}"] = word
    return values


def _texts(blob: bytes) -> Iterable[tuple[str, str]]:
    """The blob as text, and each member of it if it is a zip (recursively)."""
    yield "", blob.decode("utf-8", errors="replace")
    if zipfile.is_zipfile(io.BytesIO(blob)):
        with zipfile.ZipFile(io.BytesIO(blob)) as archive:
            for member in archive.namelist():
                for inner, text in _texts(archive.read(member)):
                    yield member + (f"/{inner}" if inner else ""), text


def privacy_findings(blob: bytes, values: dict[str, str]) -> list[str]:
    """Where each personal value (and any valid-looking citizen id) occurs: ``[]`` is clean."""
    findings = []
    for where, text in _texts(blob):
        lowered = text.lower()
        findings += [
            f"{label} in {where or 'the blob'}"
            for label, value in values.items()
            if value.lower() in lowered
        ]
        for candidate in _THIRTEEN.findall(text):
            if citizen_id_check_digit(candidate[:12]) == candidate[12]:
                findings.append(f"a citizen id in {where or 'the blob'}")
    return findings
