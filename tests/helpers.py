"""What the quote tests share: a stack on a Temporal test server, demo data, and short-hands."""

import asyncio
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import time
from collections import Counter
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from datetime import date, timedelta
from pathlib import Path

import psutil
from psycopg_pool import AsyncConnectionPool
from temporalio.client import Client
from temporalio.testing import WorkflowEnvironment

from domain.models import DataFile
from domain.quote_rules import QuoteRequest
from domain.quotes import quote_workflow_id, subscription_workflow_id
from payments.fake import FakeGateway
from payments.gateway import Charge, ChargeRequest
from runtime.app import open_app
from runtime.settings import Settings
from runtime.temporal import build_worker
from services.quotes import QuoteService
from services.subscriptions import SubscriptionService
from store.loader import load
from workers.demo_data import ACME, demo_data


class CountingGateway(FakeGateway):
    """The local fake provider, counting what reached it: tests assert money, not only states."""

    def __init__(self, pool: AsyncConnectionPool, **faults) -> None:
        super().__init__(pool, **faults)
        self.charge_calls: Counter[str] = Counter()

    async def charge(self, request: ChargeRequest) -> Charge:
        self.charge_calls[request.idempotency_key] += 1
        return await super().charge(request)


async def charges(pool: AsyncConnectionPool, number: str) -> int:
    """Money the provider kept for a quote: its charges not refunded (0 or 1, by the idempotency key)."""
    return await scalar(
        pool,
        "SELECT count(*) FROM fake_gateway_charges WHERE idempotency_key = %s AND refunded_at IS NULL",
        f"quote-{number}",
    )


async def money(pool: AsyncConnectionPool, number: str) -> dict[str, list[dict]]:
    """Every row money left for a quote: the provider's charges and refunds by the quote's key, and the
    store's payments, each with amount, currency and whether it was refunded."""
    return {
        "charges": await rows(
            pool,
            "SELECT charge_id, amount, currency, refunded_at IS NOT NULL AS refunded FROM fake_gateway_charges"
            " WHERE idempotency_key = %s",
            f"quote-{number}",
        ),
        "payments": await rows(
            pool,
            "SELECT reference, amount, currency, method, refunded_at IS NOT NULL AS refunded FROM payments"
            " WHERE quote_number = %s",
            number,
        ),
    }


async def paid_once(pool: AsyncConnectionPool, quote, amount, currency: str, method: str = "card") -> None:
    """The quote's money moved exactly once: one charge (by card) and one payment row, each of `amount` in
    `currency` (checked against the quote's own total too), nothing refunded, and no other charge anywhere."""
    from decimal import Decimal

    moved = await money(pool, quote.number)
    assert quote.total == Decimal(amount) and quote.currency == currency, (quote.total, quote.currency)
    (payment,) = moved["payments"]
    assert (payment["amount"], payment["currency"], payment["method"], payment["refunded"]) == (
        Decimal(amount),
        currency,
        method,
        False,
    ), payment
    if method == "card":
        (charge,) = moved["charges"]
        assert (charge["amount"], charge["currency"], charge["refunded"]) == (Decimal(amount), currency, False)
        assert payment["reference"] == charge["charge_id"]
    else:
        assert moved["charges"] == []
    assert await scalar(pool, "SELECT count(*) FROM fake_gateway_charges") == len(moved["charges"])


@asynccontextmanager
async def quote_stack(
    env: WorkflowEnvironment,
    pool: AsyncConnectionPool,
    settings: Settings,
    worker=None,
    gateway: FakeGateway | None = None,
    data: Callable[[DataFile], DataFile] | None = None,
) -> AsyncIterator[QuoteService]:
    """Demo data dated from the server's clock (changed by `data`, if given), a worker on a fresh task
    queue, the service the CLI uses."""
    client = env.client
    today = (await env.get_current_time()).date()
    data_file = demo_data(today)
    if data is not None:
        data_file = data(data_file)
    async with pool.connection() as conn:
        await load(conn, data_file)
    async with (
        worker or build_worker(client, pool, settings, gateway),
        open_app(settings, pool=pool, client=client, today=today) as app,
    ):
        try:
            yield app.quotes
        finally:
            async with pool.connection() as conn:
                cur = await conn.execute("SELECT number FROM quotes")
                numbers = [row["number"] for row in await cur.fetchall()]
            await end_quotes(client, numbers)
            await end_workflows(client, [subscription_workflow_id(s.id) for s in data_file.subscriptions])


