"""The card file: what a virtual Thai ID card holds, as JSON.

``card`` has each text field as the card stores it (``name_th`` is ``prefix#first#middle#last``,
dates are Buddhist-era ``YYYYMMDD``, the address is ``#``-separated with its Thai prefixes),
``photo_jpeg`` the JPEG in base64. ``resident`` (optional, written by
``devtools.synthetic``) has the same person as plain values, for tests to compare a read
against; the virtual card never looks at it.
"""

from __future__ import annotations

import base64
import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from hardware.card import apdu

FORMAT = "dcs-thai-id-card/1"
#: The card pads text fields with spaces; the photo area too, after the JPEG.
PAD = b" "


@dataclass(frozen=True)
class CardFile:
    """The raw contents of one card."""

    fields: dict[str, str]
    photo: bytes
    resident: dict[str, Any] = field(default_factory=dict)

    def to_json(self) -> dict[str, Any]:
        """The JSON document."""
        return {
            "format": FORMAT,
            "card": dict(self.fields),
            "photo_jpeg": base64.b64encode(self.photo).decode("ascii"),
            "resident": self.resident,
        }

    def write(self, path: str | Path) -> Path:
        """Write the file (UTF-8 JSON); returns its path."""
        path = Path(path)
        path.write_text(json.dumps(self.to_json(), ensure_ascii=False, indent=2) + "\n", "utf-8")
        return path


def load_card_file(path: str | Path) -> CardFile:
    """Read a card file; ``ValueError`` if it is not one."""
    doc = json.loads(Path(path).read_text("utf-8"))
    if not isinstance(doc, dict) or doc.get("format") != FORMAT:
        raise ValueError(f"{path}: not a {FORMAT} card file")
    fields = doc["card"]
    missing = [spec.name for spec in apdu.TEXT_FIELDS if spec.name not in fields]
    if missing:
        raise ValueError(f"{path}: card file lacks {', '.join(missing)}")
    return CardFile(
        fields={k: str(v) for k, v in fields.items()},
        photo=base64.b64decode(doc["photo_jpeg"]),
        resident=doc.get("resident") or {},
    )


def encode_field(spec: apdu.FieldSpec, text: str) -> bytes:
    """One text field in TIS-620, padded with spaces to its length; ``ValueError`` if it
    cannot be encoded or does not fit."""
    raw = text.encode("tis-620")
    if len(raw) > spec.length:
        raise ValueError(f"{spec.name} is {len(raw)} bytes; the card holds {spec.length}")
    return raw.ljust(spec.length, PAD)


def build_image(card: CardFile) -> bytes:
    """The card's memory image: every field at its offset (as :mod:`hardware.card.apdu`)."""
    image = bytearray(apdu.IMAGE_SIZE)
    for spec in apdu.TEXT_FIELDS:
        image[spec.offset : spec.offset + spec.length] = encode_field(spec, card.fields[spec.name])
    if len(card.photo) > apdu.PHOTO_AREA:
        raise ValueError(f"photo is {len(card.photo)} bytes; the card holds {apdu.PHOTO_AREA}")
    image[apdu.PHOTO_OFFSET : apdu.PHOTO_OFFSET + apdu.PHOTO_AREA] = card.photo.ljust(
        apdu.PHOTO_AREA, PAD
    )
    return bytes(image)
