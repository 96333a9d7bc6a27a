"""The edges of the web app hold: bodies are limited before anything parses them, strangers are turned away
before their body is read, guesses never lock a buyer out, and no malformed value gets a 500."""

import httpx
import pytest
from temporalio.testing import WorkflowEnvironment

from domain.links import LinkSigner
from tests.helpers import BASE, form_fields, link_of, quote_stack, request, scalar, settled
from tests.workflows.test_api import AUTH, Api, body
from web.app import create_app
from web.security import PostLimit

pytestmark = pytest.mark.asyncio(loop_scope="session")
BIG = b"[" + b"1," * (3 << 20) + b"1]"  # 6 MiB of JSON


def answered_with_the_error_shape(response: httpx.Response, status: int) -> str:
    assert response.status_code == status, (response.status_code, response.text[:200])
    error = response.json()["error"]
    assert isinstance(error["message"], str) and error["message"]
    return error["message"]


async def chunks(data: bytes, size: int = 64 << 10):
    for start in range(0, len(data), size):
        yield data[start : start + size]


async def test_api_body_over_its_limit_is_refused_413_before_it_is_parsed(
    env: WorkflowEnvironment, pool, settings, gateway
) -> None:
    async with Api(env, pool, settings, gateway) as api:
        declared = await api.post("/api/v1/quotes", content=BIG, headers=AUTH | {"content-type": "application/json"})
        streamed = await api.post(
            "/api/v1/quotes", content=chunks(BIG), headers=AUTH | {"content-type": "application/json"}
        )
        stranger = await api.post("/api/v1/quotes", content=BIG, headers={"content-type": "application/json"})
    assert "larger than 1,048,576 bytes" in answered_with_the_error_shape(declared, 413)
    assert "larger than 1,048,576 bytes" in answered_with_the_error_shape(streamed, 413)
    answered_with_the_error_shape(stranger, 413)
    assert await scalar(pool, "SELECT count(*) FROM quotes") == 0


async def test_api_stranger_gets_401_before_the_body_is_read_even_malformed(
    env: WorkflowEnvironment, pool, settings, gateway
) -> None:
    async with Api(env, pool, settings, gateway) as api:
        malformed = await api.post("/api/v1/quotes", content=b"{not json", headers={"content-type": "application/json"})
        wrong_key = await api.post("/api/v1/quotes", json=body(), headers={"Authorization": "Bearer rk_guess"})
        not_bearer = await api.get("/api/v1/quotes", headers={"Authorization": "Basic cms6cms="})
        docs = await api.get("/api/v1/openapi.json")
    for response in (malformed, wrong_key, not_bearer):
        assert "API key" in answered_with_the_error_shape(response, 401)
        assert response.headers["www-authenticate"] == "Bearer"
    assert docs.status_code == 200
    assert await scalar(pool, "SELECT count(*) FROM quotes") == 0


async def test_api_body_that_is_not_json_gets_the_documented_error_shape(
    env: WorkflowEnvironment, pool, settings, gateway
) -> None:
    async with Api(env, pool, settings, gateway) as api:
        malformed = await api.post(
            "/api/v1/quotes", content=b"{not json", headers=AUTH | {"content-type": "application/json"}
        )
        nowhere = await api.get("/api/v1/nowhere", headers=AUTH)
        wrong_method = await api.delete("/api/v1/quotes", headers=AUTH)
    assert malformed.status_code in (400, 422) and malformed.json()["error"]["message"]
    answered_with_the_error_shape(nowhere, 404)
    answered_with_the_error_shape(wrong_method, 405)


async def test_api_nul_or_overlong_quote_number_or_subscription_id_is_a_4xx_never_500(
    env: WorkflowEnvironment, pool, settings, gateway
) -> None:
    async with Api(env, pool, settings, gateway) as api:
        nul = await api.get("/api/v1/quotes/Q-00%001", headers=AUTH)
        long = await api.post(f"/api/v1/quotes/Q-{'9' * 1000}/accept", json={}, headers=AUTH)
        sub = await api.put("/api/v1/subscriptions/SUB%001/auto-renew", json={"on": True}, headers=AUTH)
    assert "control character (U+0000)" in answered_with_the_error_shape(nul, 422)  # web/input_guard.py
    assert "unknown quote" in answered_with_the_error_shape(long, 404)
    answered_with_the_error_shape(sub, 422)