async def end_quotes(client: Client, numbers: list[str]) -> None:
    """Ended quotes finish their last steps (renewals, emails); pending ones are terminated."""
    from temporalio.client import WorkflowExecutionStatus

    from workflows.quote import QuoteWorkflow

    for number in numbers:
        handle = client.get_workflow_handle_for(QuoteWorkflow.run, quote_workflow_id(number))
        if (await handle.describe()).status != WorkflowExecutionStatus.RUNNING:
            continue
        if (await handle.query(QuoteWorkflow.state)).state.terminal:
            await asyncio.wait_for(handle.result(), 30)
        else:
            await end_workflows(client, [handle.id])


async def end_workflows(client: Client, workflow_ids: list[str]) -> None:
    """Tests share one Temporal server: what a test leaves running would hold up the next one's clock.

    Activities still in flight are let finish first (the worker still runs): the test server keeps
    its clock locked for an activity that a terminated workflow abandoned.
    """
    from temporalio.client import WorkflowExecutionStatus
    from temporalio.service import RPCError

    for workflow_id in workflow_ids:
        handle = client.get_workflow_handle(workflow_id)
        try:
            for _ in range(100):
                description = await handle.describe()
                if not description.raw_description.pending_activities:
                    break
                await asyncio.sleep(0.05)
            if description.status == WorkflowExecutionStatus.RUNNING:
                await handle.terminate("test finished")
        except RPCError:
            pass


def request(*subscriptions: str, csn: str = ACME, **fields) -> QuoteRequest:
    return QuoteRequest(csn=csn, subscription_ids=list(subscriptions), **fields)


async def subscription_row(pool: AsyncConnectionPool, sub_id: str) -> dict:
    async with pool.connection() as conn:
        cur = await conn.execute("SELECT * FROM subscriptions WHERE id = %s", (sub_id,))
        row = await cur.fetchone()
        cur = await conn.execute(
            "SELECT quote_number FROM auto_renew_holds WHERE subscription_id = %s ORDER BY 1", (sub_id,)
        )
        row["held_by"] = [r["quote_number"] for r in await cur.fetchall()]
        return row


async def scalar(pool: AsyncConnectionPool, query: str, *params):
    async with pool.connection() as conn:
        cur = await conn.execute(query, params)
        row = await cur.fetchone()
        return next(iter(row.values())) if row else None


DAY = timedelta(days=1)


async def quote_result(client: Client, number: str):
    from workflows.quote import QuoteWorkflow

    return await client.get_workflow_handle_for(QuoteWorkflow.run, quote_workflow_id(number)).result()


async def settled(client: Client, number: str) -> None:
    """Wait until the quote has no activity in flight (emails, writes).

    The test server keeps skipping time while an activity runs: a 30-day skip over an email
    in flight would time it out again and again. Production servers never skip time.
    """
    await _nothing_in_flight(client, quote_workflow_id(number), number)


async def _nothing_in_flight(client: Client, workflow_id: str, name: str) -> None:
    handle = client.get_workflow_handle(workflow_id)
    for _ in range(500):
        if not (await handle.describe()).raw_description.pending_activities:
            return
        await asyncio.sleep(0.02)
    raise AssertionError(f"{name} still has activities in flight")


async def skip(env: WorkflowEnvironment, number: str, duration) -> None:
    await settled(env.client, number)
    await env.sleep(duration)


async def calendar(client: Client, sub_id: str):
    """The calendar's state now. A query that reaches a calendar in the middle of its continue-as-new can
    time out on a loaded test server: asked again, the new run answers."""
    from temporalio.service import RPCError

    from workflows.subscription import SubscriptionWorkflow

    handle = client.get_workflow_handle_for(SubscriptionWorkflow.run, subscription_workflow_id(sub_id))
    for attempt in range(3):
        try:
            return await handle.query(SubscriptionWorkflow.state)
        except RPCError as err:
            if "Timeout" not in str(err) or attempt == 2:
                raise
    raise AssertionError("unreachable")


async def start_calendars(
    env: WorkflowEnvironment, pool: AsyncConnectionPool, settings: Settings, *sub_ids: str
) -> None:
    await subscriptions(env, pool, settings).sync(list(sub_ids))


