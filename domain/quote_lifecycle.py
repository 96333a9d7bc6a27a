"""What each action needs of a quote as it is now (Lifecycle, R01, R10, R15): plain functions of the
quote and the time, refusing with the rule. QuoteWorkflow's validators call them, so a refused action
never enters history, and its handlers call them again once they hold the quote's lock."""

from datetime import datetime, timedelta
from typing import Literal

from domain.errors import Refused
from domain.quote_rules import DraftEdit, check_exclusions, check_line_changes, check_recipients
from domain.quotes import ANSWERS_MAX, Quote, QuoteLine, QuoteState, check_answer_message

CancelledBy = Literal["partner", "sales", "buyer"]
# R15: how far an extension may take a new purchase's quote, which has no renewal window to close.
EXTEND_AT_MOST = timedelta(days=90)


def check_state(quote: Quote, allowed: tuple[QuoteState, ...], action: str) -> None:
    """Only a quote in one of `allowed` may be `action`; an ended one says how it ended."""
    if quote.state in allowed:
        return
    if quote.state.terminal:
        raise Refused(*quote.ended_refusal(action))
    names = " or ".join(s.value for s in allowed)
    article = "an" if names[0] in "aeiou" else "a"
    raise Refused(
        "lifecycle", f"quote {quote.number} is {quote.state.value}; only {article} {names} quote can be {action}"
    )


def check_not_expired(quote: Quote, now: datetime) -> None:
    """R15: past its expiry a quote takes no action, even before its timer has fired."""
    if quote.expires_at is not None and now >= quote.expires_at:
        raise Refused("R15", f"quote {quote.number} expired at {quote.expires_at.isoformat()}; ask for a new quote")


def check_no_payment_pending(quote: Quote) -> None:
    """R20: while a payment's outcome is being confirmed, no other payment is taken and nothing ends it."""
    if quote.payment == "pending":
        raise Refused(
            "R20",
            f"the payment of quote {quote.number} is being confirmed with the provider; "
            "no other payment can be taken until it is known",
        )


def check_send(quote: Quote, now: datetime) -> None:
    check_state(quote, (QuoteState.DRAFT,), "sent")
    check_not_expired(quote, now)
    if quote.pricing_error:
        raise Refused("R15", f"quote {quote.number} cannot be sent: {quote.pricing_error}")
    if quote.expiry_for(now) <= now:
        raise Refused("R01", f"the renewal window of a subscription on {quote.number} has closed")


def check_accept(quote: Quote, now: datetime, pay: bool) -> None:
    """Accept a sent quote; accept and pay also an accepted one (the buyer trying again)."""
    allowed = (QuoteState.SENT, QuoteState.ACCEPTED) if pay else (QuoteState.SENT,)
    check_state(quote, allowed, "paid" if pay else "accepted")
    check_no_payment_pending(quote)
    check_not_expired(quote, now)


def check_answer(quote: Quote, now: datetime, kind: str, reason: object, message: str) -> str:
    """R26: a sent or accepted quote, not expired, may be answered: changes asked for with a message, or
    declined with a reason and a message. Returns the message as kept."""
    if quote.state not in (QuoteState.SENT, QuoteState.ACCEPTED):
        if quote.state.terminal:
            raise Refused(*quote.ended_refusal("answered"))
        raise Refused("R26", f"quote {quote.number} is a draft; only a sent or accepted quote can be answered")
    check_not_expired(quote, now)
    if kind == "declined" and reason is None:
        raise Refused("R26", "a decline gives its reason: price, not-needed, other-supplier, wrong-details or other")
    if kind == "changes_requested" and reason is not None:
        raise Refused("R26", "a reason goes with a decline; a request for changes says what should change")
    if len(quote.answers) >= ANSWERS_MAX:
        raise Refused(
            "R26", f"quote {quote.number} has {ANSWERS_MAX} answers already; please contact your partner or sales"
        )
    return check_answer_message(message)


def check_extend(quote: Quote, now: datetime, until: datetime) -> None:
    """R15: a sent or accepted quote's expiry may move later, never past the window close of its
    earliest-ending subscription (R01)."""
    check_state(quote, (QuoteState.SENT, QuoteState.ACCEPTED), "extended")
    check_no_payment_pending(quote)
    check_not_expired(quote, now)
    assert quote.expires_at is not None
    if until <= quote.expires_at:
        raise Refused(
            "R15",
            f"quote {quote.number} is valid until {quote.expires_at.date().isoformat()} already; "
            "an extension moves the expiry later",
        )
    closes = quote.latest_expiry()
    latest = closes or now + EXTEND_AT_MOST  # a new purchase has no window: at most 90 days from now
    if until > latest:
        last_day = (latest - timedelta(days=1)).date().isoformat()
        why = (
            "when the renewal window of its earliest-ending subscription closes (R01)"
            if closes
            else f"{EXTEND_AT_MOST.days} days from now"
        )
        raise Refused("R15", f"quote {quote.number} can be valid until {last_day} at the latest, {why}")


def check_resend(quote: Quote, now: datetime, to: list[str] | None) -> list[str]:
    """A sent or accepted quote's email again, to every recipient or some of them (each one of its own)."""
    check_state(quote, (QuoteState.SENT, QuoteState.ACCEPTED), "sent again")
    check_not_expired(quote, now)
    if not to:
        return quote.all_recipients
    known = {r.lower(): r for r in quote.all_recipients}
    unknown = [address for address in to if address.strip().lower() not in known]
    if unknown:
        raise Refused(
            "R04",
            f"{', '.join(unknown[:3])} is not a recipient of quote {quote.number}; "
            "a revision (R23) changes the recipients",
        )
    return list(dict.fromkeys(known[address.strip().lower()] for address in to))


def check_pay(quote: Quote, now: datetime) -> None:
    check_state(quote, (QuoteState.ACCEPTED,), "paid")
    check_no_payment_pending(quote)
    check_not_expired(quote, now)


def check_cancel(quote: Quote, by: CancelledBy) -> None:
    """R10: partners and sales cancel; a buyer lets a quote expire."""
    if by == "buyer":
        raise Refused("R10", "a buyer cannot cancel a quote; ask your partner or sales to cancel it")
    check_state(quote, (QuoteState.DRAFT, QuoteState.SENT, QuoteState.ACCEPTED), "cancelled")
    check_no_payment_pending(quote)


def check_edit(quote: Quote, now: datetime, edit: DraftEdit) -> list[QuoteLine]:
    """R04, R10: what a draft may become; returns the lines it keeps."""
    if quote.state is not QuoteState.DRAFT and edit.address is not None:
        raise Refused("R10", f"the address cannot change after quote {quote.number} was sent; make a new quote")
    check_state(quote, (QuoteState.DRAFT,), "edited")
    check_not_expired(quote, now)
    if edit.recipients is not None:
        check_recipients(edit.recipients, quote.buyer_email)
    kept = check_exclusions(quote.lines, edit.exclude)
    check_line_changes(quote.origin, kept, edit.seats, edit.terms)
    return kept
