"""The charge step of a quote's payment (R16, R20): take, find and refund, once per quote.

The gateway's idempotency key is `quote-<number>`, so a retried activity never charges twice. A
provider that is down (ProviderUnavailable) is retried, for as long as it is down; a payment method that
cannot be a provider's token (a NUL, a control character) is declined at once, never sent. A charge whose
answer was lost (OutcomeUnknown) is not guessed at: the quote's payment is pending, and the workflow
asks the provider by the key (`find_payment`) until it knows. A payment row is written only once the
money is taken (or an offline payment is recorded).
"""

from datetime import UTC, datetime
from decimal import Decimal

from pydantic import BaseModel
from temporalio import activity

from contracts.failures import Failure, failure
from domain.invoices import credit_note_of, invoice_of
from domain.quotes import Quote
from payments.gateway import (
    ActionRequired,
    CardDeclined,
    Charge,
    ChargeRequest,
    OutcomeUnknown,
    PaymentGateway,
    PaymentPending,
    idempotency_key,
    well_formed_token,
)
from store import payments as store
from store.catalog import get_customer, get_vendor
from store.invoices import invoice_of as invoice_of_quote
from store.invoices import issue
from store.pool import Pool


class TakePaymentInput(BaseModel):
    quote_number: str
    amount: Decimal
    currency: str
    payment_method: str | None = None
    reference: str | None = None
    by: str | None = None  # who recorded an offline payment (`api:<key name>`), when known
    quote: Quote | None = None  # R28: the quote as it is paid, which its invoice states


class TakePaymentResult(BaseModel):
    reference: str
    method: str


class FindPaymentInput(BaseModel):
    quote_number: str
    amount: Decimal
    currency: str
    quote: Quote | None = None  # R28: what its invoice states


class FindPaymentResult(BaseModel):
    """The provider's answer by key: charged (and recorded), or not."""

    charged: bool
    reference: str | None = None


class RefundPaymentInput(BaseModel):
    quote_number: str
    key_only: bool = False  # only a card charge under the key: an offline payment recorded is left as it is


class RefundPaymentResult(BaseModel):
    """`refunded`: the provider confirms the charge went back (now or before); False when it never had one.
    `offline`: the payment was recorded, not charged: a person returns it (the audit shows it until then)."""

    refunded: bool
    offline: bool = False


class RefundNotConfirmed(Exception):
    """The provider still shows the charge: the refund is asked again (an outage, retried)."""