def subscriptions(env: WorkflowEnvironment, pool: AsyncConnectionPool, settings: Settings) -> SubscriptionService:
    return SubscriptionService(env.client, pool, settings.temporal_task_queue)


async def next_run(handle, run_id: str) -> None:
    """Until the workflow has continued as new from the run `run_id`."""
    for _ in range(500):
        if (await handle.describe()).run_id != run_id:
            return
        await asyncio.sleep(0.02)
    raise AssertionError(f"{handle.id} is still in its run {run_id}")


async def calendar_settled(client: Client, sub_id: str) -> None:
    """No activity in flight on the subscription's calendar (see `settled`)."""
    await _nothing_in_flight(client, subscription_workflow_id(sub_id), sub_id)


async def skip_to(env: WorkflowEnvironment, when, *sub_ids: str) -> None:
    """Let the named calendars finish what they are doing, then skip the clock to `when`."""
    for sub_id in sub_ids:
        await calendar_settled(env.client, sub_id)
    now = await env.get_current_time()
    if when > now:
        await env.sleep(when - now)
    for sub_id in sub_ids:
        await calendar_settled(env.client, sub_id)


async def rows(pool: AsyncConnectionPool, query: str, *params) -> list[dict]:
    async with pool.connection() as conn:
        cur = await conn.execute(query, params)
        return list(await cur.fetchall())


class Outage:
    """Activities that fail as if what they reach were down (a retryable error), while switched on; the
    rest of the worker is the real one. `calls` counts each activity's attempts."""

    def __init__(self, **replaced) -> None:
        """`replaced`: activities by name that take the real ones' place (a step that fails for good)."""
        self.down: set[str] = set()
        # Activities whose next attempt does its work, then its answer is lost (as when the worker dies
        # right after the provider took the money): the attempt fails and is retried.
        self.lost: set[str] = set()
        self.calls: Counter[str] = Counter()
        self.replaced = replaced

    def wrap(self, fn):
        from typing import get_type_hints

        from temporalio import activity

        name = fn.__name__
        if name in self.replaced:
            return self.replaced[name]

        async def flaky(input):
            self.calls[name] += 1
            if name in self.down:
                raise ConnectionError(f"{name}: the database is not answering (test outage)")
            result = await fn(input)
            if name in self.lost:
                self.lost.discard(name)
                raise ConnectionError(f"{name}: done, but its answer was lost (test fault)")
            return result

        flaky.__annotations__ = get_type_hints(fn)
        return activity.defn(name=name)(flaky)

    def worker(self, env: WorkflowEnvironment, pool: AsyncConnectionPool, settings: Settings, gateway=None):
        from runtime.temporal import activities

        return worker_with(
            env.client, settings, [self.wrap(a) for a in activities(env.client, pool, settings, gateway)]
        )


async def audit(env: WorkflowEnvironment, pool: AsyncConnectionPool, gateway=None, calendars: bool = False):
    """`renewals ops audit` over the store and the provider; on the time-skipping server (no visibility
    queries) without the calendars check unless asked."""
    from services import audit as auditing

    report = await auditing.audit(env.client, pool, gateway or FakeGateway(pool), calendars=calendars)
    assert report.violations == [], report.violations
    return report


async def until(check, what: str, tries: int = 300, pause: float = 0.05):
    """Poll `check()` (async) until it is truthy; the test fails naming `what` otherwise."""
    for _ in range(tries):
        value = await check()
        if value:
            return value
        await asyncio.sleep(pause)
    raise AssertionError(f"never happened: {what}")


# The real command, free ports and a real SMTP server.

BIN = Path(sys.executable).parent


def renewals(*args: str, env: dict[str, str], timeout: float = 60) -> subprocess.CompletedProcess:
    """Run the installed `renewals` console script, as a backend system would."""
    exe = shutil.which("renewals", path=str(BIN)) or "renewals"
    return subprocess.run([exe, *args], env=env, capture_output=True, text=True, timeout=timeout)


