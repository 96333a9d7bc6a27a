"""R16 with RENEWALS_PAYMENTS=stripe: the worker built from the settings charges through Stripe (localstripe,
a real HTTP server), once, under the quote's key; a card Stripe declines leaves the quote accepted."""

import asyncio

import httpx
import pytest
from pydantic import SecretStr
from temporalio.testing import WorkflowEnvironment

from domain.errors import PaymentDeclined
from domain.quotes import QuoteState
from store.loader import load
from tests.helpers import (
    calendar,
    quote_result,
    quote_stack,
    renewed_elsewhere,
    request,
    rows,
    subscription_row,
    subscriptions,
)
from workers.demo_data import demo_data

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


async def card(localstripe: str, number: str) -> str:
    """A PaymentMethod for a test card, as Stripe.js makes one in the buyer's browser."""
    form = {
        "type": "card",
        "card[number]": number,
        "card[exp_month]": "12",
        "card[exp_year]": "2030",
        "card[cvc]": "123",
    }
    async with httpx.AsyncClient(base_url=localstripe, headers=AUTH) as api:
        answer = await api.post("/v1/payment_methods", data=form)
    answer.raise_for_status()
    return answer.json()["id"]


async def authenticate(url: str, success: bool) -> str:
    """The buyer at their bank's page (tests/localstripe_server.py): where it sends them back to."""
    async with httpx.AsyncClient() as browser:
        answer = await browser.post(url, data={"success": "true" if success else "false"})
    assert answer.status_code == 303
    return answer.headers["location"]


async def test_r20_a_card_that_needs_3d_secure_sends_the_buyer_to_their_bank_and_is_paid_once_after(
    env: WorkflowEnvironment, pool, stripe_settings, localstripe: str
) -> None:
    method = await card(localstripe, "4000002500003155")
    async with quote_stack(env, pool, stripe_settings) as quotes:
        quote = await quotes.create(request("SUB-1001"), send=True)
        answered = await quotes.accept(quote.number, pay=True, payment_method=method)
        assert (answered.state, answered.payment) == (QuoteState.ACCEPTED, "pending")
        assert answered.payment_action_url and answered.payment_action_url.startswith(f"{localstripe}/_config/3ds/pi_")
        assert answered.json_view()["payment_action_url"] == answered.payment_action_url
        back = await authenticate(answered.payment_action_url, success=True)
        assert back.startswith(f"{stripe_settings.buyer_app_url}/quotes/{quote.number}/authenticated?")
        await quotes.check_payment(quote.number)  # what coming back to the return path does
        result = await quote_result(env.client, quote.number)
        shown = await quotes.show(quote.number)
    assert result.renewed and (shown.state, shown.payment, shown.payment_action_url) == (QuoteState.PAID, None, None)
    async with httpx.AsyncClient(base_url=localstripe, headers=AUTH) as api:
        intents = (await api.get("/v1/payment_intents")).json()["data"]
    assert [(i["id"], i["status"]) for i in intents] == [(shown.payment_reference, "succeeded")]


async def test_r20_a_failed_3d_secure_ends_the_payment_with_nothing_charged_and_the_quote_can_be_paid_again(
    env: WorkflowEnvironment, pool, stripe_settings, localstripe: str
) -> None:
    async with quote_stack(env, pool, stripe_settings) as quotes:
        quote = await quotes.create(request("SUB-1001"), send=True)
        answered = await quotes.accept(
            quote.number, pay=True, payment_method=await card(localstripe, "4000002500003155")
        )
        assert answered.payment_action_url
        await authenticate(answered.payment_action_url, success=False)
        await quotes.check_payment(quote.number)
        for _ in range(100):  # the workflow asks Stripe, which says nothing was charged
            shown = await quotes.show(quote.number)
            if shown.payment is None:
                break
            await asyncio.sleep(0.05)
        assert (shown.state, shown.payment, shown.payment_action_url) == (QuoteState.ACCEPTED, None, None)
        paid = await quotes.pay(quote.number, payment_method=await card(localstripe, "4242424242424242"))
    assert paid.state is QuoteState.PAID
    async with httpx.AsyncClient(base_url=localstripe, headers=AUTH) as api:
        intents = (await api.get("/v1/payment_intents")).json()["data"]
    assert [(i["id"], i["status"]) for i in intents] == [(paid.payment_reference, "succeeded")]  # one per quote


async def test_r20_a_card_authenticated_after_its_quote_was_superseded_is_refunded_in_full_and_audit_is_clean(
    env: WorkflowEnvironment, pool, stripe_settings, localstripe: str
) -> None:
    """The buyer is at their bank (3-D Secure) when the source renews the term elsewhere (R18): the quote is
    superseded; the money Stripe then takes goes back, whole, once, and nothing is renewed twice."""
    from payments.stripe import StripeGateway
    from services.audit import audit

    async with quote_stack(env, pool, stripe_settings) as quotes:
        data = demo_data((await env.get_current_time()).date())
        end = (await subscription_row(pool, "SUB-1001"))["end_date"]
        await subscriptions(env, pool, stripe_settings).sync()
        quote = await quotes.create(request("SUB-1001"), send=True)
        answered = await quotes.accept(
            quote.number, pay=True, payment_method=await card(localstripe, "4000002500003155")
        )
        assert answered.payment_action_url
        later = end.replace(year=end.year + 1)
        elsewhere = renewed_elsewhere(data, "SUB-1001", later)
        async with pool.connection() as conn:
            await load(conn, elsewhere)
        await subscriptions(env, pool, stripe_settings).sync()
        await authenticate(answered.payment_action_url, success=True)  # Stripe takes the money
        await quotes.check_payment(quote.number)
        ended = await quote_result(env.client, quote.number)
        shown = await quotes.show(quote.number)
        gateway = StripeGateway(pool, "sk_test_local", buyer_app_url="http://quotes.test", api_base=localstripe)
        report = await audit(env.client, pool, gateway, calendars=False)
        assert (await calendar(env.client, "SUB-1001")).end_date == later  # the source's renewal, only
    assert ended.state is QuoteState.CANCELLED and not ended.renewed
    assert shown.payment is None and "renewed outside this system" in (shown.cancel_reason or "")
    async with httpx.AsyncClient(base_url=localstripe, headers=AUTH) as api:
        (intent,) = (await api.get("/v1/payment_intents")).json()["data"]
        refunds = (await api.get("/v1/refunds")).json()["data"]
    assert intent["status"] == "succeeded"
    assert [(r["payment_intent"], r["amount"]) for r in refunds] == [(intent["id"], intent["amount"])]
    assert await rows(pool, "SELECT * FROM renewals") == []
    assert report.clean, report.violations
