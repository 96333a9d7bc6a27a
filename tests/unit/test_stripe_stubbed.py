"""R16, R20: what localstripe does not do as Stripe does, on the adapter with Stripe's HTTP layer stubbed
(httpx.MockTransport under the SDK's own httpx client), each answer shaped like Stripe's documented one:
idempotent replays, a 500, a timeout after the charge, a decline with its decline_code, 3-D Secure
(requires_action), and a refund Stripe has not confirmed."""

import itertools
import time
from collections.abc import Callable
from decimal import Decimal
from urllib.parse import parse_qs

import httpx
import pytest
import stripe

from payments.gateway import (
    ActionRequired,
    CardDeclined,
    ChargeRequest,
    OutcomeUnknown,
    PaymentPending,
    ProviderUnavailable,
)
from payments.stripe import AUTHENTICATION_WINDOW, StripeGateway

pytestmark = pytest.mark.asyncio(loop_scope="session")
KEY = "quote-Q-000042"
REQUEST = ChargeRequest(idempotency_key=KEY, payment_method="pm_1", amount=Decimal("120000"), currency="JPY")
Fault = Callable[[httpx.Request, "FakeStripe"], httpx.Response | None]


class FakeStripe:
    """Stripe's PaymentIntents and Refunds as its API documents them: one object per Idempotency-Key (a
    replay returns it), confirm by id, `faults` to break a given call (`(method, path suffix)` -> fault)."""

    def __init__(self) -> None:
        self.intents: dict[str, dict] = {}
        self.refunds: list[dict] = []
        self.replays: dict[str, dict] = {}
        self.calls: list[tuple[str, str, str | None]] = []
        self.faults: dict[tuple[str, str], list[Fault]] = {}
        self.confirm_status = "succeeded"
        self.refund_status = "succeeded"
        self.ids = itertools.count(1)

    def handle(self, request: httpx.Request) -> httpx.Response:
        key = request.headers.get("idempotency-key")
        path = request.url.path
        self.calls.append((request.method, path, key))
        for (method, suffix), faults in self.faults.items():
            if request.method == method and path.endswith(suffix) and faults:
                answer = faults.pop(0)(request, self)
                if answer is not None:
                    return answer
        if key in self.replays:
            return httpx.Response(200, json=self.replays[key])
        form = {k: v[0] for k, v in parse_qs(request.content.decode()).items()}
        answer = self.route(request.method, path, form)
        if key and answer.status_code < 500:
            self.replays[key] = answer.json()
        return answer

    def route(self, method: str, path: str, form: dict) -> httpx.Response:
        parts = path.strip("/").split("/")[1:]
        if method == "POST" and parts == ["payment_intents"]:
            intent = {
                "id": f"pi_{next(self.ids)}",
                "object": "payment_intent",
                "amount": int(form["amount"]),
                "currency": form["currency"],
                "metadata": {"quote": form["metadata[quote]"]},
                "status": "requires_payment_method",
                "next_action": None,
                "last_payment_error": None,
                "created": int(time.time()),
            }
            self.intents[intent["id"]] = intent
            return httpx.Response(200, json=intent)
        if method == "GET" and parts[0] == "payment_intents":
            return httpx.Response(200, json=self.intents[parts[1]])
        if method == "POST" and parts[-1:] == ["confirm"]:
            intent = self.intents[parts[1]]
            if intent["status"] in ("canceled", "succeeded"):
                message = f"This PaymentIntent's status is {intent['status']}; it cannot be confirmed."
                return httpx.Response(400, json={"error": {"type": "invalid_request_error", "message": message}})
            intent["status"] = self.confirm_status
            if self.confirm_status == "requires_action":
                intent["next_action"] = {
                    "type": "redirect_to_url",
                    "redirect_to_url": {
                        "url": "https://hooks.stripe.com/3d_secure/pi_1",
                        "return_url": form["return_url"],
                    },
                }
            return httpx.Response(200, json=intent)
        if method == "POST" and parts[-1:] == ["cancel"]:
            intent = self.intents[parts[1]]
            if intent["status"] not in ("requires_payment_method", "requires_confirmation", "requires_action"):
                message = f"You cannot cancel this PaymentIntent because it has a status of {intent['status']}."
                return httpx.Response(400, json={"error": {"type": "invalid_request_error", "message": message}})
            intent |= {"status": "canceled", "next_action": None, "cancellation_reason": form["cancellation_reason"]}
            return httpx.Response(200, json=intent)
        if method == "POST" and parts == ["refunds"]:
            refund = {"id": f"re_{next(self.ids)}", "object": "refund", "payment_intent": form["payment_intent"]}
            self.refunds.append(refund | {"status": self.refund_status})
            return httpx.Response(200, json=self.refunds[-1])
        if method == "GET" and parts == ["refunds"]:
            return httpx.Response(200, json={"object": "list", "data": self.refunds, "has_more": False})
        return httpx.Response(404, json={"error": {"type": "invalid_request_error", "message": "no such route"}})

    def count(self, method: str, suffix: str) -> int:
        return sum(1 for m, p, _ in self.calls if m == method and p.endswith(suffix))