def worker_env(client: Client, settings: Settings, var: Path) -> dict[str, str]:
    """The environment of a `renewals worker` process on this test's Temporal server, store and mail."""
    return {k: v for k, v in os.environ.items() if k != "DATABASE_URL"} | {
        "TEMPORAL_ADDRESS": client.service_client.config.target_host,
        "TEMPORAL_TASK_QUEUE": settings.temporal_task_queue,
        "DATABASE_URL": settings.require_database_url(),
        "SMTP_HOST": settings.smtp_host,
        "SMTP_PORT": str(settings.smtp_port),
        "BUYER_LINK_SECRET": settings.require_link_secrets()[0],
        "RENEWALS_VAR": str(var),
        "WORKER_SHUTDOWN_GRACE": "5",
        "LOG_LEVEL": "WARNING",
    }


def until_listening(process: subprocess.Popen, port: int, timeout: float = 30) -> None:
    """Wait until the started `process` accepts connections on `port`; fail if it exits or takes too long."""
    import socket

    deadline = time.monotonic() + timeout
    while True:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=1).close()
            return
        except OSError:
            assert process.poll() is None, f"the process exited with status {process.returncode}"
            assert time.monotonic() < deadline, f"nothing listens on port {port} after {timeout:.0f} s"
            time.sleep(0.1)


def free_port() -> int:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Mailbox:
    """A real aiosmtpd server on a free port, writing each message to a folder, as `renewals dev` does."""

    def __init__(self, folder: Path) -> None:
        from workers.smtp_sink import start_smtp_sink

        self.folder = folder
        self.port = free_port()
        self.controller = start_smtp_sink(folder, "127.0.0.1", self.port)

    def messages(self) -> list:
        return self.read(self.folder)

    @staticmethod
    def read(folder: Path) -> list:
        import email
        from email import policy

        return [email.message_from_bytes(p.read_bytes(), policy=policy.default) for p in sorted(folder.glob("*.eml"))]


# The buyer app, seen from a browser.

CARD = {"holder": "A. Buyer", "card_number": "4242 4242 4242 4242", "expiry": "12/29", "cvc": "123"}
BASE = "http://buyer.test"


def link_of(mailbox, number: str) -> str:
    (message,) = [m for m in mailbox.messages() if number in m["Subject"]][:1]
    return re.search(r"http://localhost:8000(/quotes/\S+)", message.get_body(("plain",)).get_content()).group(1)


def form_fields(html: str, action: str) -> dict[str, str]:
    form = html[html.index(f'action="{action}"') :]
    form = form[: form.index("</form>")]
    return dict(re.findall(r'name="(\w+)" value="([^"]*)"', form))


def webhook_events(folder: Path, about: str | None = None) -> list:
    """The events a webhook receiver kept in `folder`, oldest first by `created` (as receivers order them),
    all or those about one quote number or subscription id."""
    from domain.webhooks import WebhookEvent

    events = sorted(
        (WebhookEvent.model_validate_json(p.read_bytes()) for p in folder.glob("*.json")), key=lambda e: e.created
    )
    return [e for e in events if about is None or about in (e.data.get("number"), e.data.get("id"))]


# The embedded stack, as a user runs it.


def free_ports(n: int) -> list[int]:
    sockets = [socket.socket() for _ in range(n)]
    for s in sockets:
        s.bind(("127.0.0.1", 0))
    ports = [s.getsockname()[1] for s in sockets]
    for s in sockets:
        s.close()
    return ports


