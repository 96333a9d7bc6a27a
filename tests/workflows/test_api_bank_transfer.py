"""R29 through the backend API on the time-skipping server: accept with `method: bank_transfer`, then a bank
statement's batch (`POST /api/v1/payments/bank-transfers`) answered line by line; a reference that fails the
ISO 11649 check is a 422 naming its field, and nothing is done."""

from decimal import Decimal

import pytest
from temporalio.testing import WorkflowEnvironment

from domain.bank_transfer import printed, rf_reference
from tests.helpers import money, quote_result, scalar
from tests.workflows.test_api import AUTH, Api, body

pytestmark = pytest.mark.asyncio(loop_scope="session")
BATCH = "/api/v1/payments/bank-transfers"


def line(reference: str, amount: str, currency: str = "EUR") -> dict:
    return {"reference": reference, "amount": amount, "currency": currency, "date": "2027-01-04"}


async def test_r29_api_accept_by_bank_transfer_then_a_statement_pays_once_and_reports_every_line(
    env: WorkflowEnvironment, pool, settings, gateway
) -> None:
    async with Api(env, pool, settings, gateway) as api:
        made = (await api.post("/api/v1/quotes", json=body(send=True), headers=AUTH)).json()
        number, total = made["number"], Decimal(made["total"])
        reference = rf_reference(number)
        both = await api.post(
            f"/api/v1/quotes/{number}/accept", json={"pay": True, "method": "bank_transfer"}, headers=AUTH
        )
        assert both.status_code == 422
        accepted = await api.post(f"/api/v1/quotes/{number}/accept", json={"method": "bank_transfer"}, headers=AUTH)
        assert accepted.status_code == 200, accepted.text
        assert (accepted.json()["state"], accepted.json()["transfer_reference"]) == ("accepted", reference)

        bad = await api.post(
            BATCH, json={"transfers": [line(reference, str(total)), line("RF00 1234", "1")]}, headers=AUTH
        )
        assert bad.status_code == 422 and bad.json()["error"]["field"] == "transfers[1].reference"
        assert await scalar(pool, "SELECT count(*) FROM payments") == 0

        statement = [
            line(printed(reference), str(total - Decimal("12.34"))),  # short: refused with the difference
            line(rf_reference("Q-999999"), str(total)),  # no such quote: reported, never guessed
            line(reference, str(total)),  # pays
            line(reference, str(total)),  # the same line again: paid once
        ]
        answer = await api.post(BATCH, json={"transfers": statement}, headers=AUTH)
        assert answer.status_code == 200, answer.text
        results = answer.json()["results"]
        await quote_result(env.client, number)
        again = (await api.post(BATCH, json={"transfers": statement[2:3]}, headers=AUTH)).json()["results"]
        shown = (await api.get(f"/api/v1/quotes/{number}", headers=AUTH)).json()
    assert [(r["status"], r["quote"]) for r in results] == [
        ("refused", number),
        ("unknown_reference", None),
        ("paid", number),
        ("already_paid", number),
    ]
    assert (results[0]["rule"], results[0]["difference"]) == ("R29", "-12.34")
    assert "differs by EUR 12.34" in results[0]["message"]
    assert [r["status"] for r in again] == ["already_paid"]
    assert (shown["state"], shown["payment_reference"]) == ("paid", reference)
    moved = await money(pool, number)
    assert [(p["reference"], p["amount"], p["method"]) for p in moved["payments"]] == [(reference, total, "offline")]
    assert moved["charges"] == []


async def test_r29_api_pay_with_an_invalid_rf_reference_is_422_naming_the_field(
    env: WorkflowEnvironment, pool, settings, gateway
) -> None:
    async with Api(env, pool, settings, gateway) as api:
        made = (await api.post("/api/v1/quotes", json=body(send=True), headers=AUTH)).json()
        await api.post(f"/api/v1/quotes/{made['number']}/accept", json={"method": "bank_transfer"}, headers=AUTH)
        paid = await api.post(f"/api/v1/quotes/{made['number']}/pay", json={"reference": "RF99 0000 01"}, headers=AUTH)
    assert paid.status_code == 422 and paid.json()["error"]["field"] == "reference"
    assert await scalar(pool, "SELECT count(*) FROM payments") == 0
