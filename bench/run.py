"""`make bench`: buyers arriving at a fixed rate through the real HTTP paths (bench/openloop.py), at rest and
during the midnight burst (bench/burst.py), beside a no-op workflow of the same shape at the same rate.

Uses the running `renewals dev` (var/dev.env), or starts a private one in a temporary directory (with its
own webhook receiver, as `make run`; `--no-webhooks` without), and a `renewals web` process the buyers go
through. Prints one table:
python -m bench.run [--quick] [--n 200] [--rate 10] [--burst-rate 2] [--load 10000] [--open 1000 10000]
[--burst 1000] [--quote-burst 500] [--workers N]
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

import httpx
import psutil
from temporalio.client import Client
from temporalio.worker import Worker

from bench.burst import cpu_seconds, processes, quiet, run_burst
from bench.noop import NoopInput, NoopLifecycleWorkflow, NoopStep, noop
from bench.openloop import Buyers, open_loop
from domain.links import LinkSigner
from domain.models import DataFile
from domain.quote_rules import QuoteRequest
from domain.quotes import quote_workflow_id
from runtime.app import App, open_app
from runtime.client import connect
from runtime.settings import Settings
from runtime.temporal import sandbox
from workers.demo_data import price_book, renewable_subscriptions

CSN = "5199999999"
BUYER = "buyer@bench.example"
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

    async def fresh_subscriptions(self, count: int) -> list[str]:
        run = f"{self.run}{self.next_sub}"
        self.next_sub += 1
        data = subscriptions(run, count, self.today)
        await self.app.subscriptions.load(data)
        return [s.id for s in data.subscriptions]

    async def noop(self, n: int, rate: float, parts: dict[str, list[psutil.Process]]) -> dict[str, float]:
        """The same shape (start, send, accept+pay, three activities) at the same arrival rate: CPU ms each."""
        before = {part: cpu_seconds(procs) for part, procs in parts.items()}
        started = time.perf_counter()

        async def one(i: int) -> None:
            handle = await self.client.start_workflow(
                NoopLifecycleWorkflow.run,
                NoopInput(number=str(i)),
                id=f"bench-noop-{self.run}-{i}-{uuid.uuid4().hex[:4]}",
                task_queue=f"bench-noop-{self.run}",
            )
            await handle.execute_update(NoopLifecycleWorkflow.send, NoopStep(step="send"))
            await handle.execute_update(NoopLifecycleWorkflow.accept_pay, NoopStep(step="pay"))
            await handle.result()

        running = []
        for i in range(n):
            await asyncio.sleep(max(0.0, started + i / rate - time.perf_counter()))
            running.append(asyncio.create_task(one(i)))
        await asyncio.gather(*running)
        await quiet(parts)  # with its tail
        after = {part: cpu_seconds(procs) for part, procs in parts.items()}
        return {part: (after[part] - before[part]) * 1000 / n for part in parts}

    async def history_events(self, quote_number: str) -> int:
        return len((await self.client.get_workflow_handle(quote_workflow_id(quote_number)).fetch_history()).events)

    async def load_rate(self, count: int) -> float:
        data = subscriptions(f"{self.run}L", count, self.today)
        started = time.perf_counter()
        await self.app.subscriptions.load(data)
        return count / (time.perf_counter() - started)

    async def open_quotes(self, count: int) -> None:
        ids = await self.fresh_subscriptions(count)
        gate = asyncio.Semaphore(20)

        async def one(i: int) -> None:
            async with gate:
                await self.app.quotes.create(QuoteRequest(csn=CSN, subscription_ids=[ids[i]]), send=True)

        await asyncio.gather(*(one(i) for i in range(count)))


def rss_mb(pid: int) -> float:
    """The `renewals dev` process: its worker (and its idle buyer app)."""
    return psutil.Process(pid).memory_info().rss / 2**20


def start_web(var: Path, port: int) -> subprocess.Popen:
    """A `renewals web` of the stack in `var`, as production runs it: its own process, its own /metrics."""
    env = {
        **os.environ,
        "RENEWALS_VAR": str(var),
        "WEB_PORT": str(port),
        "API_RATE_LIMIT": "1000000",  # the bench's one API key is every backend system at once
        "API_RATE_BURST": "100000",
    }
    process = subprocess.Popen(
        [str(BIN / "renewals"), "web"],
        env=env,
        stdout=(var.parent / "web.log").open("wb"),
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )
    deadline = time.monotonic() + 60
    while True:
        try:
            if httpx.get(f"http://127.0.0.1:{port}/healthz", timeout=1).status_code == 200:
                return process
        except httpx.HTTPError:
            pass
        if process.poll() is not None or time.monotonic() > deadline:
            raise SystemExit(f"renewals web did not start; see {var.parent / 'web.log'}")
        time.sleep(0.2)


def temporal_calls_per_get(port: int) -> tuple[float, float]:
    """From the web process's /metrics: (GET requests served, Temporal calls they made)."""
    text = httpx.get(f"http://127.0.0.1:{port}/metrics", timeout=10).text
    requests = sum(
        float(line.rsplit(" ", 1)[1])
        for line in text.splitlines()
        if line.startswith("renewals_http_request_seconds_count{")
        and 'method="GET"' in line
        and 'route="/healthz"' not in line
        and 'route="/metrics"' not in line
    )
    calls = sum(
        float(line.rsplit(" ", 1)[1])
        for line in text.splitlines()
        if line.startswith("renewals_http_temporal_calls_total{") and 'method="GET"' in line
    )
    return requests, calls


