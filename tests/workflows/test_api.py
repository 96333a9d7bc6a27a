"""The backend API (/api/v1) through FastAPI's test client, on the time-skipping server with the real store."""

import asyncio
import logging
from datetime import date
from decimal import Decimal

import httpx
import pytest
from temporalio.testing import WorkflowEnvironment

from domain.links import LinkSigner
from runtime.app import open_app
from runtime.settings import ApiKey, parse_api_keys
from tests.helpers import BASE, money, quote_result, quote_stack, scalar
from web.api import create_api
from web.app import create_app
from workers.demo_data import ACME

pytestmark = pytest.mark.asyncio(loop_scope="session")
KEY = "rk_test_key"
AUTH = {"Authorization": f"Bearer {KEY}"}


class Api:
    """The buyer app with the API mounted, on this test's stack; `keys`: RENEWALS_API_KEYS as entries."""

    def __init__(self, env: WorkflowEnvironment, pool, settings, gateway, keys: list[ApiKey] | None = None) -> None:
        self.env, self.pool, self.settings, self.gateway = env, pool, settings, gateway
        self.keys = keys or parse_api_keys(f"test:{KEY}:write,other:rk_other:write")

    async def __aenter__(self) -> httpx.AsyncClient:
        self.stack = quote_stack(self.env, self.pool, self.settings, gateway=self.gateway)
        await self.stack.__aenter__()
        today = (await self.env.get_current_time()).date()
        self.opened = open_app(self.settings, pool=self.pool, client=self.env.client, today=today)
        app = await self.opened.__aenter__()
        web = create_app(
            lambda: app.quotes,
            LinkSigner(self.settings.require_link_secrets()),
            lambda: self.gateway,
            api=create_api(lambda: app, self.keys),
        )
        self.http = httpx.AsyncClient(transport=httpx.ASGITransport(app=web), base_url=BASE)
        return self.http

    async def __aexit__(self, *exc) -> None:
        await self.http.aclose()
        await self.opened.__aexit__(*exc)
        await self.stack.__aexit__(*exc)


def body(**fields) -> dict:
    return {"csn": ACME, "subscriptions": ["SUB-1001"], **fields}


async def test_api_401_without_a_valid_key_and_nothing_done(env: WorkflowEnvironment, pool, settings, gateway) -> None:
    async with Api(env, pool, settings, gateway) as api:
        answers = [
            await api.post("/api/v1/quotes", json=body()),
            await api.post("/api/v1/quotes", json=body(), headers={"Authorization": "Bearer rk_wrong"}),
            await api.get("/api/v1/quotes", headers={"Authorization": "Basic abc"}),
        ]
        assert [a.status_code for a in answers] == [401, 401, 401]
        assert answers[0].headers["www-authenticate"] == "Bearer"
        assert (await api.get("/api/v1/quotes", headers={"Authorization": "Bearer rk_other"})).status_code == 200
    assert await scalar(pool, "SELECT count(*) FROM quotes") == 0


async def test_api_keys_never_logged(env: WorkflowEnvironment, pool, settings, gateway, caplog) -> None:
    caplog.set_level(logging.DEBUG)
    async with Api(env, pool, settings, gateway) as api:
        made = await api.post("/api/v1/quotes", json=body(send=True), headers=AUTH)
        await api.post("/api/v1/quotes", json=body(), headers={"Authorization": "Bearer rk_guessed_key"})
        await api.post(f"/api/v1/quotes/{made.json()['number']}/accept", json={"pay": True}, headers=AUTH)
    assert made.status_code == 201 and caplog.records
    assert KEY not in caplog.text and "rk_guessed_key" not in caplog.text


async def test_api_create_with_idempotency_key_twice_and_at_once_makes_one_quote(
    env: WorkflowEnvironment, pool, settings, gateway
) -> None:
    async with Api(env, pool, settings, gateway) as api:
        headers = AUTH | {"Idempotency-Key": "order-42"}
        first = await api.post("/api/v1/quotes", json=body(send=True), headers=headers)
        again = await api.post("/api/v1/quotes", json=body(send=True), headers=headers)
        assert (first.status_code, again.status_code) == (201, 201)
        assert first.json()["number"] == again.json()["number"] and again.json()["state"] == "sent"
        racing = await asyncio.gather(
            *(api.post("/api/v1/quotes", json=body(), headers=AUTH | {"Idempotency-Key": "order-43"}) for _ in range(3))
        )
        assert len({r.json()["number"] for r in racing}) == 1 and {r.status_code for r in racing} == {201}
        other = await api.post("/api/v1/quotes", json=body(recipients=["cfo@acme.example"]), headers=headers)
        assert other.status_code == 409 and "order-42" in other.json()["error"]["message"]
    assert await scalar(pool, "SELECT count(*) FROM quotes") == 2
    assert await scalar(pool, "SELECT count(*) FROM sent_mail WHERE purpose = 'quote'") == 1


