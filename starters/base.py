"""What every `renewals` command shares: the group that turns refusals into exit status 2 and a
stopped quote into exit status 1, the `--json` option, and running a command on the application."""

import asyncio

import click
from pydantic import ValidationError

from domain.errors import BadInput, Refused, Stopped
from runtime.app import open_app
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
        except Stopped as err:
            # Not a refusal: the workflow could not do it (see `renewals ops stuck`).
            output.report_stopped(err, bool(ctx.meta.get(JSON_KEY)))


def json_option(f):
    def remember(ctx: click.Context, _param, value: bool) -> bool:
        ctx.meta[JSON_KEY] = value
        return value

    return click.option(
        "--json", "as_json", is_flag=True, callback=remember, is_eager=True, help="Machine-readable output on stdout."
    )(f)


@click.group(cls=RenewalsGroup)
def cli() -> None:
    """Subscription renewal quotes, each one a durable Temporal workflow."""


def run(coro):
    return asyncio.run(coro)


def with_app(action, **options):
    """Run `action(app)` on the application built from the environment, then close it."""

    async def go():
        # The store is reached when a command needs it: paying a quote works while it is down (R20).
        async with open_app(**options, wait_for_store=False) as app:
            return await action(app)

    return run(go())
