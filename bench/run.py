"""`make bench`: the quote lifecycle on the embedded stack, beside a no-op workflow of the same shape, and
the midnight burst (bench/burst.py).

Uses the running `renewals dev` (var/dev.env), or starts a private one in a temporary directory (with its
own webhook receiver, as `make run`; `--no-webhooks` without). Prints two tables:
python -m bench.run [--quick] [--n 100] [--concurrency 20] [--load 10000] [--open 1000 10000]
[--burst 1000] [--quote-burst 500] [--only lifecycle|burst]
"""

import argparse
import asyncio
import os
import platform
import signal
import socket
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Awaitable, Callable
from datetime import date
from pathlib import Path

import psutil
from temporalio.client import Client
from temporalio.worker import Worker

from bench.burst import BurstResult, run_burst
from bench.noop import NoopInput, NoopLifecycleWorkflow, NoopStep, noop
from domain.models import DataFile
from domain.quote_rules import QuoteRequest
from domain.quotes import quote_workflow_id, subscription_workflow_id
from runtime.app import App, open_app
from runtime.client import connect
from runtime.settings import Settings
from runtime.temporal import sandbox
from workers.demo_data import price_book, renewable_subscriptions

CSN = "5199999999"
BIN = Path(sys.executable).parent


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def stack_pid(env_file: Path) -> int | None:
    pid = next(
        (line.split("=")[1] for line in env_file.read_text().splitlines() if line.startswith("RENEWALS_DEV_PID=")), ""
    )
    return int(pid) if pid.isdigit() and psutil.pid_exists(int(pid)) else None


def running_stack() -> tuple[Settings, int] | None:
    """The `renewals dev` this checkout runs, if any."""
    env_file = Path(os.environ.get("RENEWALS_VAR", "var")).resolve() / "dev.env"
    pid = stack_pid(env_file) if env_file.exists() else None
    return (Settings(_env_file=env_file), pid) if pid else None


def start_private_stack(
    var: Path, webhooks: bool = True, workers: int | None = None
) -> tuple[subprocess.Popen, Settings]:
    ports = {
        "--temporal-port": free_port(),
        "--ui-port": free_port(),
        "--smtp-port": free_port(),
        "--web-port": free_port(),
        "--webhook-port": free_port(),
    }
    args = [str(BIN / "renewals"), "dev", "--no-seed", *(str(x) for kv in ports.items() for x in kv)]
    # With the stack's own receiver, as `make run`; each receiver adds one delivery activity per event.
    env = {**os.environ, "RENEWALS_VAR": str(var)}
    if not webhooks:
        env["WEBHOOK_URLS"] = ""
    if workers is not None:
        args += ["--workers", str(workers)]
    process = subprocess.Popen(
        args, env=env, stdout=(var.parent / "dev.log").open("wb"), stderr=subprocess.STDOUT, start_new_session=True
    )
    env_file = var / "dev.env"
    deadline = time.monotonic() + 120
    while not env_file.exists():
        if process.poll() is not None or time.monotonic() > deadline:
            raise SystemExit(f"the embedded stack did not start; see {var.parent / 'dev.log'}")
        time.sleep(0.2)
    return process, Settings(_env_file=env_file)


def subscriptions(run: str, count: int, today: date) -> DataFile:
    return DataFile.model_validate(
        {
            "customers": [{"csn": CSN, "name": "Bench BV", "email": "buyer@bench.example", "address": "Benchweg 1"}],
            "subscriptions": renewable_subscriptions(f"B{run}", CSN, count, today),
            "prices": price_book(),
        }
    )


def percentile(values: list[float], p: float) -> float:
    if not values:
        return float("nan")
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(p / 100 * (len(ordered) - 1)))]


async def gather_limited(n: int, concurrency: int, one: Callable[[int], Awaitable[None]]) -> float:
    gate = asyncio.Semaphore(concurrency)

    async def limited(i: int) -> None:
        async with gate:
            await one(i)

    started = time.perf_counter()
    await asyncio.gather(*(limited(i) for i in range(n)))
    return time.perf_counter() - started


