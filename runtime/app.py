"""The one composition root: settings, the psycopg pool, the Temporal client (pydantic converter), the
payment provider, the link signer and the services, built once and closed together. The command line,
the web app, the worker, the dev stack and the tests all open the application here."""

from collections.abc import AsyncIterator
from contextlib import AsyncExitStack, asynccontextmanager
from dataclasses import dataclass
from datetime import date, timedelta

from temporalio.client import Client

from domain.links import LinkSigner
from payments.gateway import PaymentGateway
from runtime.client import connect, payment_gateway
from runtime.settings import Settings
from services.account import AccountService
from services.ops import OpsService
from services.quotes import QuoteService
from services.subscriptions import SubscriptionService
from store.pool import Pool, open_pool


@dataclass
class App:
    settings: Settings
    pool: Pool
    client: Client
    gateway: PaymentGateway
    quotes: QuoteService
    subscriptions: SubscriptionService
    ops: OpsService

    @property
    def links(self) -> LinkSigner:
        return LinkSigner(self.settings.require_link_secrets())

    @property
    def account(self) -> AccountService:
        """The buyer's account (R24): needs the link secrets, so only the web app builds it."""
        return AccountService(
            self.client,
            self.pool,
            self.settings.temporal_task_queue,
            self.quotes,
            self.subscriptions,
            self.links,
            today=self.quotes.today,
        )


@asynccontextmanager
async def open_app(
    settings: Settings | None = None,
    *,
    pool: Pool | None = None,
    client: Client | None = None,
    pool_size: int = 10,
    today: date | None = None,
    wait_for_store: bool = True,
) -> AsyncIterator[App]:
    """The application from the environment (and var/dev.env); a pool or a client given is used, not
    opened (the dev stack and tests bring their own). The client connects on its first call, so commands
    that only read the store work while Temporal is down."""
    settings = settings or Settings.load()
    async with AsyncExitStack() as stack:
        if pool is None:
            pool = await stack.enter_async_context(
                open_pool(settings.require_database_url(), max_size=pool_size, wait=wait_for_store)
            )
        if client is None:
            client = await connect(settings, lazy=True)
        queue = settings.temporal_task_queue
        gateway = payment_gateway(settings, pool)
        yield App(
            settings=settings,
            pool=pool,
            client=client,
            gateway=gateway,
            quotes=QuoteService(
                client,
                pool,
                queue,
                today=today,
                webhooks=list(settings.webhook_receivers()),
                payment_wait=timedelta(seconds=settings.payment_wait_seconds),
                reminder_days=settings.reminder_days(),
            ),
            subscriptions=SubscriptionService(client, pool, queue),
            ops=OpsService(client, pool, gateway),
        )
