"""Each of a quote's steps as one typed activity call with its time limits: pricing and store writes,
the calendar calls of the payment saga (R16), the charge and refund, and the emails. QuoteWorkflow
(workflows/quote.py) decides when each runs; this module is how."""

import asyncio
from datetime import date, timedelta

from temporalio import workflow
from temporalio.common import RetryPolicy

with workflow.unsafe.imports_passed_through():
    from activities.email import EmailActivities, Purpose, SendQuoteEmailsInput
    from activities.payments import PaymentActivities, RefundPaymentInput, TakePaymentInput, TakePaymentResult
    from activities.pricing import PriceQuoteInput, PriceQuoteResult, PricingActivities
    from activities.quotes import QuoteStoreActivities, SaveQuoteInput
    from activities.subscriptions import (
        AttachQuoteInput,
        CreateSubscriptionInput,
        CreateSubscriptionResult,
        DetachQuoteInput,
        RenewTermsInput,
        RenewTermsResult,
        ReserveTermsResult,
        SubscriptionActivities,
        TermRef,
        TermRenewal,
        TermsInput,
    )
    from contracts.quote import PayInput
    from domain.quotes import Quote, QuoteLine
    from workflows.steps import local

EMAIL_RETRY = RetryPolicy(initial_interval=timedelta(seconds=2), maximum_interval=timedelta(minutes=5))
EMAIL_DEADLINE = timedelta(days=2)
# The buyer waits for the charge: a provider down for two minutes fails the payment, nothing retries on.
CHARGE_TIMEOUT = timedelta(seconds=30)
CHARGE_RETRY = RetryPolicy(initial_interval=timedelta(seconds=1), maximum_interval=timedelta(seconds=15))
CHARGE_DEADLINE = timedelta(minutes=2)
# Releasing and renewing reserved terms must happen: retried for a day, never forever.
TERMS_RETRY = RetryPolicy(initial_interval=timedelta(seconds=1), maximum_interval=timedelta(minutes=5))
TERMS_DEADLINE = timedelta(days=1)


def terms_of(quote: Quote) -> list[TermRef]:
    """The terms a payment reserves: one per line that renews an existing subscription."""
    return [TermRef(subscription_id=line.subscription_id, term_end=line.end_date) for line in quote.renewal_lines]


async def price(quote: Quote, on: date) -> PriceQuoteResult:
    return await local(
        PricingActivities.price_quote,
        PriceQuoteInput(currency=quote.currency, kind=quote.kind, lines=quote.lines, on=on),
    )


async def save(quote: Quote, event: str, detail: dict, earlier: list[str]) -> None:
    await local(
        QuoteStoreActivities.save_quote,
        SaveQuoteInput(quote=quote, event=event, detail=detail, earlier_events=earlier),
    )


async def attach(quote: Quote, subscription_ids: list[str], hold: bool) -> None:
    await asyncio.gather(
        *(
            local(
                SubscriptionActivities.attach_quote,
                AttachQuoteInput(subscription_id=sub, quote_number=quote.number, hold=hold),
            )
            for sub in subscription_ids
        )
    )


async def detach(quote: Quote, subscription_ids: list[str], paid: bool) -> None:
    await asyncio.gather(
        *(
            local(
                SubscriptionActivities.detach_quote,
                DetachQuoteInput(subscription_id=sub, quote_number=quote.number, paid=paid),
            )
            for sub in subscription_ids
        )
    )


async def reserve(quote: Quote, terms: list[TermRef]) -> ReserveTermsResult:
    return await local(
        SubscriptionActivities.reserve_terms,
        TermsInput(quote_number=quote.number, terms=terms),
        deadline=CHARGE_DEADLINE,
    )


async def release(quote: Quote, terms: list[TermRef]) -> None:
    if terms:
        await local(
            SubscriptionActivities.release_terms,
            TermsInput(quote_number=quote.number, terms=terms),
            deadline=TERMS_DEADLINE,
            retry=TERMS_RETRY,
        )


async def charge(quote: Quote, payment: PayInput) -> TakePaymentResult:
    """Once per quote (idempotency key quote-<number>): a card token, or an offline payment's reference."""
    return await local(
        PaymentActivities.take_payment,
        TakePaymentInput(
            quote_number=quote.number,
            amount=quote.total,
            currency=quote.currency,
            payment_method=payment.payment_method,
            reference=payment.payment_reference,
        ),
        timeout=CHARGE_TIMEOUT,
        deadline=CHARGE_DEADLINE,
        retry=CHARGE_RETRY,
    )


async def refund(quote: Quote) -> None:
    await local(
        PaymentActivities.refund_payment,
        RefundPaymentInput(quote_number=quote.number),
        timeout=CHARGE_TIMEOUT,
        deadline=TERMS_DEADLINE,
        retry=TERMS_RETRY,
    )


async def renew(quote: Quote) -> RenewTermsResult:
    """Each reserved term renewed at its calendar, and recorded once in the store."""
    renewals = [
        TermRenewal(
            subscription_id=line.subscription_id,
            term_end=line.end_date,
            to_end_date=line.new_end_date,
            seats=line.seats,
            term=line.term,
        )
        for line in quote.renewal_lines
    ]
    if not renewals:
        return RenewTermsResult(renewed={})
    return await local(
        SubscriptionActivities.renew_terms,
        RenewTermsInput(quote_number=quote.number, renewals=renewals),
        deadline=TERMS_DEADLINE,
        retry=TERMS_RETRY,
    )


async def create_subscription(quote: Quote, line_no: int, line: QuoteLine, start: date) -> CreateSubscriptionResult:
    """A paid new purchase becomes a subscription, its id fixed by quote and line."""
    return await local(
        SubscriptionActivities.create_subscription,
        CreateSubscriptionInput(
            quote_number=quote.number,
            line_no=line_no,
            csn=quote.csn,
            product=line.product,
            seats=line.seats,
            term=line.term,
            currency=quote.currency,
            start_date=start,
            purchase_method=quote.purchase_method,
            partner_csn=quote.partner_csn,
        ),
        deadline=TERMS_DEADLINE,
        retry=TERMS_RETRY,
    )


def send_emails(quote: Quote, purpose: Purpose) -> "asyncio.Task[object]":
    """Every recipient's email of one purpose, by one regular activity, in the background: an SMTP
    outage never blocks the buyer's next step."""
    return asyncio.create_task(
        workflow.execute_activity_method(
            EmailActivities.send_quote_emails,
            SendQuoteEmailsInput(quote=quote, recipients=quote.all_recipients, purpose=purpose),
            start_to_close_timeout=timedelta(seconds=30),
            schedule_to_close_timeout=EMAIL_DEADLINE,
            retry_policy=EMAIL_RETRY,
        )
    )
