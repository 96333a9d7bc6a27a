"""R18: what a load may change of a subscription this system already has.

The source system owns customer details, product, offering, partner, prices and the auto-renew
switch while nothing holds it. The term is the system's own once it renewed or lapsed it: a file
with an earlier end date (a stale export) keeps the stored term; a later one (renewed elsewhere)
is adopted. Where this system renewed the term, a stale export's auto-renew switch is as old as its
end date: the stored one stays (a paid quote turned it back on, R03, after the export was made).
"""

from pydantic import BaseModel

from domain.models import Subscription


class Merged(BaseModel):
    subscription: Subscription
    kept: str | None = None
    renewed_elsewhere: bool = False


def merge_from_source(
    stored: Subscription | None,
    incoming: Subscription,
    *,
    held: bool,
    renewed_by: str | None = None,
    moved_here: bool = False,
) -> Merged:
    """The row to store: `incoming`, except what the system did since the source last knew. `moved_here`: the
    renewal that made the stored term moved it to another partner or currency (R25), which a stale export
    does not know of either."""
    if stored is None:
        return Merged(subscription=incoming)
    update = {}
    kept = None
    if incoming.end_date < stored.end_date:
        update = {"end_date": stored.end_date, "seats": stored.seats, "term": stored.term}
        if renewed_by:  # the export predates this system's renewal, and the switch it set then (R03)
            update["auto_renew"] = stored.auto_renew
        if renewed_by and moved_here:
            update |= {
                "partner_csn": stored.partner_csn,
                "purchase_method": stored.purchase_method,
                "currency": stored.currency,
            }
        how = f" ({renewed_by})" if renewed_by else ""
        kept = (
            f"the file ends it {incoming.end_date.isoformat()}, but it runs until "
            f"{stored.end_date.isoformat()}{how}; kept the stored term"
        )
    if held:
        update["auto_renew"] = stored.auto_renew
    return Merged(
        subscription=incoming.model_copy(update=update),
        kept=kept,
        renewed_elsewhere=incoming.end_date > stored.end_date,
    )
