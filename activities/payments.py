"""take_payment and refund_payment: the charge step of a quote's payment (R16), once per quote.

The gateway's idempotency key is `quote-<number>`, so a retried activity, or a second attempt
after a timeout whose outcome was unknown, never charges twice. A payment row is written only
after the money is taken (or an offline payment is recorded).
"""

from decimal import Decimal

from pydantic import BaseModel
from temporalio import activity
from temporalio.exceptions import ApplicationError

from payments.gateway import CardDeclined, ChargeRequest, PaymentGateway
from store import payments as store
from store.pool import Pool


def idempotency_key(quote_number: str) -> str:
    return f"quote-{quote_number}"


class TakePaymentInput(BaseModel):
    quote_number: str
    amount: Decimal
    currency: str
    payment_method: str | None = None
    reference: str | None = None


class TakePaymentResult(BaseModel):
    reference: str
    method: str


class RefundPaymentInput(BaseModel):
    quote_number: str


class RefundPaymentResult(BaseModel):
    refunded: bool


class PaymentActivities:
    def __init__(self, gateway: PaymentGateway, pool: Pool) -> None:
        self.gateway = gateway
        self.pool = pool

    @activity.defn
    async def take_payment(self, input: TakePaymentInput) -> TakePaymentResult:
        """A card token is charged at the gateway; without one, an offline payment is recorded."""
        if input.payment_method:
            try:
                charge = await self.gateway.charge(
                    ChargeRequest(
                        idempotency_key=idempotency_key(input.quote_number),
                        payment_method=input.payment_method,
                        amount=input.amount,
                        currency=input.currency,
                    )
                )
            except CardDeclined as err:
                raise ApplicationError(str(err), type="PaymentDeclined", non_retryable=True) from None
            reference, method = charge.id, "card"
        else:
            reference, method = input.reference or f"PAY-{input.quote_number}", "offline"
        async with self.pool.connection() as conn:
            reference = await store.record_payment(
                conn, input.quote_number, reference, input.amount, input.currency, method
            )
        activity.logger.info("quote=%s paid method=%s reference=%s", input.quote_number, method, reference)
        return TakePaymentResult(reference=reference, method=method)

    @activity.defn
    async def refund_payment(self, input: RefundPaymentInput) -> RefundPaymentResult:
        """After a charge whose outcome was never known, on a quote that ended unpaid: give it back."""
        refunded = await self.gateway.refund(idempotency_key(input.quote_number))
        async with self.pool.connection() as conn:
            await store.mark_refunded(conn, input.quote_number)
        activity.logger.info("quote=%s refund refunded=%s", input.quote_number, refunded)
        return RefundPaymentResult(refunded=refunded)
