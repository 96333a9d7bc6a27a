"""The API's limits, end to end: a malformed RENEWALS_API_KEYS stops `renewals dev` and `renewals web` at
start; every list is paged with a largest page; the audit asks the payment provider only about a recent
window of quotes (the API, the service and the command line)."""

import asyncio
import json
import secrets
import subprocess
import time
from datetime import date, timedelta

import pytest
from temporalio.testing import WorkflowEnvironment

from payments.fake import FakeGateway
from runtime.settings import parse_api_keys
from services import audit as auditing
from tests.helpers import BASE, BIN, DevProcess, renewals
from tests.workflows.test_api import Api
from workers.demo_data import ACME

on_the_session_loop = pytest.mark.asyncio(loop_scope="session")
SECRET = "rk_not_to_be_printed"
KEYS = parse_api_keys("billing:rk_billing:write,reports:rk_reports:read")
WRITE, READ = ({"Authorization": f"Bearer {k.key}"} for k in KEYS)


def test_a_malformed_key_entry_stops_renewals_dev_at_start(dev: DevProcess) -> None:
    """Before PostgreSQL, Temporal or anything else starts: exit 2, the entry named, its secret never shown."""
    for given, named in (("bad", "entry 1 (no name)"), (f"ci:{SECRET}:write,key:read", 'entry 2 ("key")')):
        started = time.monotonic()
        run = subprocess.run(
            [str(BIN / "renewals"), "dev", "--no-seed", *dev.args],
            env={**dev.env, "RENEWALS_API_KEYS": given},
            capture_output=True,
            text=True,
            timeout=60,
        )
        assert run.returncode == 2, run.stdout + run.stderr
        assert run.stderr.strip() == f"error: RENEWALS_API_KEYS: {named} is not name:secret:read|write"
        assert SECRET not in run.stdout + run.stderr and "starting" not in run.stdout
        assert not (dev.var / "pg").exists() and not (dev.var / "dev.env").exists()
        assert time.monotonic() - started < 30


def test_a_malformed_key_entry_stops_renewals_web_at_start(cli_env: dict[str, str]) -> None:
    env = {**cli_env, "BUYER_LINK_SECRET": secrets.token_urlsafe(32), "RENEWALS_API_KEYS": f"ci:{SECRET}"}
    run = subprocess.run([str(BIN / "renewals"), "web"], env=env, capture_output=True, text=True, timeout=60)
    assert run.returncode == 2, run.stdout + run.stderr
    assert 'RENEWALS_API_KEYS: entry 1 ("ci") is not name:secret:read|write' in run.stderr
    assert SECRET not in run.stdout + run.stderr


@on_the_session_loop
async def test_every_list_is_paged_with_a_maximum_page_size(env: WorkflowEnvironment, pool, settings, gateway) -> None:
    """Each GET that answers a list takes `limit` (at most 200: more is a 422) and `starting_after`, and says
    there is more with a Link header; following it gives the whole list once, in the same order."""
    async with Api(env, pool, settings, gateway, keys=KEYS) as api:
        for sub in ("SUB-1001", "SUB-1002", "SUB-1003"):
            made = await api.post("/api/v1/quotes", json={"csn": ACME, "subscriptions": [sub]}, headers=WRITE)
            assert made.status_code == 201, made.text
            if sub != "SUB-1003":  # two paid: two invoices (R28) to page through
                number = made.json()["number"]
                await api.post(f"/api/v1/quotes/{number}/send", headers=WRITE)
                paid = await api.post(
                    f"/api/v1/quotes/{number}/accept", json={"pay": True, "reference": f"PSP-{sub}"}, headers=WRITE
                )
                assert paid.json()["state"] == "paid", paid.text
        spec = (await api.get("/api/v1/openapi.json")).json()
        lists = {
            path
            for path, methods in spec["paths"].items()
            for method, operation in methods.items()
            if method == "get"
            and operation["responses"]["200"]["content"].get("application/json", {}).get("schema", {}).get("type")
            == "array"
        }
        assert lists == {"/quotes", "/subscriptions", "/groups", "/invoices"}
        for path in sorted(lists):
            operation = spec["paths"][path]["get"]
            parameters = {p["name"]: p for p in operation["parameters"]}
            assert parameters["limit"]["schema"]["maximum"] == 200 and parameters["limit"]["schema"]["default"] == 100
            assert "starting_after" in parameters and "Link" in operation["responses"]["200"]["headers"]
            too_many = await api.get(f"/api/v1{path}", params={"csn": ACME, "limit": 201}, headers=READ)
            assert too_many.status_code == 422 and too_many.json()["error"]["field"] == "limit", path
            whole = await api.get(f"/api/v1{path}", params={"csn": ACME, "limit": 200}, headers=READ)
            assert whole.status_code == 200 and "link" not in whole.headers and len(whole.json()) >= 2, path
            pages, url = [], f"/api/v1{path}?csn={ACME}&limit=1"
            while url:
                answer = await api.get(url, headers=READ)
                assert answer.status_code == 200 and len(answer.json()) <= 1, (path, answer.text)
                pages.append(answer.json())
                url = answer.headers.get("link", "").partition(">")[0].removeprefix("<").removeprefix(BASE)
            assert [item for page in pages for item in page] == whole.json(), path
            assert len(pages) == len(whole.json()), path


