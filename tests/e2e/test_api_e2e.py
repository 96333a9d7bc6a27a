"""The backend API and the webhooks end to end, as a billing system uses them against `renewals dev`
(dev server, embedded PostgreSQL, SMTP sink, worker, and the stack's own webhook receiver)."""

import asyncio
import json
import signal
import subprocess
import time
from pathlib import Path

import httpx

from domain.webhooks import SIGNATURE_HEADER, signature
from tests.helpers import BIN, DevProcess, free_port, renewals, webhook_events
from workers.demo_data import ACME


def wait_for_events(folder: Path, number: str, count: int, seconds: float = 30) -> list:
    deadline = time.monotonic() + seconds
    while True:
        events = webhook_events(folder, number)
        if len(events) >= count or time.monotonic() > deadline:
            return events
        time.sleep(0.2)


def test_api_end_to_end_idempotent_create_accept_pay_refusals_401_and_signed_webhooks(
    dev: DevProcess, tmp_path: Path
) -> None:
    dev.start_with_demo_data()
    written = dev.dev_env()
    key = written["RENEWALS_DEV_API_KEY"]
    assert written["RENEWALS_API_KEYS"] == f"dev:{key}:write"
    assert written["WEBHOOK_URLS"] == f"http://127.0.0.1:{dev.port('--webhook-port')}/webhooks"
    assert written["WEBHOOK_SECRET"].startswith("whsec_")
    base = f"http://127.0.0.1:{dev.port('--web-port')}/api/v1"
    auth = {"Authorization": f"Bearer {key}"}
    body = {"csn": ACME, "subscriptions": ["SUB-1001"], "send": True}

    async def calls() -> dict:
        async with httpx.AsyncClient(base_url=base, timeout=30) as http:
            anonymous = await http.get("/quotes", params={"csn": ACME})
            wrong = await http.post("/quotes", json=body, headers={"Authorization": "Bearer rk_wrong"})
            keyed = {**auth, "Idempotency-Key": "billing-run-42"}
            racing = await asyncio.gather(*(http.post("/quotes", json=body, headers=keyed) for _ in range(2)))
            reused = await http.post("/quotes", json={**body, "recipients": ["cfo@acme.example"]}, headers=keyed)
            listed = await http.get("/quotes", params={"csn": ACME}, headers=auth)
            assert [r.status_code for r in racing] == [201, 201], [r.text for r in racing]
            number = racing[0].json()["number"]
            refused = await http.post("/quotes", json={**body, "seats": {"SUB-1001": 9}}, headers=auth)
            invalid = await http.post("/quotes", json={**body, "seats": {"SUB-1001": -1}}, headers=auth)
            unknown = await http.get("/quotes/Q-999999", headers=auth)
            paid = await http.post(f"/quotes/{number}/accept", json={"pay": True, "reference": "BANK-1"}, headers=auth)
            again = await http.post(f"/quotes/{number}/pay", json={"reference": "BANK-2"}, headers=auth)
            openapi = await http.get("/openapi.json")
            return locals()

    answers = asyncio.run(calls())
    assert [answers[k].status_code for k in ("anonymous", "wrong")] == [401, 401]
    first, second = answers["racing"]
    assert (first.status_code, second.status_code) == (201, 201)
    number = first.json()["number"]
    assert second.json()["number"] == number and first.json()["state"] == "sent"
    assert answers["reused"].status_code == 409
    assert [q["number"] for q in answers["listed"].json()] == [number]
    assert answers["refused"].status_code == 409 and answers["refused"].json()["error"]["rule"] == "R10"
    assert answers["invalid"].status_code == 422 and "seats" in answers["invalid"].json()["error"]["field"]
    assert answers["unknown"].status_code == 404
    assert answers["paid"].status_code == 200 and answers["paid"].json()["state"] == "paid"
    assert answers["again"].status_code == 409 and answers["again"].json()["error"]["rule"] == "lifecycle"
    assert "/quotes/{number}/accept" in answers["openapi"].json()["paths"]
    quotes = json.loads(renewals("quote", "list", "--csn", ACME, "--json", env=dev.env).stdout)
    assert [q["number"] for q in quotes] == [number]

    folder = dev.var / "webhooks"
    events = wait_for_events(folder, number, 3)
    assert [e.type for e in events] == ["quote.sent", "quote.accepted", "quote.paid"]
    assert events[2].data["payment_reference"] == "BANK-1"
    assert [e.type for e in wait_for_events(folder, "SUB-1001", 1)] == ["subscription.renewed"]
    assert dev.ctrl_c() == 0


def test_webhooks_listen_verifies_prints_and_keeps_each_event_once(cli_env: dict[str, str], tmp_path: Path) -> None:
    port = free_port()
    folder = tmp_path / "hooks"
    env = {**cli_env, "WEBHOOK_SECRET": "whsec_listen"}
    listener = subprocess.Popen(
        [str(BIN / "renewals"), "webhooks", "listen", "--port", str(port), "--folder", str(folder)],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    try:
        url = f"http://127.0.0.1:{port}/webhooks"
        event = {"id": "evt_1", "type": "quote.paid", "created": "2026-11-26T10:00:00Z", "data": {"number": "Q-1"}}
        body = json.dumps(event).encode()
        deadline = time.monotonic() + 20
        while True:
            try:
                unsigned = httpx.post(url, content=body)
                break
            except httpx.ConnectError:
                assert listener.poll() is None and time.monotonic() < deadline
                time.sleep(0.1)
        signed = {SIGNATURE_HEADER: signature("whsec_listen", int(time.time()), body)}
        answers = [httpx.post(url, content=body, headers=signed) for _ in range(2)]
    finally:
        listener.send_signal(signal.SIGINT)
        output = listener.communicate(timeout=20)[0]
    assert unsigned.status_code == 401
    assert [a.status_code for a in answers] == [200, 200]
    assert [a.json()["repeated"] for a in answers] == [False, True]
    assert [p.name for p in folder.iterdir()] == ["evt_1.json"]
    assert f"receiving webhooks on {url}" in output
    assert "quote.paid" in output and "evt_1 (again; kept once)" in output
    assert "refused a delivery: no valid Renewals-Signature header" in output
