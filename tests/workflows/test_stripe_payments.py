"""R16 with RENEWALS_PAYMENTS=stripe: the worker built from the settings charges through Stripe (localstripe,
a real HTTP server), once, under the quote's key; a card Stripe declines leaves the quote accepted."""

import httpx
import pytest
from pydantic import SecretStr
from temporalio.testing import WorkflowEnvironment

from domain.errors import PaymentDeclined
from domain.quotes import QuoteState
from tests.helpers import quote_result, quote_stack, request

pytestmark = pytest.mark.asyncio(loop_scope="session")
AUTH = {"Authorization": "Bearer sk_test_local"}


@pytest.fixture
def stripe_settings(settings, localstripe: str):
    return settings.model_copy(
        update={
            "renewals_payments": "stripe",
            "stripe_api_key": SecretStr("sk_test_local"),
            "stripe_api_base": localstripe,
        }
    )


async def test_r16_a_quote_paid_by_card_through_stripe_is_charged_once_and_renewed(
    env: WorkflowEnvironment, pool, stripe_settings, localstripe: str
) -> None:
    async with quote_stack(env, pool, stripe_settings) as quotes:
        quote = await quotes.create(request("SUB-1001"), send=True)
        paid = await quotes.accept(quote.number, pay=True, payment_method="pm_card_visa")
        result = await quote_result(env.client, quote.number)
    assert paid.state is QuoteState.PAID and result.renewed
    async with httpx.AsyncClient(base_url=localstripe, headers=AUTH) as api:
        intents = (await api.get("/v1/payment_intents")).json()["data"]
    assert [(i["id"], i["status"], i["metadata"]["quote"]) for i in intents] == [
        (paid.payment_reference, "succeeded", quote.number)
    ]
    assert intents[0]["amount"] == int(quote.total * 100) and intents[0]["currency"] == quote.currency.lower()


async def test_r16_a_card_stripe_declines_leaves_the_quote_accepted_with_stripes_message(
    env: WorkflowEnvironment, pool, stripe_settings
) -> None:
    async with quote_stack(env, pool, stripe_settings) as quotes:
        quote = await quotes.create(request("SUB-1001"), send=True)
        with pytest.raises(PaymentDeclined) as declined:
            await quotes.accept(quote.number, pay=True, payment_method="pm_card_chargeCustomerFail")
        shown = await quotes.show(quote.number)
    assert declined.value.message == "your card was declined; nothing was charged"
    assert (shown.state, shown.payment) == (QuoteState.ACCEPTED, None)
