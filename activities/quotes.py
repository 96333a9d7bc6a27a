"""Quote writes to PostgreSQL: snapshots by revision and the event log, and payments; all idempotent."""

from pydantic import BaseModel
from temporalio import activity

from domain.quotes import Quote
from store import payments
from store import quotes as store
from store.pool import Pool


class SaveQuoteInput(BaseModel):
    quote: Quote
    event: str
    detail: dict = {}
    earlier_events: list[str] = []


class SaveQuoteResult(BaseModel):
    written: bool


class RecordPaymentInput(BaseModel):
    quote: Quote
    reference: str


class RecordPaymentResult(BaseModel):
    reference: str


class QuoteStoreActivities:
    def __init__(self, pool: Pool) -> None:
        self.pool = pool

    @activity.defn
    async def save_quote(self, input: SaveQuoteInput) -> SaveQuoteResult:
        async with self.pool.connection() as conn:
            written = await store.save_quote(conn, input.quote, input.event, input.detail, tuple(input.earlier_events))
        activity.logger.info(
            "quote=%s event=%s state=%s revision=%s written=%s",
            input.quote.number,
            input.event,
            input.quote.state.value,
            input.quote.revision,
            written,
        )
        return SaveQuoteResult(written=written)

    @activity.defn
    async def record_payment(self, input: RecordPaymentInput) -> RecordPaymentResult:
        """Kept for quotes paid before PaymentActivities.take_payment existed."""
        async with self.pool.connection() as conn:
            reference = await payments.record_payment(
                conn, input.quote.number, input.reference, input.quote.total, input.quote.currency
            )
        return RecordPaymentResult(reference=reference)
