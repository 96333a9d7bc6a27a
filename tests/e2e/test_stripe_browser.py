"""RENEWALS_PAYMENTS=stripe in a real browser (Debian's headless Chromium), against localstripe: the card is
typed in Stripe.js's own field and the pay form posts only the PaymentMethod's id (R16); a card whose bank asks
for 3-D Secure sends the buyer to the bank's page and back to their quote, which ends paid once (R20). The pay
page's policy lets Stripe.js in, and no other page's does."""

import asyncio
import re
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import httpx
import pytest
import uvicorn
from pydantic import SecretStr
from temporalio.testing import WorkflowEnvironment

from domain.links import LinkSigner
from domain.quotes import QuoteState
from runtime.client import payment_gateway
from services.quotes import QuoteService
from tests.e2e.test_web_browser import CHROMIUM, CHROMIUM_FLAGS
from tests.helpers import free_port, quote_result, quote_stack, request
from web.app import create_app
from web.stripe_checkout import stripe_checkout_of

pytestmark = [
    pytest.mark.asyncio(loop_scope="session"),
    pytest.mark.skipif(
        CHROMIUM is None,
        reason="no Chromium: install it with `apt-get install chromium` (.ci/run does) to run the browser test",
    ),
]
AUTH = {"Authorization": "Bearer sk_test_local"}


@asynccontextmanager
async def stripe_app(env: WorkflowEnvironment, pool, settings, localstripe: str) -> AsyncIterator[tuple]:
    """The worker and the buyer app with Stripe on, served on a free port: (quotes, settings, app's address)."""
    port = free_port()
    settings = settings.model_copy(
        update={
            "renewals_payments": "stripe",
            "stripe_api_key": SecretStr("sk_test_local"),
            "stripe_publishable_key": "pk_test_local",
            "stripe_api_base": localstripe,
            "buyer_app_url": f"http://127.0.0.1:{port}",
        }
    )
    gateway = payment_gateway(settings, pool)
    async with quote_stack(env, pool, settings) as quotes:
        app = create_app(
            lambda: quotes,
            LinkSigner(settings.require_link_secrets()),
            lambda: gateway,
            stripe_checkout=stripe_checkout_of(settings),
        )
        server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning", lifespan="off"))
        serving = asyncio.create_task(server.serve())
        try:
            while not server.started:
                await asyncio.sleep(0.05)
            yield quotes, settings, f"http://127.0.0.1:{port}"
        finally:
            server.should_exit = True
            await serving


async def pay_page_of(quotes: QuoteService, settings, number: str) -> str:
    quote = await quotes.show(number)
    token = LinkSigner(settings.require_link_secrets()).quote_token(number, quote.buyer_email, quote.expires_at)
    return f"{settings.buyer_app_url}/quotes/{number}/pay?token={token}"


async def type_card(page, number: str) -> None:
    """Into Stripe.js's field (localstripe's stands in for Stripe's frame), then "Accept and pay"."""
    await page.fill("#holder", "Carla Fo")
    await page.wait_for_selector("#card-element input[placeholder=number]")
    await page.fill("#card-element input[placeholder=number]", number)
    await page.fill("#card-element input[placeholder=exp_month]", "12")
    await page.fill("#card-element input[placeholder=exp_year]", "30")
    await page.fill("#card-element input[placeholder=cvc]", "123")
    await page.fill("#card-element input[placeholder=postal_code]", "1011")
    await page.click("#stripe-pay button[type=submit]")


async def intents(localstripe: str) -> list[tuple[str, str]]:
    async with httpx.AsyncClient(base_url=localstripe, headers=AUTH) as api:
        return [(i["id"], i["status"]) for i in (await api.get("/v1/payment_intents")).json()["data"]]


async def test_r16_a_card_typed_in_stripes_field_pays_and_only_its_payment_method_reaches_the_app(
    env: WorkflowEnvironment, pool, settings, localstripe: str
) -> None:
    from playwright.async_api import async_playwright

    async with stripe_app(env, pool, settings, localstripe) as (quotes, settings, base):
        quote = await quotes.create(request("SUB-1001", recipients=["cfo@acme.example"]), send=True)
        posted: list[str] = []
        blocked: list[str] = []
        async with async_playwright() as p:
            browser = await p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_FLAGS)
            page = await browser.new_page()
            page.on("request", lambda r: posted.append(r.post_data or "") if r.url.startswith(f"{base}/") else None)
            page.on("console", lambda m: blocked.append(m.text) if "Content Security Policy" in m.text else None)
            response = await page.goto(await pay_page_of(quotes, settings, quote.number))
            policy = response.headers["content-security-policy"]
            assert f"script-src 'self' {localstripe}" in policy and f"form-action 'self' {localstripe}" in policy
            await type_card(page, "4242424242424242")
            await page.wait_for_selector("text=the quote is paid")
            assert await page.text_content("#state") == "paid"
            home = await page.goto(f"{base}/quotes/{quote.number}?token=x")
            assert "script-src" not in home.headers["content-security-policy"]  # only the pay page lets Stripe in
            await browser.close()
        paid = await quotes.show(quote.number)
    assert paid.state is QuoteState.PAID and await intents(localstripe) == [(paid.payment_reference, "succeeded")]
    form = next(p for p in posted if "payment_method=" in p)
    assert re.search(r"payment_method=pm_\w+", form) and "4242" not in form and "card_number" not in form
    assert blocked == []


