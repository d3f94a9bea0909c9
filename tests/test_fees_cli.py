"""``dcs-server fees import``: the month's management fees from the building manager's CSV."""

from __future__ import annotations

from decimal import Decimal

from devtools.synthetic import residents
from sync_server.bills.models import ManagementFee
from sync_server.cli import main
from sync_server.db import database
from tests.test_api_token_cli import runner  # noqa: F401 - the server CLI on a fresh database


def test_a_fee_file_is_imported_and_a_bad_one_writes_nothing(runner, tmp_path):  # noqa: F811
    first, second = list(residents(2))
    good = tmp_path / "fees.csv"
    good.write_text(
        f"unit,citizen_id,amount\n12A,{first.citizen_id},1850.00\n7B,{second.citizen_id},990\n"
    )
    done = runner.invoke(
        main, ["fees", "import", str(good), "--building", "building-1", "--period", "2026-11"]
    )
    assert done.exit_code == 0, done.output
    assert "2 fee(s) set for building-1 2026-11 in THB" in done.output
    with database.connection_context():
        fees = {f.unit: Decimal(f.amount) for f in ManagementFee.select()}
    assert fees == {"12A": Decimal("1850.00"), "7B": Decimal("990")}

    bad = tmp_path / "bad.csv"
    bad.write_text(f"unit,citizen_id,amount\n9C,{first.citizen_id},12.345\n")
    refused = runner.invoke(
        main, ["fees", "import", str(bad), "--building", "building-1", "--period", "2026-11"]
    )
    assert refused.exit_code == 1
    assert "line 2" in refused.output and "nothing was written" in refused.output
    wrong_month = runner.invoke(
        main, ["fees", "import", str(good), "--building", "building-1", "--period", "2026-13"]
    )
    assert wrong_month.exit_code == 2 and "YYYY-MM" in wrong_month.output
    with database.connection_context():
        assert ManagementFee.select().count() == 2