async def main(args: argparse.Namespace) -> None:
    private = web = None
    running = running_stack()
    if running is None:
        var = Path(tempfile.mkdtemp(prefix="renewals-bench-")) / "var"
        var.mkdir()
        private, settings = start_private_stack(var, webhooks=args.webhooks, workers=args.workers)
        pid = private.pid
    else:
        settings, pid = running
        var = Path(os.environ.get("RENEWALS_VAR", "var")).resolve()
    port = free_port()
    try:
        web = start_web(var, port)
        parts = processes(pid, var, web.pid)
        client = await connect(settings)
        api_key = next(k.key for k in settings.api_keys() if k.scope == "write")
        buyers = Buyers(f"http://127.0.0.1:{port}", api_key, LinkSigner(settings.require_link_secrets()), CSN, BUYER)
        async with open_app(settings, client=client, pool_size=20) as app:
            bench = Bench(app, client, date.today())
            worker = Worker(
                client,
                task_queue=f"bench-noop-{bench.run}",
                workflows=[NoopLifecycleWorkflow],
                activities=[noop],
                workflow_runner=sandbox(),
            )
            async with worker:
                say("warming up")
                await open_loop(buyers, await bench.fresh_subscriptions(3), 2, parts)
                await bench.noop(3, 2, {})
                say(f"a burst of {args.burst} auto-renewals")
                await quiet(parts)
                renew = await run_burst(app, client, parts, date.today(), "auto-renew", args.burst)
                say(f"  {renew.rate:.1f}/s; a burst of {args.quote_burst} auto quotes")
                await quiet(parts)
                quotes = await run_burst(app, client, parts, date.today(), "auto-quote", args.quote_burst)
                say(f"  {quotes.rate:.1f}/s")
                say(f"{args.n} buyers at {args.rate}/s")
                ids = await bench.fresh_subscriptions(args.n)
                await quiet(parts)
                rest = await open_loop(buyers, ids, args.rate, parts)
                say(
                    f"  paid {rest.paid}, CPU {cpu_total(rest.cpu_ms)} ms, accept+pay p99 {ms(rest.latencies['accept+pay'], 99)} ms"
                )
                say(f"{args.n} no-op lifecycles at {args.rate}/s")
                await quiet(parts)
                noop_cpu = await bench.noop(
                    args.n,
                    args.rate,
                    {"temporal": parts["temporal"], "bench (no-op worker and client)": [psutil.Process()]},
                )
                gets, get_calls = temporal_calls_per_get(port)
                events = await bench.history_events(rest.last_quote) if rest.last_quote else 0
                say(f"a burst of {args.burst} auto-renewals with buyers at {args.burst_rate}/s")
                shopping = await bench.fresh_subscriptions(max(20, int(args.burst_rate * args.burst / 10)))
                await quiet(parts)
                draining = asyncio.Event()
                loop = asyncio.create_task(open_loop(buyers, shopping, args.burst_rate, parts, until=draining))
                during = await run_burst(app, client, parts, date.today(), "auto-renew", args.burst)
                draining.set()
                busy = await loop
                say(
                    f"  {during.rate:.1f}/s, paid {busy.paid}, accept+pay p99 {ms(busy.latencies['accept+pay'], 99)} ms"
                )
            load_rate = await bench.load_rate(args.load)
            rss = {}
            opened = 0
            for target in args.open:
                await bench.open_quotes(target - opened)
                opened = target
                rss[target] = rss_mb(pid)
        await buyers.close()
        print_header(args)
        print_table(args, rest, busy, noop_cpu, gets, get_calls, events, renew, quotes, during, load_rate, rss)
    finally:
        if web is not None:
            os.killpg(web.pid, signal.SIGINT)
            web.wait(30)
        if private is not None:
            os.killpg(private.pid, signal.SIGINT)
            private.wait(60)


def say(text: str) -> None:
    """Progress, on stderr: the table alone is on stdout."""
    print(f"{time.strftime('%H:%M:%S')} {text}", file=sys.stderr, flush=True)


def ms(values: list[float], *ps: float) -> str:
    return " / ".join(f"{percentile(values, p) * 1000:.0f}" for p in ps)