async def test_r16_a_reference_with_a_nul_is_refused_at_once_and_nothing_is_paid(
    env: WorkflowEnvironment, pool, settings, gateway
) -> None:
    async with Api(env, pool, settings, gateway) as api:
        created = (await api.post("/api/v1/quotes", json=body(send=True), headers=AUTH)).json()
        number = created["number"]
        refused = await api.post(
            f"/api/v1/quotes/{number}/accept", json={"pay": True, "reference": "BANK\x00-1"}, headers=AUTH
        )
        shown = (await api.get(f"/api/v1/quotes/{number}", headers=AUTH)).json()
    assert "reference" in (refused.json()["error"]["field"] or "") and refused.status_code == 422
    assert shown["state"] == "sent"
    assert await scalar(pool, "SELECT count(*) FROM payments") == 0


def app_for(quotes, settings, gateway, **options):
    return create_app(lambda: quotes, LinkSigner(settings.require_link_secrets()), lambda: gateway, **options)


async def test_form_over_64_kib_refused_413_before_it_is_parsed(
    env: WorkflowEnvironment, pool, settings, mailbox, gateway
) -> None:
    async with quote_stack(env, pool, settings, gateway=gateway) as quotes:
        quote = await quotes.create(request("SUB-1001"), send=True)
        await settled(env.client, quote.number)
        app = app_for(quotes, settings, gateway)
        async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url=BASE) as web:
            fields = form_fields((await web.get(link_of(mailbox, quote.number))).text, f"/quotes/{quote.number}/accept")
            large = await web.post(f"/quotes/{quote.number}/accept", data=fields | {"padding": "x" * (70 << 10)})
            shown = await quotes.show(quote.number)
    assert large.status_code == 413 and "larger than 65,536 bytes" in large.text
    assert shown.state == "sent"


async def test_guesses_from_one_address_never_lock_out_a_buyer_behind_the_same_proxy(
    env: WorkflowEnvironment, pool, settings, mailbox, gateway
) -> None:
    """Behind a proxy every buyer has the proxy's address: guesses (links that are not valid) are counted
    by address, real links by their own token, so the guesser is stopped and the buyer is not."""
    async with quote_stack(env, pool, settings, gateway=gateway) as quotes:
        quote = await quotes.create(request("SUB-1001"), send=True)
        await settled(env.client, quote.number)
        app = app_for(quotes, settings, gateway, post_limit=PostLimit(per_token=10, per_address=2))
        async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url=BASE) as web:
            guesses = [
                (
                    await web.post(f"/quotes/{quote.number}/accept", data={"token": f"guess-{i}", "csrf": "x"})
                ).status_code
                for i in range(3)
            ]
            fields = form_fields((await web.get(link_of(mailbox, quote.number))).text, f"/quotes/{quote.number}/accept")
            buyer = await web.post(f"/quotes/{quote.number}/accept", data=fields)
            accepted = await quotes.show(quote.number)
    assert guesses == [403, 403, 429]
    assert buyer.status_code in (200, 303) and accepted.state == "accepted"


async def test_pages_nul_number_or_a_valid_link_to_no_quote_is_4xx_never_500(
    env: WorkflowEnvironment, pool, settings, gateway
) -> None:
    async with quote_stack(env, pool, settings, gateway=gateway) as quotes:
        signer = LinkSigner(settings.require_link_secrets())
        app = app_for(quotes, settings, gateway)
        from datetime import UTC, datetime, timedelta

        soon = datetime.now(UTC) + timedelta(days=1)
        async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url=BASE) as web:
            nul = await web.get("/quotes/Q-00%001", params={"token": "x"})
            ghost = signer.quote_token("Q-999999", "buyer@acme.example", soon)
            missing = await web.get("/quotes/Q-999999", params={"token": ghost})
            missing_pay = await web.get("/quotes/Q-999999/pay", params={"token": ghost})
    assert nul.status_code == 400 and "control character" in nul.text  # web/input_guard.py
    assert missing.status_code == 404 and "No such quote" in missing.text
    assert missing_pay.status_code == 404
