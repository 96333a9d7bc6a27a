"""R20: `renewals ops audit` reports what a lost step or a crash can leave behind, on the time-skipping server
with real PostgreSQL: a hold of a quote whose workflow stopped, a refund the provider did not make, and a
charge the store has no payment for. The bad states are set up directly in the store and the fake
provider's ledger, so each test proves the audit, not a workflow path."""

import json
from collections import Counter
from decimal import Decimal

import pytest
from temporalio.client import WorkflowExecutionStatus
from temporalio.testing import WorkflowEnvironment

from contracts import quote as quote_contract
from payments.fake import FakeGateway
from payments.gateway import Card, Charge, ChargeRequest, idempotency_key
from services import audit as auditing
from store.loader import load
from tests.helpers import audit, quote_result, quote_stack, request, scalar, settled, until
from workers.demo_data import ACME, demo_data

pytestmark = pytest.mark.asyncio(loop_scope="session")
GOOD = Card(holder="A. Buyer", number="4242 4242 4242 4242", expiry="12/29", cvc="123")
TEN = Decimal("10.00")


class FindCounting(FakeGateway):
    """The local fake provider, counting how often each key was looked up."""

    def __init__(self, pool) -> None:
        super().__init__(pool)
        self.find_calls: Counter[str] = Counter()

    async def find(self, idempotency_key: str) -> Charge | None:
        self.find_calls[idempotency_key] += 1
        return await super().find(idempotency_key)


async def customers(env: WorkflowEnvironment, pool) -> None:
    """The demo customers and subscriptions, for quote rows to belong to."""
    async with pool.connection() as conn:
        await load(conn, demo_data((await env.get_current_time()).date()))


async def quote_row(pool, number: str, state: str, total: Decimal = TEN, payment: str | None = None) -> None:
    """A quote as its workflow would have saved it once accepted; `payment`: "pending" while being confirmed."""
    async with pool.connection() as conn:
        await conn.execute(
            "INSERT INTO quotes (number, kind, origin, csn, currency, state, address, total, accepted_at, document)"
            " VALUES (%s, 'renewal', 'sales', %s, 'EUR', %s, 'Main Street 1', %s, now(), %s)",
            (number, ACME, state, total, json.dumps({"payment": payment})),
        )


async def payment_row(pool, number: str, reference: str, method: str, refunded: bool, amount: Decimal = TEN) -> None:
    async with pool.connection() as conn:
        await conn.execute(
            "INSERT INTO payments (quote_number, reference, amount, currency, method, refunded_at)"
            " VALUES (%s, %s, %s, 'EUR', %s, CASE WHEN %s THEN now() END)",
            (number, reference, amount, method, refunded),
        )


async def charge(gateway: FakeGateway, number: str, refunded: bool = False, amount: Decimal = TEN) -> Charge:
    """A charge at the provider under the quote's key (refunded there too, if asked)."""
    taken = await gateway.charge(
        ChargeRequest(
            idempotency_key=idempotency_key(number),
            payment_method=await gateway.tokenize(GOOD),
            amount=amount,
            currency="EUR",
        )
    )
    if refunded:
        assert await gateway.refund(idempotency_key(number))
    return taken


async def test_r20_audit_reports_hold_of_a_failed_quote(env: WorkflowEnvironment, pool, settings, gateway) -> None:
    """A quote the store still shows sent, whose workflow was terminated after it held auto-renew: nothing
    will ever let the hold go. A quote with no workflow at all is reported alike; a running one is not."""
    async with quote_stack(env, pool, settings, gateway=gateway) as quotes:
        stopped = await quotes.create(request("SUB-1001", pause_auto_renew=True), send=True)
        running = await quotes.create(request("SUB-1001", pause_auto_renew=True), send=True)
        for number in (stopped.number, running.number):
            await until(lambda n=number: _holds(pool, "SUB-1001", n), f"{number} holds SUB-1001")
            await settled(env.client, number)
        handle = env.client.get_workflow_handle(quote_contract.workflow_id(stopped.number))
        await handle.terminate("test: the quote's workflow dies")
        assert (await handle.describe()).status == WorkflowExecutionStatus.TERMINATED
        await quote_row(pool, "Q-999999", "sent")
        async with pool.connection() as conn:
            await conn.execute(
                "INSERT INTO auto_renew_holds (subscription_id, quote_number) VALUES ('SUB-1002', 'Q-999999')"
            )
        found = await auditing.audit(env.client, pool, gateway, calendars=False)
        async with pool.connection() as conn:  # no workflow for quote_stack to end
            await conn.execute("DELETE FROM auto_renew_holds WHERE quote_number = 'Q-999999'")
            await conn.execute("DELETE FROM quotes WHERE number = 'Q-999999'")
    assert not found.clean
    assert [(v.kind, v.subject, v.detail) for v in found.violations if v.kind != "invoice"] == [
        (
            "hold",
            "SUB-1001",
            f"SUB-1001 has a hold of {stopped.number}, whose workflow was terminated (the quote is sent)",
        ),
        ("hold", "SUB-1002", "SUB-1002 has a hold of Q-999999, whose workflow was not found (the quote is sent)"),
    ]


