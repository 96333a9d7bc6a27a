"""The midnight burst: N subscriptions of a fresh customer due at once, loaded in one go.

`auto-renew`: ended yesterday with auto-renew on, so each calendar renews its term as soon as it starts.
`auto-quote`: ending in 30 days with auto-renew off, so each calendar sends its R12 auto quote at once.
Measured: how fast the burst drains (items done per second, from the load's start), CPU milliseconds per
item of each process (psutil), and the history events of one term.
"""

import asyncio
import time
import uuid
from dataclasses import dataclass
from datetime import date
from pathlib import Path
from typing import Literal

import psutil
from temporalio.client import Client

from domain.models import DataFile
from domain.quotes import subscription_workflow_id
from runtime.app import App
from store.quotes import renewals_of_customer, sent_auto_quotes_of
from workers.demo_data import price_book, renewable_subscriptions

Kind = Literal["auto-renew", "auto-quote"]


def processes(stack_pid: int, var: Path | None = None, web_pid: int | None = None) -> dict[str, list[psutil.Process]]:
    """The stack's processes by part: Temporal's server, the SMTP sink, the workers (the `renewals dev`
    process itself, whose own buyer app the bench leaves idle, and any worker processes it started), and with
    `var`, the embedded PostgreSQL of var/pg (it runs detached from the stack), and with `web_pid`, the
    `renewals web` process the bench's buyers go through."""
    root = psutil.Process(stack_pid)
    parts: dict[str, list[psutil.Process]] = {"worker": [root], "temporal": [], "postgres": [], "web": [], "sink": []}
    if web_pid is not None:
        parts["web"].append(psutil.Process(web_pid))
    if var is not None:
        parts["postgres"] = postgres_processes(var / "pg")
    for child in root.children(recursive=True):
        try:
            name = " ".join(child.cmdline()[:4]).lower()
        except psutil.Error:
            continue
        if "smtp_sink" in name:
            parts["sink"].append(child)
        elif "temporal" in name and "server" in name:
            parts["temporal"].append(child)
        elif "renewals" in name or "python" in name:
            parts["worker"].append(child)
    return parts


async def quiet(parts: dict[str, list[psutil.Process]], share: float = 0.1, timeout: float = 600) -> float:
    """Wait until the stack is idle (its processes together use under `share` of a core over two seconds), so a
    phase's CPU and latency are its own, not the tail of the phase before (emails, webhooks, calendars moving
    on to their next term). Returns the seconds waited."""
    started = time.perf_counter()
    procs = [p for group in parts.values() for p in group]
    while time.perf_counter() - started < timeout:
        before = cpu_seconds(procs)
        await asyncio.sleep(2)
        if cpu_seconds(procs) - before < 2 * share:
            break
    return time.perf_counter() - started


def postgres_processes(data_dir: Path) -> list[psutil.Process]:
    """The postmaster whose data directory is `data_dir`, and its backends (children come and go: counted as
    they are when measured, which misses a backend that ended in between; pooled connections rarely do)."""
    for proc in psutil.process_iter(["cmdline"]):
        cmdline = proc.info["cmdline"] or []
        if cmdline and "postgres" in cmdline[0] and str(data_dir) in " ".join(cmdline):
            return [proc, *proc.children(recursive=True)]
    return []


def cpu_seconds(procs: list[psutil.Process]) -> float:
    total = 0.0
    for proc in procs:
        try:
            times = proc.cpu_times()
        except psutil.Error:
            continue
        # With the children it waited for (a PostgreSQL backend that ended): live children count themselves.
        total += (
            times.user + times.system + getattr(times, "children_user", 0.0) + getattr(times, "children_system", 0.0)
        )
    return total


@dataclass
class BurstResult:
    kind: Kind
    count: int
    seconds: float
    cpu_ms: dict[str, float]  # per item, by part
    term_events: int | None = None

    @property
    def rate(self) -> float:
        return self.count / self.seconds


def burst_data(csn: str, prefix: str, count: int, today: date, kind: Kind) -> DataFile:
    subs = renewable_subscriptions(prefix, csn, count, today, ends_in=-1 if kind == "auto-renew" else 30)
    if kind == "auto-quote":
        subs = [{**s, "auto_renew": False} for s in subs]
    return DataFile.model_validate(
        {
            "customers": [
                {
                    "csn": csn,
                    "name": f"Burst {prefix}",
                    "email": f"buyer@{prefix.lower()}.example",
                    "address": "Burstweg 1",
                }
            ],
            "subscriptions": subs,
            "prices": price_book(),
        }
    )


async def done_count(app: App, csn: str, kind: Kind) -> int:
    """Items of the burst done: terms renewed, or auto quotes sent."""
    async with app.pool.connection() as conn:
        if kind == "auto-renew":
            return await renewals_of_customer(conn, csn)
        return await sent_auto_quotes_of(conn, csn)


async def first_term_events(client: Client, sub_id: str) -> int:
    calendar = client.get_workflow_handle(subscription_workflow_id(sub_id))
    first_run = None
    async for event in calendar.fetch_history_events():
        first_run = event.workflow_execution_started_event_attributes.first_execution_run_id
        break
    return len((await client.get_workflow_handle(calendar.id, run_id=first_run).fetch_history()).events)


async def run_burst(
    app: App,
    client: Client,
    parts: dict[str, list[psutil.Process]],
    today: date,
    kind: Kind,
    count: int,
    timeout: float = 1800,
) -> BurstResult:
    """Load the burst, wait until every item is done (buyers may arrive meanwhile: bench/openloop.py)."""
    prefix = f"U{uuid.uuid4().hex[:5].upper()}"
    csn = f"58{int(uuid.uuid4().hex[:8], 16) % 10**8:08d}"
    data = burst_data(csn, prefix, count, today, kind)
    before = {part: cpu_seconds(procs) for part, procs in parts.items()}
    started = time.perf_counter()
    await app.subscriptions.load(data)
    while (done := await done_count(app, csn, kind)) < count:
        if time.perf_counter() - started > timeout:
            raise SystemExit(f"the {kind} burst did not drain in {timeout:.0f} s ({done} of {count})")
        await asyncio.sleep(0.2)
    seconds = time.perf_counter() - started
    await quiet(parts)  # the CPU of its tail too (emails, webhooks, calendars moving to their next term)
    after = {part: cpu_seconds(procs) for part, procs in parts.items()}
    cpu_ms = {part: (after[part] - before[part]) * 1000 / count for part in parts}
    result = BurstResult(kind=kind, count=count, seconds=seconds, cpu_ms=cpu_ms)
    if kind == "auto-renew":
        result.term_events = await first_term_events(client, data.subscriptions[0].id)
    return result
