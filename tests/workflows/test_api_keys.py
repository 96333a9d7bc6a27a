"""API keys have names and scopes; Idempotency-Keys belong to one API key for 24 hours and never take a
second quote number; lists page."""

import pytest
from temporalio.testing import WorkflowEnvironment

from runtime.settings import parse_api_keys
from tests.helpers import BASE, scalar
from tests.workflows.test_api import Api
from workers.demo_data import ACME

pytestmark = pytest.mark.asyncio(loop_scope="session")
KEYS = parse_api_keys("billing:rk_billing:write,crm:rk_crm:write,reports:rk_reports:read")
BILLING, CRM, REPORTS = ({"Authorization": f"Bearer {k.key}"} for k in KEYS)


def api_for(env, pool, settings, gateway) -> Api:
    return Api(env, pool, settings, gateway, keys=KEYS)


def body(*subs: str, **fields) -> dict:
    return {"csn": ACME, "subscriptions": list(subs or ["SUB-1001"]), **fields}


async def test_a_read_key_reads_and_may_change_nothing(env: WorkflowEnvironment, pool, settings, gateway) -> None:
    async with api_for(env, pool, settings, gateway) as api:
        refused = await api.post("/api/v1/quotes", json=body(send=True), headers=REPORTS)
        listed = await api.get("/api/v1/quotes", headers=REPORTS)
        switched = await api.put("/api/v1/subscriptions/SUB-1002/auto-renew", json={"on": True}, headers=REPORTS)
    assert refused.status_code == 403 and refused.json()["error"]["message"] == "the API key 'reports' may only read"
    assert switched.status_code == 403
    assert listed.status_code == 200 and listed.json() == []
    assert await scalar(pool, "SELECT count(*) FROM quotes") == 0


async def test_idempotency_keys_belong_to_one_api_key_and_a_replay_takes_no_new_number(
    env: WorkflowEnvironment, pool, settings, gateway
) -> None:
    async with api_for(env, pool, settings, gateway) as api:
        key = {"Idempotency-Key": "order-77"}
        first = (await api.post("/api/v1/quotes", json=body(), headers=BILLING | key)).json()
        replayed = (await api.post("/api/v1/quotes", json=body(), headers=BILLING | key)).json()
        other_client = (await api.post("/api/v1/quotes", json=body(), headers=CRM | key)).json()
    assert replayed["number"] == first["number"]
    assert other_client["number"] != first["number"]
    # The replay took no number: the other client's quote has the next one.
    assert int(other_client["number"][2:]) == int(first["number"][2:]) + 1
    assert await scalar(pool, "SELECT count(*) FROM quotes") == 2


async def test_an_idempotency_key_is_kept_24_hours_then_names_a_new_request(
    env: WorkflowEnvironment, pool, settings, gateway
) -> None:
    async with api_for(env, pool, settings, gateway) as api:
        key = {"Idempotency-Key": "order-78"}
        first = (await api.post("/api/v1/quotes", json=body(), headers=BILLING | key)).json()
        async with pool.connection() as conn:
            await conn.execute("UPDATE api_idempotency_keys SET created_at = now() - interval '25 hours'")
        later = await api.post("/api/v1/quotes", json=body("SUB-1003"), headers=BILLING | key)
    assert later.status_code == 201 and later.json()["number"] != first["number"]


async def test_quotes_list_pages_with_limit_and_starting_after(
    env: WorkflowEnvironment, pool, settings, gateway
) -> None:
    async with api_for(env, pool, settings, gateway) as api:
        made = [
            (await api.post("/api/v1/quotes", json=body(sub), headers=BILLING)).json()["number"]
            for sub in ("SUB-1001", "SUB-1002", "SUB-1003")
        ]
        page = await api.get("/api/v1/quotes", params={"limit": 2}, headers=REPORTS)
        following = page.headers["link"].split(";")[0].strip("<>")
        rest = await api.get(following.removeprefix(BASE), headers=REPORTS)
        bad = await api.get("/api/v1/quotes", params={"limit": 0}, headers=REPORTS)
    assert [q["number"] for q in page.json()] == made[:2]
    assert page.headers["link"].endswith('rel="next"') and f"starting_after={made[1]}" in following
    assert [q["number"] for q in rest.json()] == made[2:] and "link" not in rest.headers
    assert bad.status_code == 422 and bad.json()["error"]["field"] == "limit"


async def test_quote_events_and_an_offline_payment_record_which_api_key_did_it(
    env: WorkflowEnvironment, pool, settings, gateway
) -> None:
    from tests.helpers import quote_result, rows

    async with api_for(env, pool, settings, gateway) as api:
        paid = (await api.post("/api/v1/quotes", json=body(send=True), headers=BILLING)).json()["number"]
        await api.post(f"/api/v1/quotes/{paid}/accept", json={"pay": True, "reference": "BANK-5"}, headers=CRM)
        await quote_result(env.client, paid)
        other = (await api.post("/api/v1/quotes", json=body("SUB-1003"), headers=BILLING)).json()["number"]
        await api.post(f"/api/v1/quotes/{other}/send", headers=BILLING)
        await api.post(f"/api/v1/quotes/{other}/cancel", json={"as": "sales"}, headers=BILLING)
        await quote_result(env.client, other)
    events = {
        (r["quote_number"], r["event"]): r["detail"]
        for r in await rows(pool, "SELECT quote_number, event, detail FROM quote_events")
    }
    assert events[(paid, "paid")]["by"] == "api:crm"
    assert events[(other, "sent")]["by"] == "api:billing"
    assert (events[(other, "cancelled")]["by"], events[(other, "cancelled")]["actor"]) == ("sales", "api:billing")
    assert await scalar(pool, "SELECT recorded_by FROM payments WHERE quote_number = %s", paid) == "api:crm"
