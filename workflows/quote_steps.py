"""Each of a quote's steps as one typed activity call: pricing and store writes, the calendar calls of
the payment saga (R16), the charge, find and refund, and the emails. Each waits out an outage and ends
only on a business failure (workflows/steps.py). QuoteWorkflow (workflows/quote.py) decides when each
runs; this module is how."""

import asyncio
from datetime import date, timedelta

from temporalio import workflow

with workflow.unsafe.imports_passed_through():
    from activities.email import EmailActivities, Purpose, SendQuoteEmailsInput
    from activities.payments import (
        FindPaymentInput,
        FindPaymentResult,
        PaymentActivities,
        RefundPaymentInput,
        TakePaymentInput,
        TakePaymentResult,
    )
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
    from contracts.subscription import Owner
    from domain.quotes import Quote, QuoteLine
    from workflows.steps import OUTAGE, step

CHARGE_TIMEOUT = timedelta(seconds=30)


def terms_of(quote: Quote) -> list[TermRef]:
    """The terms a payment reserves: one per line that renews an existing subscription."""
    return [TermRef(subscription_id=line.subscription_id, term_end=line.end_date) for line in quote.renewal_lines]


async def price(quote: Quote, on: date) -> PriceQuoteResult:
    return await step(
        PricingActivities.price_quote,
        PriceQuoteInput(currency=quote.currency, kind=quote.kind, lines=quote.lines, on=on),
    )


async def save(quote: Quote, event: str, detail: dict, earlier: list[str]) -> None:
    await step(
        QuoteStoreActivities.save_quote,
        SaveQuoteInput(quote=quote, event=event, detail=detail, earlier_events=earlier),
    )


async def attach(quote: Quote, subscription_ids: list[str], hold: bool) -> None:
    await asyncio.gather(
        *(
            step(
                SubscriptionActivities.attach_quote,
                AttachQuoteInput(subscription_id=sub, quote_number=quote.number, hold=hold),
            )
            for sub in subscription_ids
        )
    )


async def detach(quote: Quote, subscription_ids: list[str], paid: bool) -> None:
    await asyncio.gather(
        *(
            step(
                SubscriptionActivities.detach_quote,
                DetachQuoteInput(subscription_id=sub, quote_number=quote.number, paid=paid),
            )
            for sub in subscription_ids
        )
    )


async def reserve(quote: Quote, terms: list[TermRef]) -> ReserveTermsResult:
    """Each term granted to this quote, as long as its customer still owns it (R21)."""
    return await step(
        SubscriptionActivities.reserve_terms,
        TermsInput(quote_number=quote.number, terms=terms, owner=Owner.of(quote)),
    )


async def release(quote: Quote, terms: list[TermRef]) -> None:
    if terms:
        await step(
            SubscriptionActivities.release_terms,
            TermsInput(quote_number=quote.number, terms=terms),
        )


async def charge(quote: Quote, payment: PayInput) -> TakePaymentResult:
    """Once per quote (idempotency key quote-<number>): a card token, or an offline payment's reference."""
    return await step(
        PaymentActivities.take_payment,
        TakePaymentInput(
            quote_number=quote.number,
            amount=quote.total,
            currency=quote.currency,
            payment_method=payment.payment_method,
            reference=payment.payment_reference,
            by=payment.by,
        ),
        timeout=CHARGE_TIMEOUT,
    )


async def find(quote: Quote) -> FindPaymentResult:
    """R20: whether a charge whose answer was lost was taken; asked until the provider answers."""
    return await step(
        PaymentActivities.find_payment,
        FindPaymentInput(quote_number=quote.number, amount=quote.total, currency=quote.currency),
        timeout=CHARGE_TIMEOUT,
    )


async def refund(quote: Quote) -> None:
    await step(
        PaymentActivities.refund_payment,
        RefundPaymentInput(quote_number=quote.number),
        timeout=CHARGE_TIMEOUT,
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
    return await step(
        SubscriptionActivities.renew_terms,
        RenewTermsInput(quote_number=quote.number, renewals=renewals),
    )


async def create_subscription(quote: Quote, line_no: int, line: QuoteLine, start: date) -> CreateSubscriptionResult:
    """A paid new purchase becomes a subscription, its id fixed by quote and line."""
    return await step(
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
    )


def send_emails(quote: Quote, purpose: Purpose, days_left: int | None = None) -> "asyncio.Task[object]":
    """Every recipient's email of one purpose, by one regular activity, in the background: an SMTP
    outage never blocks the buyer's next step, and the email waits for the server to come back."""
    return asyncio.create_task(
        workflow.execute_activity_method(
            EmailActivities.send_quote_emails,
            SendQuoteEmailsInput(quote=quote, recipients=quote.all_recipients, purpose=purpose, days_left=days_left),
            start_to_close_timeout=timedelta(seconds=30),
            retry_policy=OUTAGE,
        )
    )
