"""Every server table, in creation order (a table after the ones it references).

The migrations compare the database against this list (``dcs-server db check`` and the
tests); each feature package owns its ``models.py`` and imports nothing but ``sync_server.db``.
"""

from __future__ import annotations

import peewee

from sync_server.api import models as api
from sync_server.audit import models as audit
from sync_server.bills import models as bills
from sync_server.checkups import models as checkups
from sync_server.dashboard import models as dashboard
from sync_server.diagnostics import models as diagnostics
from sync_server.fleet import models as fleet
from sync_server.ingest import models as ingest
from sync_server.kiosk_services import models as kiosk_services
from sync_server.notices import models as notices
from sync_server.notifications import models as notifications
from sync_server.operators import models as operators
from sync_server.ops import models as ops
from sync_server.otp import models as otp
from sync_server.petitions import models as petitions
from sync_server.ratelimit import RateLimitHit
from sync_server.records import models as records
from sync_server.replicas import models as replicas
from sync_server.rollouts import models as rollouts
from sync_server.sms import models as sms

MODELS: list[type[peewee.Model]] = [
    *fleet.MODELS,
    *ingest.MODELS,
    *audit.MODELS,
    *records.MODELS,
    *petitions.MODELS,
    *replicas.MODELS,
    *operators.MODELS,
    *otp.MODELS,
    *sms.MODELS,
    RateLimitHit,
    *kiosk_services.MODELS,
    *api.MODELS,
    *dashboard.MODELS,
    *notifications.MODELS,
    *ops.MODELS,
    *rollouts.MODELS,
    *diagnostics.MODELS,
    *bills.MODELS,
    *checkups.MODELS,
    *notices.MODELS,
]