class DevProcess:
    def __init__(self, env: dict[str, str], log: Path) -> None:
        temporal, ui, smtp, web, webhooks = free_ports(5)
        self.args = [
            "--temporal-port",
            str(temporal),
            "--ui-port",
            str(ui),
            "--smtp-port",
            str(smtp),
            "--web-port",
            str(web),
            "--webhook-port",
            str(webhooks),
            "--workers",  # the same on every machine (the default grows with its cores)
            "0",
        ]
        self.env, self.log = env, log
        self.var = Path(env["RENEWALS_VAR"])

    def start(self, seed: bool = False) -> subprocess.Popen:
        """`seed`: as `make run` does, the demo data and the demo quote into an empty store."""
        self.process = subprocess.Popen(
            [str(BIN / "renewals"), "dev", *([] if seed else ["--no-seed"]), *self.args],
            env=self.env,
            stdout=self.log.open("ab"),
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        deadline = time.monotonic() + 90
        env_file = self.var / "dev.env"
        while not (env_file.exists() and f"RENEWALS_DEV_PID={self.process.pid}" in env_file.read_text()):
            assert self.process.poll() is None, self.log.read_text()
            assert time.monotonic() < deadline, f"dev stack not up in 90 s:\n{self.log.read_text()}"
            time.sleep(0.2)
        return self.process

    def start_with_demo_data(self) -> None:
        """Start with an empty store, then load the demo data with the real CLI, as a user would."""
        from datetime import date

        demo = self.log.parent / "demo.json"
        demo.write_text(demo_data(date.today()).model_dump_json())
        self.start()
        assert renewals("load", str(demo), env=self.env).returncode == 0

    def port(self, flag: str) -> int:
        return int(self.args[self.args.index(flag) + 1])

    def dev_env(self) -> dict[str, str]:
        """What `renewals dev` wrote to var/dev.env for other terminals."""
        lines = (self.var / "dev.env").read_text().splitlines()
        return dict(line.split("=", 1) for line in lines if "=" in line and not line.startswith("#"))

    def processes(self) -> list[psutil.Process]:
        """Every process of the stack: descendants, and the daemonised PostgreSQL on var/pg."""
        try:
            found = psutil.Process(self.process.pid).children(recursive=True)
        except psutil.NoSuchProcess:
            found = []
        for proc in psutil.process_iter(["cmdline"]):
            if any(str(self.var) in part for part in proc.info["cmdline"] or []):
                found.append(proc)
        return found

    def ctrl_c(self) -> int:
        os.killpg(self.process.pid, signal.SIGINT)
        return self.process.wait(60)


def alive(procs: list[psutil.Process]) -> list[str]:
    left = []
    for proc in procs:
        try:
            if proc.is_running() and proc.status() != psutil.STATUS_ZOMBIE:
                left.append(f"{proc.pid} {' '.join(proc.cmdline())}")
        except psutil.NoSuchProcess:
            pass
    return left


def step_failures(history) -> list:
    """The failures of a workflow's steps in its history: a regular activity's, and a local activity's (kept
    in its marker), each once, in order."""
    found = []
    for event in history.events:
        if event.HasField("activity_task_failed_event_attributes"):
            found.append(event.activity_task_failed_event_attributes.failure)
        elif event.HasField("marker_recorded_event_attributes") and event.marker_recorded_event_attributes.HasField(
            "failure"
        ):
            failure = event.marker_recorded_event_attributes.failure
            while not failure.HasField("application_failure_info") and failure.HasField("cause"):
                failure = failure.cause
            found.append(failure)
    return found


def worker_with(client: Client, settings: Settings, activities: list, business_failures: bool = True, **options):
    """A worker on both of the deployment's task queues (the quotes' and the calendars'), with these
    activities: a test's stand-ins in place of the real ones of the same name."""
    from temporalio.worker import Worker

    from contracts.subscription import task_queue as calendar_task_queue
    from runtime.interceptors import BusinessFailures
    from runtime.temporal import WORKFLOWS, Workers, sandbox

    queues = {"quotes": settings.temporal_task_queue, "calendars": calendar_task_queue(settings.temporal_task_queue)}
    return Workers(
        {
            name: Worker(
                client,
                task_queue=queue,
                workflows=WORKFLOWS,
                activities=activities,
                workflow_runner=sandbox(),
                interceptors=[BusinessFailures()] if business_failures else [],
                **options,
            )
            for name, queue in queues.items()
        }
    )


async def pass_time(env, duration: timedelta, step: timedelta = timedelta(minutes=15)) -> None:
    """Skip `duration` a step at a time: every retry in between runs, and no one call to the time-skipping
    server is long (one that must wait out thousands of attempts times out on a slow machine)."""
    while duration > timedelta(0):
        await env.sleep(min(step, duration))
        duration -= step


def examples(thorough: int) -> int:
    """A property test's examples: all of them in `make test-system` (RENEWALS_THOROUGH=1), two fifths in `make
    test`. Hypothesis draws them from a fixed seed (derandomize), so the quick run is the start of the full one."""
    return thorough if os.environ.get("RENEWALS_THOROUGH") == "1" else max(1, thorough * 2 // 5)


def renewed_elsewhere(data, subscription_id: str, end: date):
    """The data file as the source exports it after renewing `subscription_id` itself, to `end` (R18)."""
    return data.model_copy(
        update={
            "subscriptions": [
                s.model_copy(update={"end_date": end}) if s.id == subscription_id else s for s in data.subscriptions
            ]
        }
    )
