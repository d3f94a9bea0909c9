"""The card reader's configuration (the ``card`` section of the station config)."""

from __future__ import annotations

from typing import Annotated, Any

import msgspec

from hardware.exc import HardwareConfigError


class CardConfig(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    """How the station finds and reads its card reader.

    ``backend``: ``real`` (pyscard + pcscd) or ``virtual`` (in-process card); ``None`` leaves
    the choice to ``STATION_CARD_BACKEND``, then ``real`` with a fallback to ``virtual``.
    ``reader_filter``: only readers whose PC/SC name contains this text (case-insensitive);
    empty takes every reader. ``settle_s``: how long a freshly inserted card must stay before
    it is announced and read (readers such as the Alcor AK9563 fail reads started at once).
    ``poll_s``: the longest the monitor blocks in one wait, and its retry pace while pcscd is
    down. ``virtual_card_file``: for the virtual backend, a card file inserted at start.
    """

    backend: str | None = None
    reader_filter: str = ""
    settle_s: Annotated[float, msgspec.Meta(ge=0, le=10)] = 0.5
    poll_s: Annotated[float, msgspec.Meta(gt=0, le=60)] = 1.0
    virtual_card_file: str | None = None


def card_config_from_dict(data: dict[str, Any]) -> CardConfig:
    """Validate a ``card`` config section; :class:`HardwareConfigError` says what is wrong."""
    try:
        return msgspec.convert(data, CardConfig)
    except msgspec.ValidationError as exc:
        raise HardwareConfigError(f"card config: {exc}") from exc