# These tests write payment rows by hand, without the invoices a real payment issues with them (R28): that
# check is `test_r28_audit_finds_a_payment_without_its_invoice_and_a_gap` (tests/workflows/test_invoices.py).


async def _holds(pool, sub_id: str, number: str) -> bool:
    return bool(
        await scalar(
            pool,
            "SELECT count(*) FROM auto_renew_holds WHERE subscription_id = %s AND quote_number = %s",
            sub_id,
            number,
        )
    )


async def test_r20_audit_reports_refund_the_provider_did_not_confirm(env: WorkflowEnvironment, pool) -> None:
    """A payment the store records as refunded is checked against the provider: a charge it still keeps, or
    has none of, is reported; an offline payment no provider could have returned is reported too."""
    gateway = FindCounting(pool)
    await customers(env, pool)
    for number in ("Q-000001", "Q-000002", "Q-000003", "Q-000004"):
        await quote_row(pool, number, "cancelled")
    kept = await charge(gateway, "Q-000001")
    await payment_row(pool, "Q-000001", kept.id, "card", refunded=True)
    await payment_row(pool, "Q-000002", "ch_fake_gone", "card", refunded=True)
    await payment_row(pool, "Q-000003", "PAY-1", "offline", refunded=True)
    returned = await charge(gateway, "Q-000004", refunded=True)
    await payment_row(pool, "Q-000004", returned.id, "card", refunded=True)
    found = await auditing.audit(env.client, pool, gateway, calendars=False)
    assert [(v.kind, v.subject, v.detail) for v in found.violations if v.kind != "invoice"] == [
        ("money", "Q-000001", "Q-000001 is cancelled and holds EUR 10.00; it should hold EUR 0.00"),
        (
            "refund",
            "Q-000001",
            f"Q-000001 is recorded as refunded, but the provider shows its charge {kept.id} of EUR 10.00 not refunded",
        ),
        (
            "refund",
            "Q-000002",
            "Q-000002 is recorded as refunded, but the provider has no charge for its key quote-Q-000002",
        ),
        (
            "refund",
            "Q-000003",
            "Q-000003 is recorded as refunded, but its offline payment PAY-1 was never returned by a provider",
        ),
    ]
    assert gateway.find_calls == Counter({f"quote-Q-00000{i}": 1 for i in range(1, 5)})


async def test_r20_audit_reports_charge_without_payment_row(env: WorkflowEnvironment, pool) -> None:
    """Money the provider kept for a quote with no payment recorded is reported (the provider asked once per
    quote); a refunded charge is not, nor a payment still being confirmed."""
    gateway = FindCounting(pool)
    await customers(env, pool)
    await quote_row(pool, "Q-000001", "accepted")
    kept = await charge(gateway, "Q-000001")
    await quote_row(pool, "Q-000002", "cancelled")
    await charge(gateway, "Q-000002", refunded=True)
    await quote_row(pool, "Q-000003", "accepted", payment="pending")
    await charge(gateway, "Q-000003")
    found = await auditing.audit(env.client, pool, gateway, calendars=False)
    assert found.pending == ["Q-000003"]
    assert [(v.kind, v.subject, v.detail) for v in found.violations if v.kind != "invoice"] == [
        ("money", "Q-000001", "Q-000001 is accepted and holds EUR 10.00; it should hold EUR 0.00"),
        ("charge", "Q-000001", f"Q-000001 has a charge {kept.id} of EUR 10.00 at the provider but no payment recorded"),
    ]
    assert gateway.find_calls == Counter({"quote-Q-000001": 1, "quote-Q-000002": 1})


async def test_r20_audit_of_a_clean_stack_is_clean(env: WorkflowEnvironment, pool, settings, gateway) -> None:
    """A quote paid by card and one still open holding auto-renew (its workflow running): nothing to report."""
    async with quote_stack(env, pool, settings, gateway=gateway) as quotes:
        paid = await quotes.create(request("SUB-1001"), send=True)
        await quotes.accept(paid.number, pay=True, payment_method=await gateway.tokenize(GOOD))
        await quote_result(env.client, paid.number)
        held = await quotes.create(request("SUB-1002", pause_auto_renew=True), send=True)
        await until(lambda: _holds(pool, "SUB-1002", held.number), f"{held.number} holds SUB-1002")
        report = await audit(env, pool, gateway)
    assert report.clean and report.quotes == 1 and report.pending == []
