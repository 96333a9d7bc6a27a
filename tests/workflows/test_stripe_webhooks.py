"""R20 and POST /webhooks/stripe: a payment Stripe decides later (3-D Secure) leaves the quote pending; Stripe's
signed `payment_intent.succeeded` (delivered by localstripe's /_config/webhooks to the app on a real port) makes
the quote's workflow ask Stripe now, and it ends paid, long before its next look. A bad or stale signature is
400, an unknown event or quote 200 and ignored; never a 500."""

import asyncio
import hashlib
import hmac
import json
import time
import uuid
from datetime import timedelta

import httpx
import pytest
from pydantic import SecretStr
from temporalio.testing import WorkflowEnvironment

from domain.links import LinkSigner
from domain.quotes import QuoteState
from runtime.client import payment_gateway
from tests.helpers import free_port, quote_stack, request
from web.app import create_app
from workers.serving import serve

pytestmark = pytest.mark.asyncio(loop_scope="session")
AUTH = {"Authorization": "Bearer sk_test_local"}
SECRET = "whsec_" + uuid.uuid4().hex
THREE_D_SECURE = {"number": "4000002500003155", "exp_month": "12", "exp_year": "2039", "cvc": "123"}


def signed(body: bytes, secret: str = SECRET, at: int | None = None) -> dict[str, str]:
    """Stripe's Stripe-Signature header: t=<unix>,v1=<HMAC-SHA256 of "t.body">."""
    stamp = int(time.time()) if at is None else at
    mac = hmac.new(secret.encode(), b"%d.%s" % (stamp, body), hashlib.sha256).hexdigest()
    return {"Stripe-Signature": f"t={stamp},v1={mac}", "Content-Type": "application/json"}


@pytest.mark.timeout(120)
async def test_r20_a_signed_payment_event_makes_a_pending_stripe_quote_ask_now_and_end_paid(
    dev_env: WorkflowEnvironment, pool, settings, localstripe: str
) -> None:
    stripe_settings = settings.model_copy(
        update={
            "renewals_payments": "stripe",
            "stripe_api_key": SecretStr("sk_test_local"),
            "stripe_api_base": localstripe,
            "payment_wait_seconds": 2.0,
        }
    )
    port = free_port()
    async with (
        quote_stack(dev_env, pool, stripe_settings) as quotes,
        httpx.AsyncClient(base_url=localstripe, headers=AUTH) as api,
    ):
        app = create_app(
            lambda: quotes,
            LinkSigner(stripe_settings.require_link_secrets()),
            lambda: payment_gateway(stripe_settings, pool),
            stripe_webhook_secret=SECRET,
        )
        stop = await serve(app, "127.0.0.1", port)
        try:
            hook = {"url": f"http://127.0.0.1:{port}/webhooks/stripe", "secret": SECRET}
            (await api.post("/_config/webhooks/renewals", data=hook)).raise_for_status()
            method = (await api.post("/v1/payment_methods", data=card_form())).json()["id"]
            quote = await quotes.create(request("SUB-1001"), send=True)
            pending = await quotes.accept(quote.number, pay=True, payment_method=method)
            assert (pending.state, pending.payment) == (QuoteState.ACCEPTED, "pending")
            (intent,) = (await api.get("/v1/payment_intents")).json()["data"]
            assert intent["status"] == "requires_action"
            started = time.monotonic()
            authenticated = {"client_secret": intent["client_secret"], "success": "true"}
            (await api.post(f"/v1/payment_intents/{intent['id']}/_authenticate", data=authenticated)).raise_for_status()
            paid = await wait_for(lambda: quotes.show(quote.number), lambda q: q.state is QuoteState.PAID)
            took = time.monotonic() - started
        finally:
            await stop()
    assert paid.payment_reference == intent["id"]
    assert took < 60, f"paid after {took:.0f} s: the webhook did not make the workflow ask (its next look: 300 s)"


async def test_stripe_webhooks_refuse_bad_signatures_and_ignore_what_they_do_not_act_on(settings) -> None:
    class Quotes:
        def __init__(self) -> None:
            self.asked: list[str] = []

        async def check_payment(self, number: str) -> None:
            from domain.errors import NotFound

            self.asked.append(number)
            if number != "Q-000001":
                raise NotFound(f"quote {number} has no running workflow")

    seen = Quotes()
    app = create_app(
        lambda: seen, LinkSigner(settings.require_link_secrets()), lambda: None, stripe_webhook_secret=SECRET
    )  # type: ignore[arg-type,return-value]

    def event(kind: str, quote: str | None = "Q-000001") -> bytes:
        obj = {"id": "pi_1", "object": "payment_intent", "metadata": {"quote": quote} if quote else {}}
        return json.dumps({"id": "evt_1", "type": kind, "data": {"object": obj}}).encode()

    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://test") as web:
        succeeded = event("payment_intent.succeeded")
        ok = await web.post("/webhooks/stripe", content=succeeded, headers=signed(succeeded))
        failed = event("payment_intent.payment_failed", "Q-999999")
        unknown_quote = await web.post("/webhooks/stripe", content=failed, headers=signed(failed))
        other = event("customer.created")
        ignored = await web.post("/webhooks/stripe", content=other, headers=signed(other))
        forged = await web.post("/webhooks/stripe", content=succeeded, headers=signed(succeeded, "whsec_other"))
        stale = await web.post(
            "/webhooks/stripe", content=succeeded, headers=signed(succeeded, at=int(time.time()) - 301)
        )
        unsigned = await web.post("/webhooks/stripe", content=succeeded)
        garbage = await web.post("/webhooks/stripe", content=b"not json", headers=signed(b"not json"))
    assert (ok.status_code, ok.json()) == (200, {"received": "payment_intent.succeeded", "quote": "Q-000001"})
    assert (unknown_quote.status_code, unknown_quote.json()["ignored"]) == (200, True)
    assert (ignored.status_code, ignored.json()) == (200, {"received": "customer.created", "ignored": True})
    assert [r.status_code for r in (forged, stale, unsigned, garbage)] == [400, 400, 400, 400]
    assert seen.asked == ["Q-000001", "Q-999999"]


def card_form() -> dict[str, str]:
    return {"type": "card", **{f"card[{k}]": v for k, v in THREE_D_SECURE.items()}}


async def wait_for(read, done, timeout: timedelta = timedelta(seconds=90)):
    deadline = time.monotonic() + timeout.total_seconds()
    while True:
        value = await read()
        if done(value) or time.monotonic() > deadline:
            return value
        await asyncio.sleep(0.25)