class Bench:
    def __init__(self, app: App, client: Client, today: date) -> None:
        self.app, self.client, self.today = app, client, today
        self.run = uuid.uuid4().hex[:6]
        self.next_sub = 0
        self.create_send: list[float] = []
        self.accept_pay: list[float] = []

    async def fresh_subscriptions(self, count: int) -> list[str]:
        run = f"{self.run}{self.next_sub}"
        self.next_sub += 1
        data = subscriptions(run, count, self.today)
        await self.app.subscriptions.load(data)
        return [s.id for s in data.subscriptions]

    async def real(self, n: int, concurrency: int, record: bool) -> float:
        ids = await self.fresh_subscriptions(n)

        async def one(i: int) -> None:
            started = time.perf_counter()
            quote = await self.app.quotes.create(
                QuoteRequest(csn=CSN, subscription_ids=[ids[i]], recipients=["cfo@bench.example"]), send=True
            )
            sent = time.perf_counter()
            await self.app.quotes.accept(quote.number, pay=True, reference=f"BENCH-{quote.number}")
            paid = time.perf_counter()
            await self.client.get_workflow_handle(quote_workflow_id(quote.number)).result()
            if record:
                self.create_send.append(sent - started)
                self.accept_pay.append(paid - sent)
            self.last_quote, self.last_subscription = quote.number, ids[i]

        return n / await gather_limited(n, concurrency, one)

    async def noop(self, n: int, concurrency: int) -> float:
        async def one(i: int) -> None:
            handle = await self.client.start_workflow(
                NoopLifecycleWorkflow.run,
                NoopInput(number=str(i)),
                id=f"bench-noop-{self.run}-{concurrency}-{i}",
                task_queue=f"bench-noop-{self.run}",
            )
            await handle.execute_update(NoopLifecycleWorkflow.send, NoopStep(step="send"))
            await handle.execute_update(NoopLifecycleWorkflow.accept_pay, NoopStep(step="pay"))
            await handle.result()

        return n / await gather_limited(n, concurrency, one)

    async def history_events(self) -> tuple[int, int]:
        quote = await self.client.get_workflow_handle(quote_workflow_id(self.last_quote)).fetch_history()
        calendar = self.client.get_workflow_handle(subscription_workflow_id(self.last_subscription))
        first_run = None
        async for event in calendar.fetch_history_events():
            first_run = event.workflow_execution_started_event_attributes.first_execution_run_id
            break
        term = await self.client.get_workflow_handle(calendar.id, run_id=first_run).fetch_history()
        return len(quote.events), len(term.events)

    async def load_rate(self, count: int) -> float:
        data = subscriptions(f"{self.run}L", count, self.today)
        started = time.perf_counter()
        await self.app.subscriptions.load(data)
        return count / (time.perf_counter() - started)

    async def open_quotes(self, count: int, concurrency: int) -> None:
        ids = await self.fresh_subscriptions(count)

        async def one(i: int) -> None:
            await self.app.quotes.create(QuoteRequest(csn=CSN, subscription_ids=[ids[i]]), send=True)

        await gather_limited(count, concurrency, one)


def rss_mb(pid: int) -> float:
    """The `renewals dev` process: its worker and the buyer app (not Temporal, PostgreSQL or the SMTP sink)."""
    return psutil.Process(pid).memory_info().rss / 2**20


