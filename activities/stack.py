"""What the worker reaches: a round trip that proves worker and store answer."""

from pydantic import BaseModel
from temporalio import activity

from store.catalog import count_rows
from store.pool import Pool


class CountCatalogInput(BaseModel):
    pass


class CountCatalogResult(BaseModel):
    counts: dict[str, int]


class StackActivities:
    def __init__(self, pool: Pool) -> None:
        self.pool = pool

    @activity.defn
    async def count_catalog(self, input: CountCatalogInput) -> CountCatalogResult:
        async with self.pool.connection() as conn:
            return CountCatalogResult(counts=await count_rows(conn))
