"""purge_accounts (R24): delete the sign-in links and sessions that stopped working over `keep` ago."""

from datetime import UTC, datetime

from temporalio import activity

from contracts.retention import RetentionInput, RetentionResult
from store import accounts
from store.pool import Pool


class RetentionActivities:
    def __init__(self, pool: Pool) -> None:
        self.pool = pool

    @activity.defn
    async def purge_accounts(self, input: RetentionInput) -> RetentionResult:
        """Idempotent: what is deleted stays deleted; a second run deletes nothing more."""
        async with self.pool.connection() as conn:
            sign_ins, sessions = await accounts.purge(conn, datetime.now(UTC) - input.keep)
        activity.logger.info("deleted %d sign-in link(s) and %d session(s) that stopped working", sign_ins, sessions)
        return RetentionResult(sign_ins=sign_ins, sessions=sessions)