def timeout_after(request: httpx.Request, fake: FakeStripe) -> httpx.Response | None:
    """Stripe did it; the answer never came back."""
    fake.handle(request)
    fake.calls.pop()  # one call, recorded once
    raise httpx.ReadTimeout("timed out", request=request)


def server_error(request: httpx.Request, fake: FakeStripe) -> httpx.Response:
    return httpx.Response(500, json={"error": {"type": "api_error", "message": "An unknown error occurred"}})


@pytest.fixture
def fake() -> FakeStripe:
    return FakeStripe()


@pytest.fixture
def gateway(pool, fake: FakeStripe) -> StripeGateway:
    http = stripe.HTTPXClient()
    http._client_async = httpx.AsyncClient(transport=httpx.MockTransport(fake.handle))
    return StripeGateway(pool, "sk_test_stub", buyer_app_url="https://quotes.example", http_client=http)


async def test_r16_an_idempotent_replay_of_a_lost_create_makes_one_intent(gateway, fake) -> None:
    fake.faults[("POST", "/v1/payment_intents")] = [timeout_after]
    with pytest.raises(ProviderUnavailable):  # nothing charged yet: retried as an outage
        await gateway.charge(REQUEST)
    taken = await gateway.charge(REQUEST)
    assert (taken.id, taken.amount, taken.currency) == ("pi_1", Decimal("120000"), "JPY")
    assert list(fake.intents) == ["pi_1"] and fake.intents["pi_1"]["amount"] == 120000
    creates = [key for method, path, key in fake.calls if method == "POST" and path == "/v1/payment_intents"]
    assert creates == [KEY, KEY]
    assert fake.count("POST", "/confirm") == 1


async def test_r16_a_charge_asked_again_confirms_nothing_twice(gateway, fake) -> None:
    first = await gateway.charge(REQUEST)
    assert await gateway.charge(REQUEST) == first
    assert (fake.count("POST", "/v1/payment_intents"), fake.count("POST", "/confirm")) == (1, 1)


async def test_r20_a_500_then_success_is_an_unknown_outcome_settled_by_the_stored_intent(gateway, fake) -> None:
    fake.faults[("POST", "/confirm")] = [server_error]
    with pytest.raises(OutcomeUnknown) as unknown:
        await gateway.charge(REQUEST)
    assert not isinstance(unknown.value, CardDeclined)
    assert await gateway.find(KEY) is None  # the 500 confirmed nothing: the buyer may pay again
    taken = await gateway.charge(REQUEST)
    assert taken.id == "pi_1" and fake.intents["pi_1"]["status"] == "succeeded"


async def test_r20_a_timeout_after_the_stripe_charge_is_settled_by_retrieving_the_intent(gateway, fake) -> None:
    fake.faults[("POST", "/confirm")] = [timeout_after]
    with pytest.raises(OutcomeUnknown):
        await gateway.charge(REQUEST)
    found = await gateway.find(KEY)
    assert found is not None and (found.id, found.amount, found.refunded) == ("pi_1", Decimal("120000"), False)
    assert ("GET", "/v1/payment_intents/pi_1", None) in fake.calls
    assert not any(path.endswith("/search") for _, path, _ in fake.calls)
    assert await gateway.charge(REQUEST) == found and fake.count("POST", "/confirm") == 1


async def test_r16_a_decline_with_a_decline_code_shows_stripes_message_to_the_buyer(gateway, fake) -> None:
    declined = {
        "error": {
            "type": "card_error",
            "code": "card_declined",
            "decline_code": "insufficient_funds",
            "message": "Your card has insufficient funds.",
            "payment_intent": {"id": "pi_1"},
        }
    }
    fake.faults[("POST", "/confirm")] = [lambda request, fake: httpx.Response(402, json=declined)]
    with pytest.raises(CardDeclined) as err:
        await gateway.charge(REQUEST)
    assert str(err.value) == "your card has insufficient funds"
    assert await gateway.find(KEY) is None


async def test_r20_requires_action_sends_the_buyer_to_stripe_and_stays_pending(gateway, fake) -> None:
    fake.confirm_status = "requires_action"
    with pytest.raises(ActionRequired) as action:
        await gateway.charge(REQUEST)
    assert action.value.url == "https://hooks.stripe.com/3d_secure/pi_1"
    confirm = next(c for c in fake.calls if c[1].endswith("/confirm"))
    assert confirm[2] == f"{KEY}-confirm-pm_1"
    with pytest.raises(PaymentPending):  # "payment being confirmed" until Stripe decides
        await gateway.find(KEY)
    fake.intents["pi_1"] |= {"status": "succeeded", "next_action": None}  # the buyer authenticated
    assert (await gateway.find(KEY)).id == "pi_1"  # type: ignore[union-attr]


