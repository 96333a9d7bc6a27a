"""Quote writes to PostgreSQL: snapshots by revision and the event log; idempotent."""

from pydantic import BaseModel
from temporalio import activity
from temporalio.client import Client, WorkflowUpdateFailedError
from temporalio.service import RPCError, RPCStatusCode

from contracts import quote as quote_contract
from contracts.failures import message_of
from contracts.quote import ReplaceInput
from domain.quote_effects import Replaced
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


class ReplaceOriginalInput(BaseModel):
    original: str
    revision: str


class QuoteMessageActivities:
    """Messages from one quote's workflow to another's that need an answer (a workflow can only signal)."""

    def __init__(self, client: Client, pool: Pool) -> None:
        self.client = client
        self.pool = pool

    @activity.defn
    async def replace_original(self, input: ReplaceOriginalInput) -> Replaced:
        """R23: the original steps aside for its revision, or says why not (its buyer accepted it, it ended).
        An original whose workflow has ended is read from the store: replaced already by this revision, or not."""
        handle = self.client.get_workflow_handle(quote_contract.workflow_id(input.original))
        try:
            return await handle.execute_update(
                quote_contract.REPLACE, ReplaceInput(revision=input.revision), result_type=Replaced
            )
        except WorkflowUpdateFailedError as err:  # the original cannot go on, or refused: it stays as it is
            return Replaced(replaced=False, reason=f"quote {input.original}: {message_of(err.cause or err)}")
        except RPCError as err:
            if err.status != RPCStatusCode.NOT_FOUND:
                raise
        async with self.pool.connection() as conn:
            stored = await store.get_quote(conn, input.original)
        if stored is not None and stored.revised_by == input.revision:
            return Replaced(replaced=True)
        state = stored.state.value if stored else "unknown"
        return Replaced(
            replaced=False,
            reason=f"quote {input.original}, which {input.revision} revises, is {state} now; "
            f"cancel {input.revision}, or cancel {input.original} first",
        )
