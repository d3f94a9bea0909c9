"""Which stations a rollout goes to, and in which waves.

The target is resolved once, when the rollout is created (a static group, as Mender's
deployments to static groups): a station enrolled later is not added, and the waves are
fixed. Stations are ordered by a hash of the rollout id and the station id, so the first
wave is a fair sample rather than the alphabetically first stations; named stations keep
the operator's order (the canary first).
"""

from __future__ import annotations

import hashlib
import math
from dataclasses import dataclass
from typing import Any

from contract.topics import is_valid_station_id
from sync_server.fleet.models import Enrollment, Station
from sync_server.replicas.models import StationReplica

TARGET_KINDS = ("all", "buildings", "percent", "stations")


class TargetError(ValueError):
    """A target that names nothing, or a station the server does not know."""


@dataclass(frozen=True)
class Target:
    """Everything, some buildings, a percentage of the fleet, or named stations."""

    kind: str
    buildings: tuple[str, ...] = ()
    percent: float = 100.0
    stations: tuple[str, ...] = ()

    def as_json(self) -> dict[str, Any]:
        """The stored form (``Rollout.target``)."""
        data: dict[str, Any] = {"kind": self.kind}
        if self.kind == "buildings":
            data["buildings"] = list(self.buildings)
        elif self.kind == "percent":
            data["percent"] = self.percent
        elif self.kind == "stations":
            data["stations"] = list(self.stations)
        return data

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> Target:
        """The target from its stored or submitted form; raises :class:`TargetError`."""
        kind = data.get("kind")
        if kind not in TARGET_KINDS:
            raise TargetError(f"unknown target {kind!r}")
        if kind == "buildings":
            buildings = tuple(str(b) for b in data.get("buildings") or ())
            if not buildings:
                raise TargetError("name at least one building")
            return cls(kind, buildings=buildings)
        if kind == "percent":
            percent = float(data.get("percent", 0))
            if not 0 < percent <= 100:
                raise TargetError("a percentage is above 0 and at most 100")
            return cls(kind, percent=percent)
        if kind == "stations":
            stations = tuple(dict.fromkeys(str(s) for s in data.get("stations") or ()))
            if not stations:
                raise TargetError("name at least one station")
            return cls(kind, stations=stations)
        return cls(kind)


def _active_stations() -> list[str]:
    """Known stations whose last enrolment event is not a decommissioning."""
    decommissioned = set()
    last: dict[str, str] = {}
    for row in Enrollment.select().order_by(Enrollment.enrolled_at, Enrollment.id):
        last[row.station_id] = row.kind
    decommissioned = {station for station, kind in last.items() if kind == "decommission"}
    return [
        row.station_id
        for row in Station.select(Station.station_id).order_by(Station.station_id)
        if row.station_id not in decommissioned
    ]


def _shuffled(stations: list[str], seed: str) -> list[str]:
    return sorted(stations, key=lambda s: hashlib.sha256(f"{seed}:{s}".encode()).digest())


def resolve(target: Target, seed: str) -> list[str]:
    """The stations of ``target`` in wave order; raises :class:`TargetError` if none."""
    active = _active_stations()
    if target.kind == "stations":
        unknown = [s for s in target.stations if not is_valid_station_id(s) or s not in active]
        if unknown:
            raise TargetError(f"unknown or decommissioned stations: {', '.join(unknown)}")
        chosen = list(target.stations)
    elif target.kind == "buildings":
        in_buildings = {
            row.station_id
            for row in StationReplica.select(StationReplica.station_id).where(
                StationReplica.building.in_(list(target.buildings))
            )
        }
        chosen = _shuffled([s for s in active if s in in_buildings], seed)
    elif target.kind == "percent":
        count = math.ceil(len(active) * target.percent / 100)
        chosen = _shuffled(active, seed)[:count]
    else:
        chosen = _shuffled(active, seed)
    if not chosen:
        raise TargetError("the target names no station")
    return chosen


def split_waves(stations: list[str], sizes: list[int]) -> list[list[str]]:
    """``stations`` in waves of ``sizes``; past the list, waves of the last size.

    ``[1, 5, 20]`` over 60 stations gives 1, 5, 20, 20 and 14.
    """
    if not sizes or any(size < 1 for size in sizes):
        raise TargetError("wave sizes are whole numbers of at least 1")
    waves: list[list[str]] = []
    rest = list(stations)
    index = 0
    while rest:
        size = sizes[min(index, len(sizes) - 1)]
        waves.append(rest[:size])
        rest = rest[size:]
        index += 1
    return waves
