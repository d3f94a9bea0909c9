"""``/api/v1/rollouts``: list, show, create and abort staged rollouts (sync_server/rollouts).

Reading needs ``rollouts:read``; creating and aborting ``rollouts:write``, and the audit
trail names the token. Releases are uploaded with ``dcs-server rollouts upload`` on the
server (the files are large and their signature is checked there), not through the API.
"""

from __future__ import annotations

import json
from datetime import timedelta
from typing import Any

from flask_smorest import Blueprint, abort

from sync_server.api.auth import current_token, documented_scope
from sync_server.api.errors import json_errors
from sync_server.api.schemas import (
    RolloutAbortSchema,
    RolloutCreateSchema,
    RolloutDetailSchema,
    RolloutListSchema,
)
from sync_server.db import utc_now
from sync_server.rollouts import releases, service
from sync_server.rollouts.models import Rollout, RolloutJob, RolloutWave
from sync_server.rollouts.targets import Target, TargetError

blp = Blueprint(
    "api_rollouts",
    __name__,
    url_prefix="/api/v1/rollouts",
    description="Staged rollouts of releases and configuration changes, wave by wave.",
)
json_errors(blp)


def _view(rollout: Rollout, *, waves: bool = False) -> dict[str, Any]:
    config = json.loads(rollout.config) if rollout.config else None
    view = dict(rollout.__data__) | {
        "release": rollout.release.version if rollout.release_id else None,
        "config_label": config["label"] if config else None,
        "target": json.loads(rollout.target),
        "figures": service.summary(rollout),
    }
    if waves:
        view["waves"] = [
            dict(wave.__data__)
            | {
                "jobs": list(
                    RolloutJob.select()
                    .where(RolloutJob.wave == wave)
                    .order_by(RolloutJob.station_id)
                )
            }
            for wave in RolloutWave.select()
            .where(RolloutWave.rollout == rollout)
            .order_by(RolloutWave.number)
        ]
    return view


def _found(rollout_id: str) -> Rollout:
    rollout = Rollout.get_or_none(Rollout.rollout_id == rollout_id)
    if rollout is None:
        abort(404, message="no rollout with this id")
    return rollout


@blp.get("")
@documented_scope(blp, "rollouts:read")
@blp.response(200, RolloutListSchema)
def rollouts() -> dict[str, object]:
    """The last 100 rollouts, newest first, with their figures."""
    query = Rollout.select().order_by(Rollout.created_at.desc()).limit(100)
    return {"rollouts": [_view(rollout) for rollout in query]}


@blp.get("/<string:rollout_id>")
@documented_scope(blp, "rollouts:read")
@blp.response(200, RolloutDetailSchema)
@blp.alt_response(404, response="NOT_FOUND")
def rollout(rollout_id: str) -> dict[str, object]:
    """One rollout: its waves and every station's state."""
    return _view(_found(rollout_id), waves=True)


@blp.post("")
@documented_scope(blp, "rollouts:write")
@blp.arguments(RolloutCreateSchema)
@blp.response(201, RolloutDetailSchema)
@blp.alt_response(
    409,
    response="CONFLICT",
    description="cannot be created as asked: both or neither of release and config, an "
    "unknown release or station, a setting outside the allowlist or out of its range",
)
def create(body: dict[str, Any]) -> tuple[dict[str, object], int]:
    """Create a rollout; the worker starts wave 1 at its next round."""
    token = current_token()
    assert token is not None
    if ("release" in body) == ("config" in body):
        abort(409, message="give either release or config")
    try:
        plan = service.Plan(
            target=Target.from_json(body["target"]),
            wave_sizes=body["waves"],
            deadline=utc_now() + timedelta(hours=body["deadline_hours"]),
            success_pct=body["success_pct"],
            abort_pct=body["abort_pct"],
            min_executed=body["min_executed"],
        )
        release = config = None
        if "release" in body:
            release = releases.by_version(body["release"])
            if release is None:
                abort(409, message=f"no release {body['release']}: upload it first")
        else:
            config = (body["config"]["label"], body["config"]["settings"])
        created = service.create(
            plan, actor=f"token:{token.name}", now=utc_now(), release=release, config=config
        )
    except (service.RolloutError, TargetError) as exc:
        abort(409, message=str(exc))
    return _view(created, waves=True), 201


@blp.post("/<string:rollout_id>/abort")
@documented_scope(blp, "rollouts:write")
@blp.arguments(RolloutAbortSchema)
@blp.response(200, RolloutDetailSchema)
@blp.alt_response(404, response="NOT_FOUND")
@blp.alt_response(409, response="CONFLICT", description="the rollout is not running")
def abort_rollout(body: dict[str, Any], rollout_id: str) -> dict[str, object]:
    """Abort a running rollout: its running wave is rolled back, later waves cancelled."""
    token = current_token()
    assert token is not None
    _found(rollout_id)
    if not service.abort(
        rollout_id, actor=f"token:{token.name}", reason=body["reason"], now=utc_now()
    ):
        abort(409, message="the rollout is not running")
    return _view(_found(rollout_id), waves=True)
