"""``build_station(config)``: the station daemon's parts wired together (cf. Flask's factory)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

from contract import Channel
from contract.release import load_public_key
from device import __version__
from device.config import StationConfig
from device.diagnostics import register_command as register_diagnostics
from device.hardware import StationHardware
from device.maintenance import disk_gauges, schedule_reboot
from device.notices import NoticeBoard
from device.receipts import ReceiptLine, ReceiptSpool
from device.replica import Replica, attach_replica
from device.replica.keys import server_public_key
from device.service_lock import ServiceLock
from device.store import Store, open_store, utc_now
from device.sync import SyncAgent
from device.sync.command_log import CommandLog
from device.update.agent import UpdateAgent, UpdateOptions
from hardware.printer import Receipt

#: Receipt titles by petition service; an unknown service gets the general title.
SERVICE_TITLES = {
    "general_petition": ("ใบรับคำร้องทั่วไป", "คำร้องทั่วไป / General petition"),
    "population_correction": (
        "ใบรับคำขอแก้ไขข้อมูล",
        "แก้ไขข้อมูลทะเบียนราษฎร / Population data correction",
    ),
}


@dataclass
class Station:
    """A station: its store, its sync agent and, in the daemon, its devices."""

    config: StationConfig
    store: Store
    sync: SyncAgent
    receipts: ReceiptSpool
    hardware: StationHardware | None = None
    #: The residents' records for offline lookups (always present; empty without [replica]).
    replica: Replica | None = None
    #: Out of service by remote command (the kiosk shows a closed screen).
    service_lock: ServiceLock | None = None
    #: Update jobs (releases, configuration, rollbacks); the daemon only.
    updates: UpdateAgent | None = None
    #: The public notices for this station, kept to show offline (device/notices/).
    notices: NoticeBoard | None = None

    def file_petition(
        self,
        service: str,
        phone: str,
        form: dict[str, str],
        citizen_id: str | None = None,
        *,
        receipt: bool = False,
        language: str | None = None,
    ) -> str:
        """Queue a petition durably and return its number, final even offline.

        With ``receipt`` the receipt is queued in the same transaction, so it prints (in the
        daemon, whenever the printer can) exactly when the petition is on disk. ``language``
        (th, vi, en) is the one the citizen used: the server texts them in it.
        """
        with self.store.atomic():
            number = self.store.mint_petition_number()
            body = {"number": number, "service": service, "phone": phone, "form": form}
            if citizen_id is not None:
                body["citizen_id"] = citizen_id
            if language is not None:
                body["language"] = language
            self.store.outbox.enqueue("petition.filed", body)
            if receipt:
                self.receipts.queue("petition.filed", self.petition_receipt(number, service))
        self.sync.wake()  # committed now; the drain thread can see it
        if receipt:
            self.receipts.notify()
        return number

    def petition_receipt(self, number: str, service: str) -> Receipt:
        """The receipt of a filed petition: its number, date, service and tracking QR code."""
        title, service_name = SERVICE_TITLES.get(service, SERVICE_TITLES["general_petition"])
        return Receipt(
            title=title,
            issued_at=self.store.clock(),
            lines=(ReceiptLine("service", "บริการ / Service", service_name),),
            number=number,
            tracking_url=self.config.tracking_url.format(number=number),
            footer="เก็บใบนี้ไว้เพื่อติดตามสถานะ / Keep this receipt to track your petition",
        )

    def start(self) -> Station:
        """Start syncing and, in the daemon, the devices and the update agent."""
        if self.notices is not None:
            self.notices.purge()
        self.sync.start()
        if self.updates is not None:
            self.updates.start()
        if self.hardware is not None:
            stalled_after = max(3 * self.config.sync.poll_interval_s, 5.0)
            self.hardware.start(healthy=lambda: self.sync.making_progress(stalled_after))
        return self

    def tick(self) -> None:
        """The daemon's once-a-second chores (a tamper change hidden by debouncing)."""
        if self.hardware is not None and self.hardware.gpio is not None:
            self.hardware.gpio.poll()

    def close(self) -> None:
        """Stop the devices and syncing, close the store; safe twice."""
        if self.updates is not None:
            self.updates.stop()
        if self.hardware is not None:
            self.hardware.close()
        self.sync.stop()
        self.store.close()

    def __enter__(self) -> Station:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()