async def test_r20_a_card_that_needs_3d_secure_goes_to_the_bank_and_back_to_its_quote_paid_once(
    env: WorkflowEnvironment, pool, settings, localstripe: str
) -> None:
    from playwright.async_api import async_playwright

    async with stripe_app(env, pool, settings, localstripe) as (quotes, settings, base):
        quote = await quotes.create(request("SUB-1001", recipients=["cfo@acme.example"]), send=True)
        async with async_playwright() as p:
            browser = await p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_FLAGS)
            page = await browser.new_page()
            await page.goto(await pay_page_of(quotes, settings, quote.number))
            await type_card(page, "4000002500003155")
            await page.wait_for_url(re.compile(rf"^{re.escape(localstripe)}/_config/3ds/pi_\w+$"))
            pending = await quotes.show(quote.number)
            assert (pending.state, pending.payment) == (QuoteState.ACCEPTED, "pending")
            await page.click("#true")  # "Complete authentication"
            await page.wait_for_url(
                re.compile(rf"^{re.escape(base)}/quotes/{quote.number}\?token=.*done=authenticated")
            )
            await page.wait_for_selector("#state:text-is('paid')", timeout=30_000)  # it reloads until it knows
            assert (
                await page.locator("#reference").text_content() == (await quotes.show(quote.number)).payment_reference
            )
            await browser.close()
        result = await quote_result(env.client, quote.number)
        paid = await quotes.show(quote.number)
    assert result.renewed and paid.state is QuoteState.PAID
    assert await intents(localstripe) == [(paid.payment_reference, "succeeded")]


async def test_r16_a_pay_form_with_card_fields_or_no_payment_method_id_is_refused_and_nothing_is_charged(
    env: WorkflowEnvironment, pool, settings, localstripe: str
) -> None:
    """With Stripe, the app takes no card number: a form that posts one (or anything but a pm_ id) is a 422."""
    async with stripe_app(env, pool, settings, localstripe) as (quotes, settings, base):
        quote = await quotes.create(request("SUB-1001"), send=True)
        pay_url = await pay_page_of(quotes, settings, quote.number)
        async with httpx.AsyncClient() as browser:
            page = await browser.get(pay_url)
            token = re.search(r'name="token" value="([^"]+)"', page.text).group(1)
            csrf = re.search(r'name="csrf" value="([^"]+)"', page.text).group(1)
            for fields in (
                {"card_number": "4242424242424242", "expiry": "12/30", "cvc": "123", "holder": "Carla Fo"},
                {"payment_method": "tok_visa"},
                {"payment_method": "pm_card_visa; DROP"},
            ):
                answer = await browser.post(
                    f"{base}/quotes/{quote.number}/pay",
                    data={"token": token, "csrf": csrf, **fields},
                    headers={"origin": base},
                )
                assert answer.status_code == 422, answer.text
                assert "Enter your card in the card field" in answer.text
        shown = await quotes.show(quote.number)
    assert (shown.state, shown.payment) == (QuoteState.SENT, None)
    assert await intents(localstripe) == []


async def test_r20_back_from_the_bank_without_this_browsers_cookie_only_says_the_payment_is_being_confirmed(
    env: WorkflowEnvironment, pool, settings, localstripe: str
) -> None:
    async with stripe_app(env, pool, settings, localstripe) as (quotes, settings, base):
        quote = await quotes.create(request("SUB-1001"), send=True)
        async with httpx.AsyncClient() as browser:
            answer = await browser.get(f"{base}/quotes/{quote.number}/authenticated?payment_intent=pi_x")
        async with httpx.AsyncClient(cookies={"renewals_authenticating": "not-a-link"}) as browser:
            forged = await browser.get(f"{base}/quotes/{quote.number}/authenticated")
    for page in (answer, forged):
        assert page.status_code == 200 and "being confirmed" in page.text
        assert quote.number not in page.text.split("<main>")[1]  # nothing of the quote without its link
