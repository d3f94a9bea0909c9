"""``build_station(config)``: the station daemon's parts wired together (cf. Flask's factory)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime

from device.config import StationConfig
from device.store import Store, open_store, utc_now
from device.sync import SyncAgent


@dataclass
class Station:
    """A running station: its store and its sync agent."""

    config: StationConfig
    store: Store
    sync: SyncAgent

    def file_petition(
        self, service: str, phone: str, form: dict[str, str], citizen_id: str | None = None
    ) -> str:
        """Queue a petition durably and return its number, final even offline."""
        with self.store.atomic():
            number = self.store.mint_petition_number()
            body = {"number": number, "service": service, "phone": phone, "form": form}
            if citizen_id is not None:
                body["citizen_id"] = citizen_id
            self.store.outbox.enqueue("petition.filed", body)
        self.sync.wake()  # committed now; the drain thread can see it
        return number

    def start(self) -> Station:
        """Start syncing."""
        self.sync.start()
        return self

    def close(self) -> None:
        """Stop syncing and close the store; safe twice."""
        self.sync.stop()
        self.store.close()

    def __enter__(self) -> Station:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()


def build_station(config: StationConfig, clock: Callable[[], datetime] = utc_now) -> Station:
    """Open the store and build the sync agent for ``config`` (not started)."""
    store = open_store(config.store_path, config.store_key_path, config.station_id, clock)
    try:
        sync = SyncAgent(
            store,
            config.broker_settings(),
            config.sync,
            software_version=config.software_version,
            clock=clock,
        )
    except Exception:
        store.close()
        raise
    return Station(config=config, store=store, sync=sync)