async def confirmed_ago(pool, seconds: float) -> None:
    """The buyer was sent to their bank `seconds` ago (the adapter's own record of the confirm)."""
    async with pool.connection() as conn:
        await conn.execute(
            "UPDATE stripe_payment_intents SET confirmed_at = now() - make_interval(secs => %s)", (seconds,)
        )
        await conn.commit()


async def test_r20_an_authentication_abandoned_for_the_window_is_cancelled_and_nothing_was_charged(
    gateway, fake, pool
) -> None:
    fake.confirm_status = "requires_action"
    with pytest.raises(ActionRequired):
        await gateway.charge(REQUEST)
    fake.intents["pi_1"]["created"] -= 10 * AUTHENTICATION_WINDOW.total_seconds()  # made long ago: not what counts
    await confirmed_ago(pool, AUTHENTICATION_WINDOW.total_seconds() - 60)
    with pytest.raises(PaymentPending):  # within the window of the confirm: still the buyer's to complete
        await gateway.find(KEY)
    await confirmed_ago(pool, AUTHENTICATION_WINDOW.total_seconds() + 60)
    assert await gateway.find(KEY) is None  # cancelled at Stripe: nothing can charge it later
    assert fake.intents["pi_1"]["status"] == "canceled"
    assert fake.intents["pi_1"]["cancellation_reason"] == "abandoned"
    assert [key for method, path, key in fake.calls if path.endswith("/cancel")] == ["cancel-pi_1"]


async def test_r20_a_quote_whose_authentication_was_abandoned_is_paid_later_under_an_intent_of_its_own(
    gateway, fake, pool
) -> None:
    fake.confirm_status = "requires_action"
    with pytest.raises(ActionRequired):
        await gateway.charge(REQUEST)
    await confirmed_ago(pool, AUTHENTICATION_WINDOW.total_seconds() + 60)
    assert await gateway.find(KEY) is None
    fake.confirm_status = "succeeded"
    charge = await gateway.charge(REQUEST.model_copy(update={"payment_method": "pm_2"}))
    again = await gateway.charge(REQUEST.model_copy(update={"payment_method": "pm_2"}))  # a retry: the same one
    assert charge.id == again.id != "pi_1" and not charge.refunded
    assert (await gateway.find(KEY)).id == charge.id  # type: ignore[union-attr]
    creates = [key for method, path, key in fake.calls if method == "POST" and path == "/v1/payment_intents"]
    assert creates == [KEY, f"{KEY}-after-pi_1"]
    assert sum(1 for i in fake.intents.values() if i["status"] == "succeeded") == 1


async def test_r20_an_authentication_completed_as_it_is_cancelled_counts_as_charged(gateway, fake, pool) -> None:
    fake.confirm_status = "requires_action"
    with pytest.raises(ActionRequired):
        await gateway.charge(REQUEST)
    await confirmed_ago(pool, AUTHENTICATION_WINDOW.total_seconds() + 60)

    def completed_first(request: httpx.Request, fake: FakeStripe) -> None:
        fake.intents["pi_1"] |= {"status": "succeeded", "next_action": None}  # the buyer came back just now
        return None

    fake.faults[("POST", "/cancel")] = [completed_first]
    charge = await gateway.find(KEY)
    assert charge is not None and charge.id == "pi_1" and not charge.refunded


async def test_r20_a_pending_refund_counts_as_money_going_back(gateway, fake) -> None:
    await gateway.charge(REQUEST)
    fake.refund_status = "pending"
    assert await gateway.refund(KEY) is True
    assert (await gateway.find(KEY)).refunded is True  # type: ignore[union-attr]
    assert await gateway.refund(KEY) is False  # refunded already: no second refund
    assert [key for method, path, key in fake.calls if path == "/v1/refunds" and method == "POST"] == [f"refund-{KEY}"]


async def test_r20_a_failed_refund_does_not_count_and_is_asked_again_under_its_own_key(gateway, fake) -> None:
    await gateway.charge(REQUEST)
    fake.refund_status = "failed"
    assert await gateway.refund(KEY) is False
    assert (await gateway.find(KEY)).refunded is False  # type: ignore[union-attr]
    assert await gateway.refund(KEY) is False  # Stripe replays the same refund: a person looks (ops stuck)
    assert len(fake.refunds) == 1
    assert [key for method, path, key in fake.calls if path == "/v1/refunds" and method == "POST"] == [
        f"refund-{KEY}",
        f"refund-{KEY}",
    ]
