"""Parts of the sync agent: backoff, remote commands, the station CLI."""

from __future__ import annotations

import random
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path

import msgspec
import pytest
from click.testing import CliRunner

from contract import Channel, Command, CommandResult, decode, encode, station_topic
from contract.command_seal import sign_command
from contract.transport import SERVER_RECONNECT_MAX_S
from device.cli import main as station_cli
from device.sync.backoff import Backoff
from provisioning.broker import SERVER_USER
from tests.conftest import SERVER_SIGNING_KEY
from tests.helpers import wait_until
from tests.raw_client import RawClient


def test_backoff_doubles_up_to_the_cap_with_jitter_below_the_step():
    backoff = Backoff(initial=1, maximum=8, jitter=0.5, rng=random.Random(1))
    delays = [backoff.next() for _ in range(6)]
    steps = [1, 2, 4, 8, 8, 8]
    assert all(step / 2 <= d <= step for d, step in zip(delays, steps, strict=True))
    assert len(set(delays)) == 6  # jittered, not lockstep
    backoff.reset()
    assert backoff.next() <= 1


def test_the_first_reconnect_spreads_a_fleet_over_the_whole_spread():
    delays = [Backoff(spread=3.0, rng=random.Random(seed)).next() for seed in range(2_000)]
    # Never before the initial step: the server's workers (every 0.25 s at most) come first.
    assert all(0.5 <= delay <= 3.5 for delay in delays)
    assert SERVER_RECONNECT_MAX_S < 0.5
    # Spread out, not bunched at the top as halving the step would leave them.
    assert min(delays) < 0.6 and max(delays) > 3.4
    assert 0.2 < sum(d < 1.5 for d in delays) / len(delays) < 0.45
    backoff = Backoff(initial=1, maximum=8, jitter=0.5, spread=3.0, rng=random.Random(1))
    backoff.next()
    assert 1 <= backoff.next() <= 2  # later attempts back off as before


def test_backoff_refuses_nonsense():
    with pytest.raises(ValueError):
        Backoff(initial=0)
    with pytest.raises(ValueError):
        Backoff(jitter=1)
    with pytest.raises(ValueError):
        Backoff(spread=-1)


@pytest.fixture
def server_side(broker):
    client = RawClient(broker, SERVER_USER)
    yield client
    client.close()


def send_command(server_side: RawClient, name: str, ttl: timedelta = timedelta(minutes=5)) -> str:
    now = datetime.now(UTC)
    command = sign_command(
        Command(
            command_id=str(uuid.uuid4()),
            station_id="st-a",
            name=name,
            issued_at=now,
            expires_at=now + ttl,
        ),
        SERVER_SIGNING_KEY,
    )
    server_side.publish(station_topic("st-a", Channel.COMMAND), encode(command))
    return command.command_id


def result_of(server_side: RawClient, command_id: str) -> CommandResult | None:
    for message in list(server_side.messages):
        result = decode(message.payload, CommandResult)
        if result.command_id == command_id:
            return result
    return None


def test_commands_get_results_done_rejected_or_expired(server_side, station_factory):
    server_side.subscribe(station_topic("st-a", Channel.COMMAND_RESULT))
    station = station_factory()
    wait_until(lambda: station.sync.link.connected, "the station")
    ping = send_command(server_side, "ping")
    unsupported = send_command(server_side, "print_test_page")  # this station has no printer
    stale = send_command(server_side, "ping", ttl=timedelta(seconds=-1))
    reboot = send_command(server_side, "reboot")
    wait_until(
        lambda: all(result_of(server_side, c) for c in (ping, unsupported, stale, reboot)),
        "results",
    )
    assert (result_of(server_side, ping).status, result_of(server_side, ping).detail) == (
        "done",
        "pong",
    )
    assert result_of(server_side, unsupported).status == "rejected"
    assert result_of(server_side, stale).status == "expired"
    # The reboot answers first, then runs the configured command (a file in tests).
    assert result_of(server_side, reboot).status == "done"
    requested = Path(station.config.data_dir).parent / "reboot-requested"
    wait_until(requested.exists, "the reboot command to run")


def write_station_toml(path, config) -> None:
    path.write_text(
        f'station_id = "{config.station_id}"\n'
        f'data_dir = "{config.data_dir}"\n'
        f'secrets_dir = "{config.secrets_dir}"\n'
        "[broker]\n"
        f"port = {config.broker.port}\n"
        + "".join(
            f'{name} = "{getattr(config.broker, name)}"\n'
            for name in ("password_file", "ca_file", "cert_file", "key_file")
            if getattr(config.broker, name)
        )
        + "[sync]\nlookup_timeout_s = 3.0\n"
    )


def test_station_cli_files_a_petition_and_shows_the_backlog(tmp_path, broker):
    from tests.conftest import station_config

    config = station_config(tmp_path, broker)
    toml = tmp_path / "station.toml"
    write_station_toml(toml, config)
    runner = CliRunner()
    filed = runner.invoke(
        station_cli, ["petition", "--config", str(toml), "--phone", "081-2345678"]
    )
    assert filed.exit_code == 0, filed.output
    assert filed.output.startswith("P-ST-A-0000001-")
    status = runner.invoke(station_cli, ["status", "--config", str(toml)], env={"COLUMNS": "100"})
    assert status.exit_code == 0
    assert "pending" in status.output
    assert " 1 " in status.output


def test_station_cli_errors_are_messages_not_tracebacks(tmp_path, broker):
    from tests.conftest import station_config

    config = station_config(tmp_path, broker)
    toml = tmp_path / "station.toml"
    write_station_toml(toml, config)
    bad_phone = CliRunner().invoke(
        station_cli, ["petition", "--config", str(toml), "--phone", "12"]
    )
    assert bad_phone.exit_code == 1
    assert "Error:" in bad_phone.output
    assert "not a valid Thai mobile number" in bad_phone.output
    broken = tmp_path / "broken.toml"
    broken.write_text("station_id = 'NOT VALID'\ndata_dir='x'\nsecrets_dir='y'\n")
    result = CliRunner().invoke(station_cli, ["status", "--config", str(broken)])
    assert result.exit_code == 1
    assert "station_id" in result.output
    assert "Traceback" not in result.output


def test_station_cli_lookup_prints_the_servers_answer(tmp_path, broker, server_app, ingest):
    from devtools.seed import seed_records
    from devtools.synthetic import residents
    from tests.conftest import station_config

    seed_records(2)
    person = next(residents(1))
    toml = tmp_path / "station.toml"
    write_station_toml(toml, station_config(tmp_path, broker))
    result = CliRunner().invoke(station_cli, ["lookup", "--config", str(toml), person.citizen_id])
    assert result.exit_code == 0, result.output
    assert '"status": "ok"' in result.output
    # Money is a decimal string with two places (contract.md).
    assert f'"contributions_baht": "{person.contributions_baht:.2f}"' in result.output


def test_the_command_log_survives_a_restart_and_forgets_expired_ids(tmp_path):
    from device.sync.command_log import CommandLog

    now = datetime.now(UTC)
    path = tmp_path / "commands-run.json"
    log = CommandLog(path)
    assert log.first_run("a", now + timedelta(minutes=1), now)
    assert not log.first_run("a", now + timedelta(minutes=1), now)
    again = CommandLog(path)
    assert not again.first_run("a", now + timedelta(minutes=1), now)
    later = now + timedelta(minutes=2)
    assert again.first_run("b", later + timedelta(minutes=1), later)
    assert list(msgspec.json.decode(path.read_bytes())) == ["b"]  # "a" expired: forgotten
