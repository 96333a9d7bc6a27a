"""Quote writes to PostgreSQL: snapshots by revision and the event log; idempotent."""

from pydantic import BaseModel
from temporalio import activity

from domain.quotes import Quote
from store import quotes as store
from store.pool import Pool


class SaveQuoteInput(BaseModel):
    quote: Quote
    event: str
    detail: dict = {}
    earlier_events: list[str] = []


class SaveQuoteResult(BaseModel):
    written: bool


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
