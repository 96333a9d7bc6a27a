"""R23: partner and sales revise a sent quote instead of cancelling and retyping it. A revision is a new
draft with the original's lines and recipients and the changes given; sending it cancels the original
(QuoteWorkflow), and the auto-renew hold the original took passes to it."""

from datetime import date
from typing import Annotated

from pydantic import BaseModel, Field

from domain.errors import Refused
from domain.models import MAX_LINES, Address, QuoteKind, Seats, SubscriptionId, Term
from domain.quote_lifecycle import check_state
from domain.quote_rules import Lines, NewLine, QuoteRequest, Recipient
from domain.quotes import Origin, Quote, QuoteState


class Revision(BaseModel):
    """`renewals quote revise NUMBER`'s options, as `quote create`'s: what is not given is the original's."""

    subscription_ids: Lines = []  # lines added
    new_lines: Annotated[list[NewLine], Field(max_length=MAX_LINES)] = []
    exclude: Lines = []
    seats: dict[SubscriptionId, Seats] = {}
    terms: dict[SubscriptionId, Term] = {}
    recipients: Annotated[list[Recipient], Field(max_length=MAX_LINES)] | None = None
    origin: Origin | None = None  # who revises; the original's origin if not given
    pause_auto_renew: bool = False
    address: Address | None = None
    start_date: date | None = None


def co_term_anchors(original: Quote, subscriptions: list) -> list[str]:
    """The customer's subscriptions a co-term quote aligns to: same currency and purchase, ending on the
    date its lines move to."""
    ends = {line.co_term_end_date for line in original.lines if line.co_term_end_date}
    lines = {line.subscription_id for line in original.lines}
    return [
        s.id
        for s in subscriptions
        if s.end_date in ends
        and s.id not in lines
        and s.currency == (original.from_currency or original.currency)
        and s.purchase_method == original.purchase_method
        and s.partner_csn == original.partner_csn
    ]


def check_send_revision(revision: Quote, original: Quote | None) -> None:
    """R23: a revision replaces a sent quote; once the buyer accepted the original (or it ended), sending
    the revision would take that away: refused, with what to do instead."""
    if original is None or original.state is QuoteState.SENT:
        return
    raise Refused(
        "R23",
        f"quote {original.number}, which {revision.number} revises, is {original.state.value} now; "
        f"cancel {revision.number}, or cancel {original.number} first",
    )


def check_revise(original: Quote, origin: Origin, open_revisions: list[str]) -> None:
    """A buyer cannot revise (R10); only a sent quote is revised, and by one open revision at a time."""
    if origin is Origin.SELF_SERVICE:
        raise Refused(
            "R10",
            f"a buyer cannot revise quote {original.number}; ask your partner or sales for a revision, "
            "or make a new quote",
        )
    check_state(original, (QuoteState.SENT,), "revised")
    if open_revisions:
        raise Refused(
            "R23",
            f"quote {original.number} already has an open revision, {open_revisions[0]}; send or cancel it first",
        )


def revision_request(
    original: Quote, revision: Revision, customer_address: str, anchors: list[str] | None = None
) -> QuoteRequest:
    """The original's request with the changes applied. Its hold on auto-renew passes on (R02): a
    revision holds whatever the original held. A co-term quote's lines are the subscriptions that move:
    `anchors` are the ones they align to (the latest end date), which are not lines of it."""
    renewed = [line for line in original.lines if line.subscription_id and line.subscription_id not in revision.exclude]
    changes_lines = original.kind is not QuoteKind.CO_TERM
    address = original.address if original.address != customer_address else None
    return QuoteRequest(
        csn=original.csn,
        subscription_ids=list(
            dict.fromkeys(
                [
                    *(line.subscription_id for line in original.lines if line.subscription_id),
                    *(anchors or [] if original.kind is QuoteKind.CO_TERM else []),
                    *revision.subscription_ids,
                ]
            )
        ),
        new_lines=[
            *(
                NewLine(product=line.product, seats=line.seats, term=line.term)
                for line in original.lines
                if line.subscription_id is None
            ),
            *revision.new_lines,
        ],
        exclude=revision.exclude,
        seats=({line.subscription_id: line.seats for line in renewed} | revision.seats) if changes_lines else {},
        terms=({line.subscription_id: line.term for line in renewed} | revision.terms) if changes_lines else {},
        recipients=original.recipients if revision.recipients is None else revision.recipients,
        origin=revision.origin or original.origin,
        kind=original.kind,
        pause_auto_renew=revision.pause_auto_renew or original.holds_auto_renew,
        address=revision.address or address,
        currency=original.currency if original.kind is QuoteKind.NEW or original.from_currency else None,
        start_date=revision.start_date or original.start_date,
        partner_csn=original.partner_csn if original.kind is QuoteKind.NEW else None,
        new_partner_csn=original.new_partner_csn,  # R25: the move to another partner stays with the revision
    )
