"""`renewals dev` on a var/ from an older build. Before 1.0 workflows change without patches
(docs/operations.md, "Changing a workflow"), so the open quotes and calendars in var/temporal.db may
not replay on this build: their tasks would fail again and again. At start, when the workflow code
differs from the build that last ran on this var/, every open workflow is replayed against this build;
if any does not replay, the stack refuses to start and says what to do."""

import hashlib
from importlib import import_module
from pathlib import Path

from temporalio.client import Client
from temporalio.contrib.pydantic import pydantic_data_converter
from temporalio.worker import Replayer

from contracts import quote, subscription
from runtime.temporal import WORKFLOWS, sandbox

STAMP = "workflows.build"
# What a workflow's replay depends on: its code, the contracts and domain it uses, the activities' shapes,
# and the worker's sandbox and list of workflows.
PACKAGES = ("workflows", "contracts", "domain", "activities", "runtime")
OPEN = f'WorkflowType IN ("{quote.WORKFLOW}", "{subscription.WORKFLOW}") AND ExecutionStatus = "Running"'


class OlderBuild(Exception):
    """Open workflows in var/ that this build cannot continue; the message says which and what to do."""


def fingerprint() -> str:
    """A digest of the workflow code of this build."""
    digest = hashlib.sha256()
    for package in PACKAGES:
        folder = Path(import_module(package).__file__ or "").parent
        for source in sorted(folder.rglob("*.py")):
            digest.update(f"{package}/{source.relative_to(folder)}".encode())
            digest.update(source.read_bytes())
    return digest.hexdigest()[:16]


async def not_replaying(client: Client) -> list[tuple[str, str]]:
    """(workflow id, why) of each open quote or calendar whose history this build cannot replay."""
    replayer = Replayer(workflows=WORKFLOWS, data_converter=pydantic_data_converter, workflow_runner=sandbox())
    failed = []
    async for execution in client.list_workflows(OPEN):
        history = await client.get_workflow_handle(execution.id, run_id=execution.run_id).fetch_history()
        result = await replayer.replay_workflow(history, raise_on_replay_failure=False)
        if result.replay_failure is not None:
            failed.append((execution.id, str(result.replay_failure).splitlines()[0]))
    return failed


async def check_build(client: Client, var: Path, say=print) -> None:
    """Refuse (OlderBuild) a var/ whose open workflows do not replay on this build; remember the build
    that ran on it, so an unchanged build starts without the check."""
    stamp = var / STAMP
    build = fingerprint()
    if stamp.exists() and stamp.read_text().strip() == build:
        return
    if stamp.exists():
        say("the workflow code changed since the last start: replaying the open workflows in var/ ...")
    failed = await not_replaying(client)
    if failed:
        shown = "; ".join(f"{workflow_id}: {why}" for workflow_id, why in failed[:3])
        more = f" and {len(failed) - 3} more" if len(failed) > 3 else ""
        raise OlderBuild(
            f"var/ holds {len(failed)} open workflow(s) begun by an older build that this build cannot continue "
            f"({shown}{more}). Before the first release workflows change without patches "
            "(docs/operations.md, 'Changing a workflow'): start afresh with `make clean`, which removes var/ "
            "(its quotes, store and mail), or go back to the build that began them."
        )
    stamp.write_text(build + "\n")
