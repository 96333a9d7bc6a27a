"""The midnight burst: N subscriptions of a fresh customer due at once, loaded in one go.

`auto-renew`: ended yesterday with auto-renew on, so each calendar renews its term as soon as it starts.
`auto-quote`: ending in 30 days with auto-renew off, so each calendar sends its R12 auto quote at once.
Measured: how fast the burst drains (items done per second, from the load's start), CPU milliseconds per
item of the worker processes and of the Temporal server (psutil), the history events of one term, and,
in a run with buyers, the accept+pay latency of concurrent buyers while it drains.
"""

import asyncio
import time
import uuid
from dataclasses import dataclass, field
from datetime import date
from typing import Literal

import psutil
from temporalio.client import Client

from domain.models import DataFile
from domain.quote_rules import QuoteRequest
from domain.quotes import subscription_workflow_id
from runtime.app import App
from workers.demo_data import price_book, renewable_subscriptions

Kind = Literal["auto-renew", "auto-quote"]


def processes(stack_pid: int) -> dict[str, list[psutil.Process]]:
    """The stack's processes by part: Temporal's server, the SMTP sink, and the workers (the `renewals dev`
    process itself, which also serves the web app, and any worker processes it started). PostgreSQL runs
    detached from the stack (pgserver), so its CPU is not counted."""
    root = psutil.Process(stack_pid)
    parts: dict[str, list[psutil.Process]] = {"worker": [root], "temporal": [], "sink": []}
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


def cpu_seconds(procs: list[psutil.Process]) -> float:
    total = 0.0
    for proc in procs:
        try:
            times = proc.cpu_times()
        except psutil.Error:
            continue
        total += times.user + times.system
    return total


@dataclass
class BurstResult:
    kind: Kind
    count: int
    seconds: float
    cpu_ms: dict[str, float]  # per item, by part
    term_events: int | None = None
    accept_pay: list[float] = field(default_factory=list)
    failed: list[str] = field(default_factory=list)  # buyers' lifecycles that failed, and why

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
            cur = await conn.execute(
                "SELECT count(*) AS n FROM renewals r JOIN subscriptions s ON s.id = r.subscription_id"
                " WHERE s.csn = %s",
                (csn,),
            )
        else:
            cur = await conn.execute(
                "SELECT count(*) AS n FROM quotes WHERE csn = %s AND origin = 'auto' AND state = 'sent'", (csn,)
            )
        row = await cur.fetchone()
        return int(row["n"]) if row else 0


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
    stack_pid: int,
    today: date,
    kind: Kind,
    count: int,
    buyers: int = 0,
    buyer_csn: str | None = None,
    buyer_subscriptions: list[str] | None = None,
    timeout: float = 1800,
) -> BurstResult:
    """Load the burst, wait until every item is done; with `buyers`, that many buyers create, send, accept
    and pay quotes on `buyer_subscriptions` the whole time."""
    prefix = f"U{uuid.uuid4().hex[:5].upper()}"
    csn = f"58{int(uuid.uuid4().hex[:8], 16) % 10**8:08d}"
    data = burst_data(csn, prefix, count, today, kind)
    parts = processes(stack_pid)
    before = {part: cpu_seconds(procs) for part, procs in parts.items()}
    latencies: list[float] = []
    stop = asyncio.Event()

    failed: list[str] = []

    async def buyer(n: int) -> None:
        queue = buyer_subscriptions or []
        while not stop.is_set() and queue:
            sub = queue.pop()
            try:
                quote = await app.quotes.create(QuoteRequest(csn=buyer_csn or "", subscription_ids=[sub]), send=True)
                started = time.perf_counter()
                await app.quotes.accept(quote.number, pay=True, reference=f"BURST-{quote.number}")
                latencies.append(time.perf_counter() - started)
            except Exception as err:  # a buyer who could not pay is a figure too, not the end of the run
                failed.append(f"{type(err).__name__}: {err}"[:200])

    shoppers = [asyncio.create_task(buyer(n)) for n in range(buyers)]
    started = time.perf_counter()
    await app.subscriptions.load(data)
    while (done := await done_count(app, csn, kind)) < count:
        if time.perf_counter() - started > timeout:
            raise SystemExit(f"the {kind} burst did not drain in {timeout:.0f} s ({done} of {count})")
        await asyncio.sleep(0.2)
    seconds = time.perf_counter() - started
    stop.set()
    await asyncio.gather(*shoppers)
    after = {part: cpu_seconds(procs) for part, procs in parts.items()}
    cpu_ms = {part: (after[part] - before[part]) * 1000 / count for part in parts}
    result = BurstResult(kind=kind, count=count, seconds=seconds, cpu_ms=cpu_ms, accept_pay=latencies, failed=failed)
    if kind == "auto-renew":
        result.term_events = await first_term_events(client, data.subscriptions[0].id)
    return result