async def main(args: argparse.Namespace) -> None:
    private = None
    running = running_stack()
    if running is None:
        var = Path(tempfile.mkdtemp(prefix="renewals-bench-")) / "var"
        var.mkdir()
        private, settings = start_private_stack(var, webhooks=args.webhooks, workers=args.workers)
        pid = private.pid
    else:
        settings, pid = running
    try:
        client = await connect(settings)
        async with open_app(settings, client=client, pool_size=max(10, args.concurrency)) as app:
            bench = Bench(app, client, date.today())
            worker = Worker(
                client,
                task_queue=f"bench-noop-{bench.run}",
                workflows=[NoopLifecycleWorkflow],
                activities=[noop],
                workflow_runner=sandbox(),
            )
            async with worker:
                await bench.real(2, 1, record=False)  # warm up caches and connections
                await bench.noop(2, 1)
                if args.only in (None, "burst"):
                    bursts = await run_bursts(app, client, pid, bench, args)
                if args.only in (None, "lifecycle"):
                    rows = {}
                    for concurrency in (1, args.concurrency):
                        n = args.n if concurrency > 1 else max(2, args.n // 4)
                        real = await bench.real(n, concurrency, record=concurrency > 1)
                        noop_rate = await bench.noop(n, concurrency)
                        rows[concurrency] = (real, noop_rate)
            if args.only in (None, "lifecycle"):
                events, term_events = await bench.history_events()
                load_rate = await bench.load_rate(args.load)
                rss = {}
                opened = 0
                for target in args.open:
                    await bench.open_quotes(target - opened, args.concurrency)
                    opened = target
                    rss[target] = rss_mb(pid)
        print_header(args)
        if args.only in (None, "lifecycle"):
            print_table(args, rows, bench, events, term_events, load_rate, rss)
        if args.only in (None, "burst"):
            print_bursts(args, bursts)
    finally:
        if private is not None:
            os.killpg(private.pid, signal.SIGINT)
            private.wait(60)


async def run_bursts(app: App, client: Client, pid: int, bench: Bench, args: argparse.Namespace) -> list[BurstResult]:
    """The auto-renewal burst alone, the auto-quote burst alone, then the auto-renewal burst again with
    buyers paying the whole time (their latency; the CPU figures come from the runs alone)."""
    today = date.today()
    results = [
        await run_burst(app, client, pid, today, "auto-renew", args.burst),
        await run_burst(app, client, pid, today, "auto-quote", args.quote_burst),
    ]
    shopping = await bench.fresh_subscriptions(max(args.burst, 4 * args.concurrency))
    results.append(
        await run_burst(
            app,
            client,
            pid,
            today,
            "auto-renew",
            args.burst,
            buyers=args.concurrency,
            buyer_csn=CSN,
            buyer_subscriptions=shopping,
        )
    )
    return results


def print_bursts(args: argparse.Namespace, bursts: list[BurstResult]) -> None:
    renew, quotes, shopped = bursts
    c = args.concurrency
    lines = [
        (f"burst of {renew.count} auto-renewals: drained (items/s, s)", f"{renew.rate:.1f} / {renew.seconds:.0f}"),
        ("  CPU per auto-renewal: worker / Temporal / SMTP sink (ms)", cpu_line(renew)),
        ("  history events of a term that auto-renews", str(renew.term_events)),
        (f"burst of {quotes.count} auto quotes: drained (items/s, s)", f"{quotes.rate:.1f} / {quotes.seconds:.0f}"),
        ("  CPU per auto quote: worker / Temporal / SMTP sink (ms)", cpu_line(quotes)),
        (
            f"burst of {shopped.count} auto-renewals with {c} buyers paying: drained (items/s, s)",
            f"{shopped.rate:.1f} / {shopped.seconds:.0f}",
        ),
        (
            f"  accept+pay p50 / p95 / p99 during the burst (ms, {len(shopped.accept_pay)} payments)",
            " / ".join(f"{percentile(shopped.accept_pay, p) * 1000:.0f}" for p in (50, 95, 99)),
        ),
        ("  buyers' quotes that failed during the burst", f"{len(shopped.failed)}"),
    ]
    width = max(len(k) for k, _ in lines)
    print()
    print(f"{'burst figure':<{width}}  value")
    for key, value in lines:
        print(f"{key:<{width}}  {value}")
    for reason in dict.fromkeys(shopped.failed):
        print(f"  failed: {reason}")


def cpu_line(result: BurstResult) -> str:
    return " / ".join(f"{result.cpu_ms.get(part, 0):.0f}" for part in ("worker", "temporal", "sink"))


def print_header(args: argparse.Namespace) -> None:
    print(
        f"renewal-quotes bench on {platform.machine()}, {psutil.cpu_count()} cores, Python {platform.python_version()};"
        f" n={args.n}, concurrency {args.concurrency}, webhooks {'on' if args.webhooks else 'off'},"
        f" workers {args.workers or 'default'}"
    )


def print_table(args, rows, bench: Bench, events: int, term_events: int, load_rate: float, rss: dict) -> None:
    c = args.concurrency
    lines = [
        (f"real lifecycles/s at 1 / at {c}", f"{rows[1][0]:.1f} / {rows[c][0]:.1f}"),
        (f"no-op lifecycles/s at 1 / at {c}", f"{rows[1][1]:.1f} / {rows[c][1]:.1f}"),
        (f"ratio real / no-op at 1 / at {c}", f"{rows[1][0] / rows[1][1]:.2f} / {rows[c][0] / rows[c][1]:.2f}"),
        (
            f"create+send p50 / p95 / p99 at {c} (ms)",
            " / ".join(f"{percentile(bench.create_send, p) * 1000:.0f}" for p in (50, 95, 99)),
        ),
        (
            f"accept+pay p50 / p95 / p99 at {c} (ms)",
            " / ".join(f"{percentile(bench.accept_pay, p) * 1000:.0f}" for p in (50, 95, 99)),
        ),
        ("history events: paid one-line quote (2 recipients) / subscription term", f"{events} / {term_events}"),
        (f"load {args.load} subscriptions with calendars (subscriptions/s)", f"{load_rate:.0f}"),
        *((f"worker process RSS with {n} open quotes and calendars (MB)", f"{mb:.0f}") for n, mb in rss.items()),
    ]
    width = max(len(k) for k, _ in lines)
    print(f"{'figure':<{width}}  value")
    for key, value in lines:
        print(f"{key:<{width}}  {value}")


def parse(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--n", type=int, default=100, help="lifecycles per measurement at full concurrency")
    parser.add_argument("--concurrency", type=int, default=20)
    parser.add_argument("--load", type=int, default=10_000, help="subscriptions to load")
    parser.add_argument("--open", type=int, nargs="+", default=[1_000, 10_000], help="open quotes for the RSS figures")
    parser.add_argument("--burst", type=int, default=1_000, help="auto-renewals due at once")
    parser.add_argument("--quote-burst", type=int, default=500, help="auto quotes due at once")
    parser.add_argument("--only", choices=["lifecycle", "burst"], help="measure only this")
    parser.add_argument(
        "--no-webhooks", dest="webhooks", action="store_false", help="a private stack without a receiver"
    )
    parser.add_argument("--workers", type=int, help="worker processes of a private stack (renewals dev --workers)")
    parser.add_argument("--quick", action="store_true", help="tiny figures that prove the script still runs")
    args = parser.parse_args(argv)
    if args.quick:
        args.n, args.concurrency, args.load, args.open = 4, 2, 10, [2, 4]
        args.burst, args.quote_burst = 4, 3
    return args


if __name__ == "__main__":
    asyncio.run(main(parse()))
