"""The rollout part of the wire contract: jobs, their signature, progress, file blocks."""

from __future__ import annotations

import hashlib
import uuid
from datetime import UTC, datetime, timedelta

import msgspec
import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from contract import MAX_PAYLOAD_BYTES, ContractError, SchemaError, decode, encode
from contract.rollout import (
    MAX_BLOCK_SIZE,
    MAX_BLOCKS_PER_REQUEST,
    ConfigChange,
    FileBlock,
    FileMessage,
    FileRefusal,
    FileRequest,
    Job,
    JobFile,
    JobProgress,
    ReleaseSpec,
    SealError,
    bitmap_of,
    block_count,
    check_settings,
    sign_job,
    verify_job,
)

NOW = datetime(2025, 6, 1, 9, 0, tzinfo=UTC)
SHA = hashlib.sha256(b"manifest").hexdigest()


def _release_job(station_id: str = "st-a") -> Job:
    return Job(
        job_id=str(uuid.uuid4()),
        station_id=station_id,
        kind="release",
        issued_at=NOW,
        deadline=NOW + timedelta(days=3),
        release=ReleaseSpec(
            version="0.2.0",
            manifest=JobFile(file_id=SHA, size=812),
            manifest_signature=b"\x01" * 64,
        ),
    )


def test_signed_job_round_trips_and_verifies():
    key = Ed25519PrivateKey.generate()
    payload = encode(sign_job(_release_job(), key))
    job = decode(payload, Job)
    verify_job(payload, job, station_id="st-a", server_public=key.public_key())
    assert job.release is not None and job.release.manifest.file_id == SHA


def test_job_for_another_station_or_another_key_is_refused():
    key = Ed25519PrivateKey.generate()
    payload = encode(sign_job(_release_job(), key))
    job = decode(payload, Job)
    with pytest.raises(SealError, match="another station"):
        verify_job(payload, job, station_id="st-b", server_public=key.public_key())
    other = Ed25519PrivateKey.generate().public_key()
    with pytest.raises(SealError, match="not signed by the server"):
        verify_job(payload, job, station_id="st-a", server_public=other)
    tampered = payload.replace(b'"0.2.0"', b'"0.2.1"')
    with pytest.raises(SealError):
        verify_job(
            tampered, decode(tampered, Job), station_id="st-a", server_public=key.public_key()
        )
    unsigned = encode(_release_job())
    with pytest.raises(SealError, match="not signed"):
        verify_job(
            unsigned, decode(unsigned, Job), station_id="st-a", server_public=key.public_key()
        )


def test_a_job_carries_exactly_its_own_part():
    with pytest.raises(ValueError):
        msgspec.structs.replace(_release_job(), kind="config")
    payload = encode(_release_job()).replace(b'"kind":"release"', b'"kind":"rollback"')
    with pytest.raises(SchemaError):
        decode(payload, Job)


def test_config_change_accepts_only_allowlisted_settings():
    assert check_settings({"sync.window": 512, "kiosk.idle_timeout_s": 60}) == {
        "sync.window": 512,
        "kiosk.idle_timeout_s": 60.0,
    }
    with pytest.raises(ContractError, match="may not be changed"):
        check_settings({"broker.host": "evil.example"})
    with pytest.raises(ContractError, match=r"sync\.window"):
        check_settings({"sync.window": 0})
    with pytest.raises(ContractError):
        check_settings({})
    job = Job(
        job_id=str(uuid.uuid4()),
        station_id="st-a",
        kind="config",
        issued_at=NOW,
        deadline=NOW + timedelta(hours=1),
        config=ConfigChange(settings={"kiosk.default_language": "vi"}, label="lang-vi"),
    )
    raw = encode(job).replace(b'"kiosk.default_language"', b'"station_id"')
    with pytest.raises(SchemaError):
        decode(raw, Job)


def test_a_full_block_fits_the_payload_limit():
    block = FileBlock(
        station_id="st-a",
        job_id=str(uuid.uuid4()),
        file_id=SHA,
        request_id="0" * 32,
        block_size=MAX_BLOCK_SIZE,
        index=7,
        file_size=10 * MAX_BLOCK_SIZE,
        data=bytes(range(256)) * (MAX_BLOCK_SIZE // 256),
    )
    payload = encode(block)
    assert len(payload) < MAX_PAYLOAD_BYTES
    again = decode(payload, FileMessage)
    assert isinstance(again, FileBlock) and again.data == block.data
    refusal = FileRefusal(
        station_id="st-a",
        job_id=block.job_id,
        file_id=SHA,
        request_id="0" * 32,
        reason="not_addressed",
    )
    assert isinstance(decode(encode(refusal), FileMessage), FileRefusal)


def test_bitmap_asks_for_the_missing_blocks_only():
    missing = {3, 4, 9, 70}
    bitmap = bitmap_of(missing, first=0, count=MAX_BLOCKS_PER_REQUEST)
    request = FileRequest(
        station_id="st-a",
        job_id=str(uuid.uuid4()),
        file_id=SHA,
        request_id="a" * 32,
        first=0,
        count=MAX_BLOCKS_PER_REQUEST,
        bitmap=bitmap,
    )
    assert decode(encode(request), FileRequest).wanted() == [3, 4, 9]
    with pytest.raises(SchemaError):
        decode(encode(request).replace(b'"count":64', b'"count":65'), FileRequest)
    assert block_count(0, 1024) == 0 and block_count(1025, 1024) == 2


def test_progress_states_are_the_contract_s():
    progress = JobProgress(
        job_id=str(uuid.uuid4()),
        station_id="st-a",
        state="rolled_back",
        reason="health check: broker not connected within 180 s",
        version="0.1.0",
        station_time=NOW,
    )
    assert decode(encode(progress), JobProgress) == progress
    with pytest.raises(SchemaError):
        decode(encode(progress).replace(b"rolled_back", b"exploded"), JobProgress)