async def test_api_a_repeat_of_a_keyed_create_answers_with_its_quote_after_it_was_paid(
    env: WorkflowEnvironment, pool, settings, gateway
) -> None:
    """A billing system that retries a create after its quote was paid (the term renewed, R01 now refusing a
    new quote) gets the quote it made, paid, and nothing new: not a refusal it cannot explain."""
    async with Api(env, pool, settings, gateway) as api:
        headers = AUTH | {"Idempotency-Key": "order-44"}
        first = (await api.post("/api/v1/quotes", json=body(send=True), headers=headers)).json()
        paid = await api.post(f"/api/v1/quotes/{first['number']}/accept", json={"pay": True}, headers=AUTH)
        assert paid.json()["state"] == "paid"
        await quote_result(env.client, first["number"])
        again = await api.post("/api/v1/quotes", json=body(send=True), headers=headers)
        assert (again.status_code, again.json()["number"], again.json()["state"]) == (201, first["number"], "paid")
        fresh = await api.post("/api/v1/quotes", json=body(send=True), headers=AUTH | {"Idempotency-Key": "order-45"})
        assert fresh.status_code == 409 and fresh.json()["error"]["rule"] == "R01"
    assert await scalar(pool, "SELECT count(*) FROM quotes") == 1


async def test_api_accept_and_pay_then_read_it_back(env: WorkflowEnvironment, pool, settings, gateway) -> None:
    async with Api(env, pool, settings, gateway) as api:
        before = {
            s["id"]: s for s in (await api.get("/api/v1/subscriptions", params={"csn": ACME}, headers=AUTH)).json()
        }
        created = (await api.post("/api/v1/quotes", json=body(send=True), headers=AUTH)).json()
        number = created["number"]
        paid = await api.post(
            f"/api/v1/quotes/{number}/accept", json={"pay": True, "reference": "BANK-9"}, headers=AUTH
        )
        assert paid.status_code == 200 and paid.json()["state"] == "paid"
        await quote_result(env.client, number)
        shown = (await api.get(f"/api/v1/quotes/{number}", headers=AUTH)).json()
        assert set(shown) >= {
            "number",
            "state",
            "kind",
            "origin",
            "csn",
            "currency",
            "expires_at",
            "recipients",
            "lines",
            "subtotal",
            "discount_total",
            "total",
        }
        assert shown["total"] == created["total"] == "9135.00"
        listed = (await api.get("/api/v1/quotes", params={"csn": ACME, "state": "paid"}, headers=AUTH)).json()
        assert [q["number"] for q in listed] == [number]
        subs = {s["id"]: s for s in (await api.get("/api/v1/subscriptions", params={"csn": ACME}, headers=AUTH)).json()}
        old_end = date.fromisoformat(before["SUB-1001"]["end_date"])
        assert subs["SUB-1001"]["end_date"] == old_end.replace(year=old_end.year + 1).isoformat()
        groups = (await api.get("/api/v1/groups", params={"csn": ACME}, headers=AUTH)).json()
        assert groups and all("subscriptions" in g for g in groups)
        switched = await api.put("/api/v1/subscriptions/SUB-1002/auto-renew", json={"on": True}, headers=AUTH)
        assert switched.status_code == 200 and switched.json()["auto_renew"] is True
    assert await money(pool, number) == {
        "charges": [],
        "payments": [
            {
                "reference": "BANK-9",
                "amount": Decimal("9135.00"),
                "currency": "EUR",
                "method": "offline",
                "refunded": False,
            }
        ],
    }
    assert await scalar(pool, "SELECT count(*) FROM payments") == 1