def provider_asked(monkeypatch) -> list[str]:
    """The idempotency keys the payment provider is asked about (FakeGateway.find)."""
    asked: list[str] = []
    find = FakeGateway.find

    async def recorded(self, key: str):
        asked.append(key)
        return await find(self, key)

    monkeypatch.setattr(FakeGateway, "find", recorded)
    return asked


@on_the_session_loop
async def test_audit_asks_the_provider_only_about_the_recent_window(
    dev_env: WorkflowEnvironment, pool, settings, gateway, cli_env, monkeypatch
) -> None:
    """Two paid quotes, one paid 100 days ago: the audit (API and command line, 35 days by default) asks the
    provider about the recent one only and says since when; `since` or `--all` reach further back. The other
    checks still read the whole store."""
    asked = provider_asked(monkeypatch)
    async with Api(dev_env, pool, settings, gateway, keys=KEYS) as api:
        numbers = []
        for sub in ("SUB-1001", "SUB-1003"):
            made = await api.post(
                "/api/v1/quotes", json={"csn": ACME, "subscriptions": [sub], "send": True}, headers=WRITE
            )
            number = made.json()["number"]
            paid = await api.post(
                f"/api/v1/quotes/{number}/accept", json={"pay": True, "reference": f"BANK-{sub}"}, headers=WRITE
            )
            assert paid.status_code == 200 and paid.json()["state"] == "paid", paid.text
            numbers.append(number)
        old, recent = numbers
        async with pool.connection() as conn:
            await conn.execute(
                "UPDATE quotes SET accepted_at = now() - interval '100 days', paid_at = now() - interval '100 days',"
                " ended_at = now() - interval '100 days', created_at = now() - interval '100 days' WHERE number = %s",
                (old,),
            )
            await conn.execute("UPDATE payments SET at = now() - interval '100 days' WHERE quote_number = %s", (old,))
        window = (await api.get("/api/v1/audit", headers=READ)).json()
        asked_in_window, asked[:] = list(asked), []
        further = (await api.get("/api/v1/audit", params={"since": "2000-01-01"}, headers=READ)).json()
        asked_further, asked[:] = list(asked), []
        whole = await auditing.audit(dev_env.client, pool, FakeGateway(pool), calendars=False)
        asked_whole = list(asked)

        shell = cli_env | {
            "TEMPORAL_ADDRESS": dev_env.client.service_client.config.target_host,
            "DATABASE_URL": settings.require_database_url(),
            "TEMPORAL_TASK_QUEUE": settings.temporal_task_queue,
        }
        text = await asyncio.to_thread(renewals, "ops", "audit", env=shell)
        every = await asyncio.to_thread(renewals, "ops", "audit", "--all", "--json", env=shell)
        since = await asyncio.to_thread(renewals, "ops", "audit", "--since", "2000-01-01", "--json", env=shell)
        both = await asyncio.to_thread(renewals, "ops", "audit", "--all", "--since", "2000-01-01", env=shell)

    start = (date.today() - timedelta(days=35)).isoformat()
    assert (window["since"], window["quotes"]) == (start, 1)
    assert asked_in_window == [f"quote-{recent}"]
    assert (further["since"], further["quotes"]) == ("2000-01-01", 2)
    assert sorted(asked_further) == sorted(f"quote-{n}" for n in numbers)
    assert whole.since is None and whole.quotes == 2 and len(asked_whole) == 2
    assert f"1 accepted or paid quote(s) since {start} (--all: every one)" in text.stdout, text.stdout + text.stderr
    assert (json.loads(every.stdout)["since"], json.loads(every.stdout)["quotes"]) == (None, 2)
    assert (json.loads(since.stdout)["since"], json.loads(since.stdout)["quotes"]) == ("2000-01-01", 2)
    assert both.returncode == 2 and "--since and --all" in both.stderr
