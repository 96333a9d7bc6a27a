"""R20 and the payment provider's faults, on the dev server: the provider answering 503 for 90 s (test
card 4000 0000 0000 0119), and charges whose answer is lost (4000 0000 0000 5126) followed by offline
payments attempted while they are pending. 20 quotes paid, auto-renewals due; each ends paid once."""

import uuid
from datetime import date, timedelta

import pytest
from temporalio.testing import WorkflowEnvironment

from domain.errors import Refused
from domain.quotes import QuoteState
from payments.gateway import Card
from tests.faults.scene import Scene
from tests.helpers import CountingGateway, quote_stack

pytestmark = pytest.mark.asyncio(loop_scope="session")
UNAVAILABLE = Card(holder="A. Buyer", number="4000 0000 0000 0119", expiry="12/29", cvc="123")
LOST = Card(holder="A. Buyer", number="4000 0000 0000 5126", expiry="12/29", cvc="123")


@pytest.mark.timeout(600)
async def test_r20_the_provider_answering_503_for_90_s_is_waited_for_and_each_quote_paid_once(
    dev_env: WorkflowEnvironment, pool, settings
) -> None:
    gateway = CountingGateway(pool)  # the test card's own 90 s
    async with quote_stack(dev_env, pool, settings, gateway=gateway) as quotes:
        scene = Scene(dev_env, pool, settings, quotes, gateway)
        try:
            await scene.prepare(date.today(), uuid.uuid4().hex[:4])
            await scene.start_auto_renewals()
            answers = await scene.pay_all(await scene.tokens(UNAVAILABLE))
            assert {(a.state, a.payment) for a in answers} == {(QuoteState.ACCEPTED, "pending")}
            await scene.settled(calendars=True)
        finally:
            await scene.end()
    assert all(gateway.charge_calls[f"quote-{n}"] >= 2 for n in scene.numbers)


@pytest.mark.timeout(600)
async def test_r20_lost_charge_answers_stay_pending_refuse_offline_payments_and_end_paid_once(
    dev_env: WorkflowEnvironment, pool, settings
) -> None:
    gateway = CountingGateway(pool, lost_for=timedelta(seconds=45))
    async with quote_stack(dev_env, pool, settings, gateway=gateway) as quotes:
        scene = Scene(dev_env, pool, settings, quotes, gateway)
        try:
            await scene.prepare(date.today(), uuid.uuid4().hex[:4])
            await scene.start_auto_renewals()
            answers = await scene.pay_all(await scene.tokens(LOST))
            assert {(a.state, a.payment) for a in answers} == {(QuoteState.ACCEPTED, "pending")}
            for number in scene.numbers:
                with pytest.raises(Refused) as offline:
                    await quotes.pay(number, reference=f"BANK-{number}")
                assert offline.value.rule == "R20"
            await scene.settled(calendars=True)
        finally:
            await scene.end()
    assert {await _method(pool, n) for n in scene.numbers} == {"card"}


async def _method(pool, number: str) -> str:
    from tests.helpers import scalar

    return await scalar(pool, "SELECT method FROM payments WHERE quote_number = %s", number)