async def test_api_errors_422_field_409_rule_404_and_nothing_changed(
    env: WorkflowEnvironment, pool, settings, gateway
) -> None:
    async with Api(env, pool, settings, gateway) as api:
        too_many = await api.post(
            "/api/v1/quotes", json=body(origin="sales", seats={"SUB-1001": 99999999999}), headers=AUTH
        )
        assert too_many.status_code == 422 and too_many.json()["error"]["field"] == "seats.SUB-1001"
        refused = await api.post(
            "/api/v1/quotes", json=body(recipients=[f"r{i}@acme.example" for i in range(5)]), headers=AUTH
        )
        assert refused.status_code == 409 and refused.json()["error"]["rule"] == "R04"
        assert (await api.get("/api/v1/quotes/Q-999999", headers=AUTH)).status_code == 404
        assert (await api.post("/api/v1/quotes/Q-999999/send", headers=AUTH)).status_code == 404
        unknown = await api.post("/api/v1/quotes", json=body(subscriptions=["SUB-9999"]), headers=AUTH)
        assert unknown.status_code == 404
        draft = (await api.post("/api/v1/quotes", json=body(), headers=AUTH)).json()["number"]
        buyer = await api.post(f"/api/v1/quotes/{draft}/cancel", json={"as": "buyer"}, headers=AUTH)
        assert buyer.status_code == 422 and buyer.json()["error"]["field"] == "as"
        paying_a_draft = await api.post(f"/api/v1/quotes/{draft}/pay", headers=AUTH)
        assert paying_a_draft.status_code == 409 and paying_a_draft.json()["error"]["rule"] == "lifecycle"
    assert await scalar(pool, "SELECT count(*) FROM quotes") == 1
    assert await scalar(pool, "SELECT count(*) FROM sent_mail") == 0


async def test_api_openapi_and_docs(env: WorkflowEnvironment, pool, settings, gateway) -> None:
    async with Api(env, pool, settings, gateway) as api:
        spec = (await api.get("/api/v1/openapi.json")).json()
        assert {
            "/quotes",
            "/quotes/{number}",
            "/quotes/{number}/accept",
            "/subscriptions",
            "/subscriptions/{subscription_id}/auto-renew",
            "/groups",
        } <= set(spec["paths"])
        docs = await api.get("/api/v1/docs")
        assert docs.status_code == 200 and "swagger" in docs.text.lower()


async def test_api_docs_show_the_quote_subscription_and_error_json() -> None:
    """Every route declares what it answers, so /api/v1/docs shows the contract's JSON, not `{}`."""
    api = create_api(lambda: None, parse_api_keys(f"test:{KEY}:write"))  # type: ignore[arg-type,return-value]
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=api), base_url=BASE) as http:
        spec = (await http.get("/openapi.json")).json()
    schemas = spec["components"]["schemas"]
    assert {"number", "state", "lines", "total", "cancel_reason"} <= set(schemas["QuoteJson"]["properties"])
    assert "eligible" in schemas["SubscriptionJson"]["properties"]
    for path, methods in spec["paths"].items():
        for method, operation in methods.items():
            ok = next(v for k, v in operation["responses"].items() if k.startswith("2"))
            assert ok["content"]["application/json"]["schema"], f"{method} {path} declares no response"
            assert {"401", "404", "409", "422", "503"} <= set(operation["responses"]), f"{method} {path}"
    created = spec["paths"]["/quotes"]["post"]["responses"]["201"]["content"]["application/json"]["schema"]
    assert created == {"$ref": "#/components/schemas/QuoteJson"}


async def test_r23_api_revise_makes_a_revision_sending_it_cancels_the_original(
    env: WorkflowEnvironment, pool, settings, gateway
) -> None:
    async with Api(env, pool, settings, gateway) as api:
        original = (await api.post("/api/v1/quotes", json=body(origin="partner", send=True), headers=AUTH)).json()
        number = original["number"]
        buyer = await api.post(f"/api/v1/quotes/{number}/revise", json={"origin": "self-service"}, headers=AUTH)
        assert buyer.status_code == 409 and buyer.json()["error"]["rule"] == "R10"
        made = await api.post(
            f"/api/v1/quotes/{number}/revise", json={"seats": {"SUB-1001": 9}, "send": True}, headers=AUTH
        )
        assert made.status_code == 201, made.text
        revision = made.json()
        assert (revision["state"], revision["revises"], revision["lines"][0]["seats"]) == ("sent", number, 9)
        await quote_result(env.client, number)
        shown = (await api.get(f"/api/v1/quotes/{number}", headers=AUTH)).json()
        assert (shown["state"], shown["cancelled_by"], shown["revised_by"]) == (
            "cancelled",
            "system",
            revision["number"],
        )
        again = await api.post(f"/api/v1/quotes/{number}/revise", json={}, headers=AUTH)
        assert again.status_code == 409 and again.json()["error"]["rule"] == "R23"
        assert again.json()["error"]["message"] == (
            f"quote {number} was revised by {revision['number']}; it can no longer be revised"
        )
