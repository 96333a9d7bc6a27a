"""The real `renewals load` on the Temporal dev server with a worker: it says what it set in motion, the
calendars started and told, the auto quotes made and emailed (R12), tonight's auto-renewals and holds."""

import asyncio
import json
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from temporalio.testing import WorkflowEnvironment

from domain.models import DataFile
from tests.helpers import quote_stack, renewals, request, rows, until
from workers.demo_data import ACME, SAKURA

pytestmark = pytest.mark.asyncio(loop_scope="session")


async def load(env_vars: dict[str, str], path: Path, *args: str):
    result = await asyncio.to_thread(renewals, "load", str(path), *args, env=env_vars, timeout=120)
    assert result.returncode == 0, result.stderr
    return result.stdout


def tomorrow() -> str:
    return (datetime.now(UTC).date() + timedelta(days=1)).isoformat()


def ending_tomorrow(data: DataFile) -> DataFile:
    """Two more Acme subscriptions, each a copy of SUB-1001 (annual, direct, auto-renew on) ending tomorrow."""
    base = next(s for s in data.subscriptions if s.id == "SUB-1001")
    end = datetime.now(UTC).date() + timedelta(days=1)
    extra = [base.model_copy(update={"id": sub_id, "end_date": end}) for sub_id in ("SUB-1011", "SUB-1012")]
    return data.model_copy(update={"subscriptions": [*data.subscriptions, *extra]})


def switched_off(data: DataFile, *sub_ids: str) -> DataFile:
    """As the source system exports it once these subscriptions' auto-renew is turned off (R12 wants a quote)."""
    subs = [s.model_copy(update={"auto_renew": False}) if s.id in sub_ids else s for s in data.subscriptions]
    return data.model_copy(update={"subscriptions": subs})


async def test_r12_load_reports_the_auto_quotes_it_created_and_emailed(
    dev_env: WorkflowEnvironment, pool, settings, mailbox, env_vars, tmp_path: Path
) -> None:
    """SUB-1001 (ends in 20 days) and SUB-3001 (15 days), annual and direct, switched off in the file: their
    auto quotes are due at once. The load starts the 16 calendars and names both quotes, sent to their buyers."""
    stored: list[DataFile] = []

    def keep(data: DataFile) -> DataFile:
        stored.append(data)
        return data

    async with quote_stack(dev_env, pool, settings, data=keep):
        path = tmp_path / "switched-off.json"
        path.write_text(switched_off(stored[0], "SUB-1001", "SUB-3001").model_dump_json())
        said = (await load(env_vars, path)).splitlines()
        made = await rows(pool, "SELECT subscription_id, quote_number FROM auto_quotes ORDER BY subscription_id")
        numbers = {row["subscription_id"]: row["quote_number"] for row in made}
        assert set(numbers) == {"SUB-1001", "SUB-3001"}
        assert "subscriptions  0 new, 2 changed, 14 unchanged, 0 kept" in said
        assert "calendars      16 started, 0 told" in said
        assert "auto quotes    2 created and emailed (R12)" in said
        assert [line for line in said if line.startswith("auto quote ")] == sorted(
            [
                f"auto quote     {numbers['SUB-1001']} for SUB-1001: emailed to buyer@acme.example",
                f"auto quote     {numbers['SUB-3001']} for SUB-3001: emailed to kobai@sakura.example",
            ]
        )
        sent = await rows(pool, "SELECT number, state, csn FROM quotes WHERE origin = 'auto' ORDER BY number")
        assert {(r["number"], r["state"], r["csn"]) for r in sent} == {
            (numbers["SUB-1001"], "sent", ACME),
            (numbers["SUB-3001"], "sent", SAKURA),
        }

        async def emailed() -> bool:
            subjects = [m["Subject"] for m in mailbox.messages()]
            return all(any(number in s for s in subjects) for number in numbers.values())

        await until(emailed, "both auto quotes' emails in the mailbox")