def build_station(
    config: StationConfig,
    clock: Callable[[], datetime] = utc_now,
    *,
    devices: bool = False,
    updates: UpdateOptions | None = None,
) -> Station:
    """Open the store and build the sync agent for ``config`` (not started).

    ``devices`` also opens the fitted devices (the daemon does; a one-shot command such as
    ``dcs-station petition`` does not, as the daemon holds the reader, pins and serial port).
    ``updates`` (the daemon) handles update jobs on the station's link (device/update/agent.py).
    """
    command_key_text = config.command_key_text
    command_key = (
        server_public_key(command_key_text, "server_public_key")
        if command_key_text is not None
        else None
    )
    store = open_store(config.store_path, config.store_key_path, config.station_id, clock)
    if config.petition_floor:
        store.raise_serial_floor("petition", config.petition_floor)
    hardware: StationHardware | None = None
    try:
        sync = SyncAgent(
            store,
            config.broker_settings(),
            config.sync,
            software_version=__version__,
            clock=clock,
            command_key=command_key,
            command_log=CommandLog(Path(config.data_dir) / "commands-run.json"),
        )
        replica = attach_replica(config, store, sync, clock)
        notices = NoticeBoard(
            store,
            sync.link,
            district=config.district,
            building=config.replica.building if config.replica is not None else None,
            server_key=command_key,
        )
        service_lock = ServiceLock(config.data_dir)
        sync.commands.register("lock", lambda args: service_lock.lock(str(args.get("reason", ""))))
        sync.commands.register("unlock", lambda args: service_lock.unlock())
        sync.commands.register("reboot", lambda args: schedule_reboot(config.reboot_command))
        sync.metric_sources.append(lambda: disk_gauges(config.data_dir))
        agent = _update_agent(config, sync, updates, command_key, clock)
        if devices:
            hardware = StationHardware(config, store)
            sync.metric_sources.append(hardware.metrics)
            if hardware.printer is not None:
                fitted = hardware
                sync.commands.register(
                    "print_test_page",
                    lambda args: fitted.print_test_page(config.station_id, clock()),
                )
    except Exception:
        if hardware is not None:
            hardware.close()
        store.close()
        raise
    receipts = hardware.spool if hardware is not None else ReceiptSpool(store)
    station = Station(
        config=config,
        store=store,
        sync=sync,
        receipts=receipts,
        hardware=hardware,
        replica=replica,
        service_lock=service_lock,
        updates=agent,
        notices=notices,
    )
    register_diagnostics(station)
    return station


def _update_agent(
    config: StationConfig,
    sync: SyncAgent,
    options: UpdateOptions | None,
    command_key: Ed25519PublicKey | None,
    clock: Callable[[], datetime],
) -> UpdateAgent | None:
    """The update agent on the station's link: jobs are verified with the command key."""
    if options is None:
        return None
    release_key = load_public_key(config.release_public_key) if config.release_public_key else None
    link = sync.link
    agent = UpdateAgent(
        config.station_id,
        lambda channel, payload: link.publish(channel, payload),
        data_dir=Path(config.data_dir),
        options=options,
        server_key=command_key,
        release_key=release_key,  # none: every release is refused
        kiosk_fitted=config.kiosk is not None,
        clock=clock,
    )
    link.route(Channel.JOB, agent.on_job)
    link.route(Channel.FILE_BLOCK, agent.on_block)
    link.on_connected(agent.on_connected)
    return agent
