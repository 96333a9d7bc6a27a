"""Temporal client and worker construction, shared by `renewals worker`, `renewals dev` and tests."""

import asyncio
import logging
from collections.abc import Sequence
from datetime import timedelta

from temporalio.client import Client
from temporalio.worker import Interceptor, UnsandboxedWorkflowRunner, Worker
from temporalio.worker.workflow_sandbox import SandboxedWorkflowRunner, SandboxRestrictions

from activities.answer_email import AnswerEmailActivities
from activities.calendar import CalendarActivities
from activities.email import EmailActivities, Mailer, SmtpSettings
from activities.payments import PaymentActivities
from activities.pricing import PricingActivities
from activities.quotes import QuoteMessageActivities, QuoteStoreActivities
from activities.retention import RetentionActivities
from activities.stack import StackActivities
from activities.subscriptions import SubscriptionActivities
from activities.webhooks import WebhookActivities
from contracts import subscription as calendar_contract
from domain.links import LinkSigner
from payments.gateway import PaymentGateway
from runtime.client import payment_gateway
from runtime.interceptors import BusinessFailures
from runtime.local_retries import LocalRetries
from runtime.logs import quiet_business_outcomes
from runtime.settings import Settings
from services.quotes import QuoteService
from store.pool import Pool
from workflows.quote import QuoteWorkflow
from workflows.retention import RetentionWorkflow
from workflows.sign_in import SignInEmailWorkflow
from workflows.stack_check import StackCheckWorkflow
from workflows.subscription import SubscriptionWorkflow

WORKFLOWS = [QuoteWorkflow, SubscriptionWorkflow, StackCheckWorkflow, SignInEmailWorkflow, RetentionWorkflow]
log = logging.getLogger("renewals.worker")


def activities(client: Client, pool: Pool, settings: Settings, gateway: PaymentGateway | None = None) -> list:
    """Every activity, bound to this process's clients; tests build them with other settings."""
    mailer = Mailer(
        pool,
        SmtpSettings(
            host=settings.smtp_host,
            port=settings.smtp_port,
            mail_from=settings.mail_from,
            starttls=settings.smtp_starttls,
            ca_file=settings.smtp_ca_file,
            username=settings.smtp_username,
            password=settings.smtp_password,
        ),
    )
    stack = StackActivities(pool)
    pricing = PricingActivities(pool)
    store = QuoteStoreActivities(pool)
    messages = QuoteMessageActivities(client, pool)
    email = EmailActivities(
        mailer, LinkSigner(settings.require_link_secrets()), settings.buyer_app_url, settings.bank_account()
    )
    answers = AnswerEmailActivities(mailer, settings.sales_email, settings.buyer_app_url)
    subscriptions = SubscriptionActivities(client, pool)
    receivers = settings.webhook_receivers()
    quotes = QuoteService(
        client,
        pool,
        settings.temporal_task_queue,
        webhooks=list(receivers),
        payment_wait=timedelta(seconds=settings.payment_wait_seconds),
        reminder_days=settings.reminder_days(),
    )
    calendar = CalendarActivities(pool, mailer, quotes.create_auto)
    payments = PaymentActivities(gateway or payment_gateway(settings, pool), pool)
    webhooks = WebhookActivities(receivers, settings.require_webhook_secret())
    return [
        stack.count_catalog,
        RetentionActivities(pool).purge_accounts,
        pricing.price_quote,
        store.save_quote,
        messages.replace_original,
        email.send_quote_emails,
        email.send_sign_in_email,
        answers.send_answer_email,
        subscriptions.attach_quote,
        subscriptions.detach_quote,
        subscriptions.reserve_terms,
        subscriptions.release_terms,
        subscriptions.renew_terms,
        subscriptions.create_subscription,
        payments.take_payment,
        payments.find_payment,
        payments.refund_payment,
        calendar.auto_renew,
        calendar.send_renewal_email,
        calendar.record_auto_renew_failure,
        calendar.record_lapse,
        calendar.create_auto_quote,
        webhooks.webhook_receivers,
        webhooks.deliver_webhook,
    ]