async def test_r12_a_second_identical_load_reports_no_auto_quote_and_tonights_renewals(
    dev_env: WorkflowEnvironment, pool, settings, mailbox, env_vars, tmp_path: Path
) -> None:
    """The same file twice: the second load creates no auto quote and lists none (the first one's stays the
    first's), and both say which auto-renewals fall at the next 00:00 UTC; one a pending quote holds (R02) is
    listed apart, with its quote. --json carries the same."""
    stored: list[DataFile] = []

    def keep(data: DataFile) -> DataFile:
        stored.append(ending_tomorrow(data))
        return stored[0]

    async with quote_stack(dev_env, pool, settings, data=keep) as quotes:
        path = tmp_path / "switched-off.json"
        path.write_text(switched_off(stored[0], "SUB-1001").model_dump_json())
        first = json.loads(await load(env_vars, path, "--json"))
        (made,) = first["auto_quotes"]
        assert (made["subscription_id"], made["sent"], made["recipients"]) == ("SUB-1001", True, ["buyer@acme.example"])
        assert first["calendars"] == {"started": 18, "told": 0}
        assert first["renewals_tonight"] == {
            "at": f"{tomorrow()}T00:00:00Z",
            "subscriptions": ["SUB-1011", "SUB-1012"],
            "held": {},
        }

        holding = await quotes.create(request("SUB-1012", pause_auto_renew=True), send=True)
        again = await load(env_vars, path)
        said = again.splitlines()
        assert "calendars      0 started, 0 told" in said
        assert "auto quotes    0 created and emailed (R12)" in said
        assert not [line for line in said if line.startswith("auto quote ")]
        assert f"renewals       1 auto-renew tonight, at 00:00 UTC on {tomorrow()}: SUB-1011" in said
        assert f"held           SUB-1012: its auto-renewal tonight is held by {holding.number} (R02)" in said
        second = json.loads(await load(env_vars, path, "--json"))
        assert (second["auto_quotes"], second["calendars"], second["unanswered"]) == ([], {"started": 0, "told": 0}, [])
        assert second["renewals_tonight"]["held"] == {"SUB-1012": [holding.number]}
        assert await rows(pool, "SELECT quote_number FROM auto_quotes") == [{"quote_number": made["number"]}]


async def test_r12_a_load_no_worker_answers_tells_every_calendar_and_names_the_unanswered(
    dev_env: WorkflowEnvironment, pool, monkeypatch: pytest.MonkeyPatch
) -> None:
    """No worker polls the calendars' queue: SUB-1001's auto quote is due, so its calendar is asked and cannot
    answer. The load still ends, within its wait, every row told (SUB-1001's by the signal after the wait) and
    SUB-1001 named as not answered; nothing is reported made."""
    import uuid

    from temporalio.api.enums.v1 import EventType

    from services import subscriptions
    from workers.demo_data import demo_data

    monkeypatch.setattr(subscriptions, "ANSWER_WAIT", timedelta(seconds=2))
    data = switched_off(demo_data(datetime.now(UTC).date()), "SUB-1001")
    service = subscriptions.SubscriptionService(dev_env.client, pool, f"no-worker-{uuid.uuid4().hex[:8]}")
    try:
        report = await service.load(data)
        assert report.unanswered == ["SUB-1001"] and report.auto_quotes == []
        assert (report.started, report.told) == (len(data.subscriptions), 0)
        untold = await rows(pool, "SELECT id FROM subscriptions WHERE calendar_synced_version < source_version")
        assert untold == []
        history = await dev_env.client.get_workflow_handle("subscription-SUB-1001").fetch_history()
        signals = [e for e in history.events if e.event_type == EventType.EVENT_TYPE_WORKFLOW_EXECUTION_SIGNALED]
        assert signals, "SUB-1001's calendar was never told its row"
    finally:
        for sub in data.subscriptions:
            try:
                await dev_env.client.get_workflow_handle(f"subscription-{sub.id}").terminate("test finished")
            except Exception:
                pass
