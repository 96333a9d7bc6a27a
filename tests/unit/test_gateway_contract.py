"""R16, R20: the PaymentGateway contract, the same tests over each provider: the local fake and Stripe's
adapter against a real HTTP server (localstripe). One charge per key, a decline charges nothing and leaves
the key to another card, a lost answer found by key, a refund of the whole charge once, exact minor units."""

from dataclasses import dataclass
from decimal import Decimal

import httpx
import pytest

from payments.fake import FakeGateway
from payments.gateway import Card, CardDeclined, ChargeRequest, PaymentGateway
from payments.stripe import StripeGateway

pytestmark = pytest.mark.asyncio(loop_scope="session")


@dataclass
class Provider:
    name: str
    gateway: PaymentGateway
    good: str  # a payment method that pays
    declining: str  # one the provider declines
    api: str | None = None  # Stripe's API, to read what it holds


@pytest.fixture(params=["fake", "stripe"])
async def provider(request, pool) -> Provider:
    if request.param == "fake":
        fake = FakeGateway(pool)
        good = await fake.tokenize(Card(holder="A. Buyer", number="4242424242424242", expiry="12/39", cvc="123"))
        bad = await fake.tokenize(Card(holder="A. Buyer", number="4000000000000002", expiry="12/39", cvc="123"))
        return Provider("fake", fake, good, bad)
    api = request.getfixturevalue("localstripe")
    gateway = StripeGateway(pool, "sk_test_local", buyer_app_url="http://quotes.test", api_base=api)
    return Provider("stripe", gateway, "pm_card_visa", "pm_card_chargeCustomerFail", api)


def charge(key: str, method: str, amount: str = "10722.00", currency: str = "EUR") -> ChargeRequest:
    return ChargeRequest(idempotency_key=key, payment_method=method, amount=Decimal(amount), currency=currency)


async def test_r16_a_key_is_charged_once_and_found_by_it(provider: Provider) -> None:
    first = await provider.gateway.charge(charge("quote-Q-000001", provider.good))
    again = await provider.gateway.charge(charge("quote-Q-000001", provider.good))
    assert again == first
    assert (first.amount, first.currency, first.refunded) == (Decimal("10722.00"), "EUR", False)
    assert await provider.gateway.find("quote-Q-000001") == first
    if provider.api:
        assert await intents(provider.api) == [(1072200, "eur", "succeeded", "Q-000001")]


async def test_r16_a_declined_card_charges_nothing_and_another_card_pays_under_the_same_key(
    provider: Provider,
) -> None:
    with pytest.raises(CardDeclined) as declined:
        await provider.gateway.charge(charge("quote-Q-000002", provider.declining))
    assert "declined" in str(declined.value)
    assert await provider.gateway.find("quote-Q-000002") is None
    paid = await provider.gateway.charge(charge("quote-Q-000002", provider.good))
    assert await provider.gateway.find("quote-Q-000002") == paid


async def test_r20_a_key_never_charged_is_found_as_no_charge_and_refunds_nothing(provider: Provider) -> None:
    assert await provider.gateway.find("quote-Q-000003") is None
    assert await provider.gateway.refund("quote-Q-000003") is False


async def test_r20_a_refund_returns_the_whole_charge_once_and_the_key_shows_it(provider: Provider) -> None:
    taken = await provider.gateway.charge(charge("quote-Q-000004", provider.good))
    assert await provider.gateway.refund("quote-Q-000004") is True
    assert await provider.gateway.find("quote-Q-000004") == taken.model_copy(update={"refunded": True})
    assert await provider.gateway.refund("quote-Q-000004") is False
    if provider.api:
        async with httpx.AsyncClient(base_url=provider.api, headers=AUTH) as api:
            refunds = (await api.get("/v1/refunds", params={"payment_intent": taken.id})).json()["data"]
        assert [(r["amount"], r["status"]) for r in refunds] == [(1072200, "succeeded")]


@pytest.mark.parametrize(("amount", "currency", "units"), [("120000", "JPY", 120000), ("0.50", "USD", 50)])
async def test_r16_amounts_are_charged_in_the_currencys_own_units(
    provider: Provider, amount: str, currency: str, units: int
) -> None:
    taken = await provider.gateway.charge(charge("quote-Q-000005", provider.good, amount, currency))
    assert (taken.amount, taken.currency) == (Decimal(amount), currency)
    if provider.api:
        assert [i[:2] for i in await intents(provider.api)] == [(units, currency.lower())]


AUTH = {"Authorization": "Bearer sk_test_local"}


async def intents(api: str) -> list[tuple]:
    async with httpx.AsyncClient(base_url=api, headers=AUTH) as client:
        listed = (await client.get("/v1/payment_intents")).json()["data"]
    return [(i["amount"], i["currency"], i["status"], i["metadata"].get("quote")) for i in listed]
