"""``/sms/sent``: what the SMS driver sent, for operations staff and administrators.

With the sink: every stored message, the number masked and the text in full but for its
one-time codes (the page exists to show what a citizen would receive, and a code would let
whoever reads it act as the citizen; see docs/backoffice.md). The sink is refused in
production (``sync_server.sms.gateway_from_config``). With the HTTP driver: the
delivery log (masked number, outcome, attempts, error), which holds no text.
"""

from __future__ import annotations

from flask import Blueprint, render_template, request

from sync_server.operators.access import require_role
from sync_server.sms import gateway
from sync_server.sms.gateway import mask_codes, mask_phone
from sync_server.sms.models import SentSms, SmsDispatch
from sync_server.sms.sink import SinkGateway

bp = Blueprint("sms", __name__, url_prefix="/sms", template_folder="templates")

PAGE_SIZE = 50


@bp.get("/sent")
@require_role("operations", "administrator")
def sent() -> str:
    """The newest messages first, 50 a page."""
    page = max(request.args.get("page", 1, type=int), 1)
    sink = isinstance(gateway(), SinkGateway)
    model = SentSms if sink else SmsDispatch
    total = model.select().count()
    rows = list(model.select().order_by(model.id.desc()).paginate(page, PAGE_SIZE))
    return render_template(
        "sms/sent.html",
        sink=sink,
        rows=rows,
        page=page,
        pages=max(1, -(-total // PAGE_SIZE)),
        total=total,
        mask_phone=mask_phone,
        mask_codes=mask_codes,
    )
