"""The real `renewals ops audit` on the Temporal dev server (R01): right after a load started the calendars,
before visibility may list them, the audit is clean; once a calendar is terminated, it names that one
subscription and how its calendar stopped, and exits 1."""

import asyncio
from pathlib import Path

import pytest
from temporalio.testing import WorkflowEnvironment

from contracts import subscription as calendar
from tests.helpers import quote_stack, renewals
from workers.demo_data import demo_data

pytestmark = pytest.mark.asyncio(loop_scope="session")


async def test_r01_ops_audit_names_the_open_subscription_whose_calendar_was_terminated(
    dev_env: WorkflowEnvironment, pool, settings, env_vars, tmp_path: Path
) -> None:
    async with quote_stack(dev_env, pool, settings):
        path = tmp_path / "demo.json"
        path.write_text(demo_data((await dev_env.get_current_time()).date()).model_dump_json())
        loaded = await asyncio.to_thread(renewals, "load", str(path), env=env_vars, timeout=120)
        assert loaded.returncode == 0, loaded.stderr
        clean = await asyncio.to_thread(renewals, "ops", "audit", env=env_vars)
        assert clean.returncode == 0, clean.stdout + clean.stderr
        assert "audit clean" in clean.stdout

        await dev_env.client.get_workflow_handle(calendar.workflow_id("SUB-1002")).terminate("the test")
        found = await asyncio.to_thread(renewals, "ops", "audit", env=env_vars)
        assert found.returncode == 1, found.stdout + found.stderr
        assert [line.split() for line in found.stdout.splitlines() if line.startswith("calendar")] == [
            "calendar SUB-1002 SUB-1002 is open but its calendar was terminated".split()
        ]