# Deterministic libraries the workflows use, loaded once outside the sandbox.
def sandbox() -> SandboxedWorkflowRunner:
    """The sandbox still refuses non-deterministic calls (the clock, randomness, I/O) inside workflows, but
    imports no module again for each new workflow: every module is passed through. Our modules keep no
    mutable state at import, so sharing them is safe, and a new quote no longer pays for re-importing
    them (a sixth of the worker's time under load, measured by `make bench` and py-spy)."""
    return SandboxedWorkflowRunner(restrictions=SandboxRestrictions.default.with_passthrough_all_modules())


async def stop_worker(worker: "Worker | Workers", running: asyncio.Task, grace: float) -> None:
    """Stop polling and give in-flight work `grace` seconds, then stop waiting. A local activity that waits
    on a calendar this worker no longer polls would otherwise hold the shutdown for as long as it retries;
    what is cut short is run again by the server, on another worker or on this one's next start."""
    try:
        await asyncio.wait_for(asyncio.shield(worker.shutdown()), grace + 5)
    except TimeoutError:
        log.warning("the worker did not stop within %.0fs; leaving what is in flight to the server", grace + 5)
        running.cancel()
    await asyncio.gather(running, return_exceptions=True)


class Workers:
    """One worker per task queue this process polls (WORKER_QUEUES): the quotes' and the calendars'. Each
    has its own slots, so a burst of calendar work never takes the slots a buyer's quote needs."""

    def __init__(self, workers: dict[str, Worker], local_retries: LocalRetries | None = None) -> None:
        self.workers = workers
        self.local_retries = local_retries

    async def run(self) -> None:
        runs = [asyncio.create_task(worker.run()) for worker in self.workers.values()]
        try:
            await asyncio.gather(*runs)
        finally:
            for run in runs:
                run.cancel()
            await asyncio.gather(*runs, return_exceptions=True)

    async def shutdown(self) -> None:
        if self.local_retries is not None:
            await self.local_retries.settled()  # no Rust panic after "stopping" (runtime/local_retries.py)
        await asyncio.gather(*(worker.shutdown() for worker in self.workers.values()))

    async def __aenter__(self) -> "Workers":
        for worker in self.workers.values():
            await worker.__aenter__()
        return self

    async def __aexit__(self, *exc) -> None:
        await asyncio.gather(*(worker.__aexit__(*exc) for worker in self.workers.values()))


def build_worker(
    client: Client,
    pool: Pool,
    settings: Settings,
    gateway: PaymentGateway | None = None,
    interceptors: Sequence[Interceptor] = (),
    **options,
) -> Workers:
    """Shutdown stops polling at once and gives in-flight activities WORKER_SHUTDOWN_GRACE seconds.
    `interceptors` come after the one that makes business failures non-retryable. Every queue's worker
    knows every workflow and activity (one set of clients), so any of them can run any task it gets. A business
    outcome an activity ends with is logged as one INFO line, not as a crash (runtime/logs.py)."""
    quiet_business_outcomes()
    bound = activities(client, pool, settings, gateway)
    polled = settings.queues()
    # WORKER_MAX_CACHED_WORKFLOWS is the process's: shared by the queues it polls.
    cache = max(1, settings.worker_max_cached_workflows // len(polled))
    queues = {
        "quotes": settings.temporal_task_queue,
        "calendars": calendar_contract.task_queue(settings.temporal_task_queue),
    }
    local_retries = LocalRetries()
    return Workers(
        {
            name: Worker(
                client,
                task_queue=queues[name],
                workflows=WORKFLOWS,
                activities=bound,
                workflow_runner=sandbox() if settings.worker_sandbox else UnsandboxedWorkflowRunner(),
                graceful_shutdown_timeout=timedelta(seconds=settings.worker_shutdown_grace),
                max_concurrent_activities=settings.worker_max_concurrent_activities,
                max_concurrent_workflow_tasks=settings.worker_max_concurrent_workflow_tasks,
                max_cached_workflows=cache,
                interceptors=[local_retries, BusinessFailures(), *interceptors],  # it sees what the core is told
                **options,
            )
            for name in polled
        },
        local_retries,
    )