class PaymentActivities:
    def __init__(self, gateway: PaymentGateway, pool: Pool) -> None:
        self.gateway = gateway
        self.pool = pool

    @activity.defn
    async def take_payment(self, input: TakePaymentInput) -> TakePaymentResult:
        """A card token is charged at the gateway; without one, an offline payment is recorded."""
        if not input.payment_method:
            reference = input.reference or f"PAY-{input.quote_number}"
            kept = await self._record(input, reference, "offline", input.by)
            return TakePaymentResult(reference=kept, method="offline")
        if not well_formed_token(input.payment_method):
            # Bad data, the same at every attempt: declined at once, never sent to the provider, never retried.
            raise failure(Failure.DECLINED, "the payment details are not valid; enter your card again") from None
        key = idempotency_key(input.quote_number)
        try:
            charge = await self.gateway.charge(
                ChargeRequest(
                    idempotency_key=key,
                    payment_method=input.payment_method,
                    amount=input.amount,
                    currency=input.currency,
                )
            )
        except CardDeclined as err:
            raise failure(Failure.DECLINED, str(err)) from None
        except ActionRequired as err:  # not decided until the buyer authenticates: the page sends them there
            raise failure(Failure.AUTHENTICATE, str(err), err.url) from None
        except OutcomeUnknown as err:
            raise failure(Failure.CHARGE_UNKNOWN, str(err)) from None
        _check_refunded(charge, key)
        return TakePaymentResult(reference=await self._record_taken(input, charge.id), method="card")

    @activity.defn
    async def find_payment(self, input: FindPaymentInput) -> FindPaymentResult:
        """R20: whether the charge whose answer was lost was taken; recorded if it was. A provider that has not
        decided yet (the buyer authenticating) is asked again later, not retried at once."""
        try:
            charge = await self.gateway.find(idempotency_key(input.quote_number))
        except PaymentPending as err:
            raise failure(Failure.CHARGE_UNKNOWN, str(err)) from None
        if charge is None or charge.refunded:
            return FindPaymentResult(charged=False)
        reference = await self._record_taken(input, charge.id)
        return FindPaymentResult(charged=True, reference=reference)

    @activity.defn
    async def refund_payment(self, input: RefundPaymentInput) -> RefundPaymentResult:
        """Money taken for a quote that will not renew goes back, once: by key at the provider, and the payment
        row marked only once the provider shows the charge refunded (R20). An offline payment is not the
        provider's to return: it stays recorded as held."""
        key = idempotency_key(input.quote_number)
        async with self.pool.connection() as conn:
            recorded = await store.payment_of(conn, input.quote_number)
        offline = recorded is not None and recorded["method"] == "offline"
        if recorded is not None and offline and not input.key_only:
            activity.logger.info("quote=%s refund offline=%s", input.quote_number, recorded["reference"])
            return RefundPaymentResult(refunded=False, offline=True)
        await self.gateway.refund(key)
        charge = await self.gateway.find(key)
        if charge is None:
            return RefundPaymentResult(refunded=False)
        if not charge.refunded:
            raise RefundNotConfirmed(f"the provider still shows {charge.id} for {key} not refunded")
        if not offline:  # the row is the card's: it says refunded now, with its credit note (R28)
            async with self.pool.connection() as conn, conn.transaction():
                await store.mark_refunded(conn, input.quote_number)
                invoiced = await invoice_of_quote(conn, input.quote_number)
                if invoiced is not None:
                    await issue(conn, credit_note_of(invoiced, datetime.now(UTC)))
        activity.logger.info("quote=%s refunded charge=%s", input.quote_number, charge.id)
        return RefundPaymentResult(refunded=True)

    async def _record_taken(self, input: TakePaymentInput | FindPaymentInput, charge_id: str) -> str:
        """The provider took the money: its record is retried until written, never a business failure (a
        failure here must never tell the buyer that nothing was charged)."""
        try:
            return await self._record(input, charge_id, "card")
        except Exception as err:
            raise RecordNotWritten(
                f"{input.quote_number} was charged ({charge_id}); recording it failed: {err}"
            ) from err

    async def _record(
        self, input: TakePaymentInput | FindPaymentInput, reference: str, method: str, by: str | None = None
    ) -> str:
        """The payment row and, in the same transaction, the quote's invoice with the next number of the year
        (R28): both or neither, once per quote whatever the retries."""
        async with self.pool.connection() as conn, conn.transaction():
            kept = await store.record_payment(
                conn, input.quote_number, reference, input.amount, input.currency, method, by
            )
            invoice = None
            if input.quote is not None:
                customer = await get_customer(conn, input.quote.csn)
                draft = invoice_of(input.quote, await get_vendor(conn), customer, datetime.now(UTC), kept)
                invoice = (await issue(conn, draft)).number
        activity.logger.info("quote=%s paid method=%s reference=%s", input.quote_number, method, kept)
        if invoice is not None:
            activity.logger.info("quote=%s invoice=%s", input.quote_number, invoice)
        return kept


class RecordNotWritten(Exception):
    """Money taken whose payment row could not be written yet: retried (an outage), never given up."""


def _check_refunded(charge: Charge, key: str) -> None:
    """R20: a key whose charge was refunded pays for nothing again (the provider returns the old charge)."""
    if charge.refunded:
        raise failure(
            Failure.CHARGE_REFUNDED, f"the earlier payment with {key} was refunded; this quote cannot be paid again"
        )