def cpu_total(cpu: dict[str, float]) -> str:
    shown = {k: v for k, v in cpu.items() if k != "sink"}
    return f"{' + '.join(f'{v:.0f}' for v in shown.values())} = {sum(shown.values()):.0f}"


def print_header(args: argparse.Namespace) -> None:
    print(
        f"renewal-quotes bench on {platform.machine()}, {psutil.cpu_count()} cores, Python {platform.python_version()};"
        f" {args.n} buyers at {args.rate}/s, {args.burst_rate}/s during a {args.burst}-renewal burst, webhooks"
        f" {'on' if args.webhooks else 'off'}, workers {args.workers or 'default'}"
    )


def print_table(args, rest, busy, noop_cpu, gets, get_calls, events, renew, quotes, during, load_rate, rss) -> None:
    parts = " + ".join(k for k in rest.cpu_ms if k != "sink")
    lines = [
        (f"buyers paid / arrived at {args.rate}/s (open loop)", f"{rest.paid} / {rest.count}", ""),
        ("  create+send via the API p50 / p99 (ms)", ms(rest.latencies["create+send"], 50, 99), ""),
        ("  quote page GET p50 / p99 (ms)", ms(rest.latencies["page GET"], 50, 99), "p99 <= 50"),
        ("  accept+pay POST p50 / p99 (ms)", ms(rest.latencies["accept+pay"], 50, 99), "p99 <= 300"),
        (f"  CPU per paid lifecycle: {parts} (ms)", cpu_total(rest.cpu_ms), "<= 150"),
        (
            "  no-op of the same shape: Temporal + bench process (ms)",
            " + ".join(f"{v:.0f}" for v in noop_cpu.values()) + f" = {sum(noop_cpu.values()):.0f}",
            "",
        ),
        ("  Temporal calls per GET (web /metrics)", f"{get_calls / gets if gets else 0:.2f} ({gets:.0f} GETs)", "0"),
        ("  history events per paid quote", str(events), ""),
        (
            f"buyers paid / arrived at {args.burst_rate}/s during a {during.count}-renewal burst",
            f"{busy.paid} / {busy.count}",
            "",
        ),
        ("  accept+pay POST p50 / p99 during the burst (ms)", ms(busy.latencies["accept+pay"], 50, 99), "p99 <= 1000"),
        ("  quote page GET p50 / p99 during the burst (ms)", ms(busy.latencies["page GET"], 50, 99), ""),
        (f"burst of {renew.count} auto-renewals alone (items/s)", f"{renew.rate:.1f}", ">= 28"),
        (f"  CPU per auto-renewal: {parts} (ms)", cpu_total(renew.cpu_ms), ""),
        ("  history events of a term that auto-renews", str(renew.term_events), ""),
        (f"burst of {quotes.count} auto quotes (items/s)", f"{quotes.rate:.1f}", ""),
        ("  worker CPU per auto quote (ms)", f"{quotes.cpu_ms['worker']:.0f}", "<= 40"),
        (f"  CPU per auto quote: {parts} (ms)", cpu_total(quotes.cpu_ms), ""),
        (f"load {args.load} subscriptions with calendars (subscriptions/s)", f"{load_rate:.0f}", ""),
        *((f"worker process RSS with {n} open quotes and calendars (MB)", f"{mb:.0f}", "") for n, mb in rss.items()),
    ]
    width = max(len(k) for k, _, _ in lines)
    vwidth = max(len(v) for _, v, _ in lines)
    print(f"{'figure':<{width}}  {'value':<{vwidth}}  goal")
    for key, value, goal in lines:
        print(f"{key:<{width}}  {value:<{vwidth}}  {goal}".rstrip())
    for reason in dict.fromkeys([*rest.failed, *busy.failed]):
        print(f"  failed: {reason}")


def parse(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--n", type=int, default=200, help="buyers arriving at rest")
    parser.add_argument("--rate", type=float, default=10, help="buyers arriving per second at rest")
    parser.add_argument("--burst-rate", type=float, default=2, help="buyers arriving per second during the burst")
    parser.add_argument("--load", type=int, default=10_000, help="subscriptions to load")
    parser.add_argument("--open", type=int, nargs="+", default=[1_000, 10_000], help="open quotes for the RSS figures")
    parser.add_argument("--burst", type=int, default=1_000, help="auto-renewals due at once")
    parser.add_argument("--quote-burst", type=int, default=500, help="auto quotes due at once")
    parser.add_argument(
        "--no-webhooks", dest="webhooks", action="store_false", help="a private stack without a receiver"
    )
    parser.add_argument("--workers", type=int, help="worker processes of a private stack (renewals dev --workers)")
    parser.add_argument("--quick", action="store_true", help="tiny figures that prove the script still runs")
    args = parser.parse_args(argv)
    if args.quick:
        args.n, args.rate, args.load, args.open = 6, 3, 10, [2, 4]
        args.burst, args.quote_burst = 4, 3
    return args


if __name__ == "__main__":
    asyncio.run(main(parse()))
