"""What a quote may hold (R01, R04, R07-R10): checked before a quote exists, and on every draft edit."""

from datetime import date, datetime, timedelta
from typing import Annotated

from pydantic import BaseModel, EmailStr, Field, TypeAdapter, ValidationError

from domain.eligibility import in_window, window_closes, window_opens
from domain.errors import BadInput, Refused
from domain.models import (
    MAX_LINES,
    Address,
    Csn,
    Currency,
    Customer,
    Name,
    Offering,
    PurchaseMethod,
    QuoteKind,
    Seats,
    Subscription,
    SubscriptionId,
    Term,
)
from domain.quotes import Origin, Quote, QuoteLine, QuoteState

MAX_EXTRA_RECIPIENTS = 4
_email = TypeAdapter(EmailStr)


Recipient = Annotated[str, Field(max_length=254)]
Lines = Annotated[list[SubscriptionId], Field(max_length=MAX_LINES)]


class NewLine(BaseModel):
    """A new purchase on a `--kind new` quote."""

    product: Name
    seats: Seats
    term: Term


class QuoteRequest(BaseModel):
    """`renewals quote create`, as given; every number and text bounded (models.MAX_*)."""

    csn: Csn
    subscription_ids: Lines = []
    new_lines: Annotated[list[NewLine], Field(max_length=MAX_LINES)] = []
    exclude: Lines = []
    seats: dict[SubscriptionId, Seats] = {}
    terms: dict[SubscriptionId, Term] = {}
    recipients: Annotated[list[Recipient], Field(max_length=MAX_LINES)] = []
    origin: Origin = Origin.SELF_SERVICE
    kind: QuoteKind = QuoteKind.RENEWAL
    pause_auto_renew: bool = False
    address: Address | None = None
    currency: Currency | None = None
    start_date: date | None = None
    new_credit_line: bool = False
    partner_csn: Csn | None = None
    new_partner_csn: Csn | None = None  # R25: a partner or sales renewal moves its subscriptions to this partner
    cloned_from: str | None = None  # the ended quote this one is a clone of (set by the service, never by a caller)


class DraftEdit(BaseModel):
    """A change to a draft quote: seats, term, a line left out, recipients, address."""

    seats: dict[SubscriptionId, Seats] = {}
    terms: dict[SubscriptionId, Term] = {}
    exclude: Lines = []
    recipients: Annotated[list[Recipient], Field(max_length=MAX_LINES)] | None = None
    address: Address | None = None


def check_recipients(recipients: list[str], buyer: str | None = None) -> list[str]:
    """R04: the buyer and at most four more, each a well-formed address, each once in any letter case.
    The buyer listed again is dropped: they get one email, as the buyer."""
    recipients = [r for r in recipients if not (buyer and r.strip().lower() == buyer.lower())]
    if len(recipients) > MAX_EXTRA_RECIPIENTS:
        raise Refused(
            "R04",
            f"a quote goes to the buyer and at most {MAX_EXTRA_RECIPIENTS} extra recipients; {len(recipients)} given",
        )
    checked = []
    for address in recipients:
        try:
            checked.append(_email.validate_python(address))
        except ValidationError:
            raise Refused("R04", f"not an email address: {address!r}") from None
    if len({a.lower() for a in checked}) != len(checked):
        raise Refused("R04", "a recipient is listed twice")
    return checked


def check_line_changes(origin: Origin, lines: list[QuoteLine], seats: dict[str, int], terms: dict[str, Term]) -> None:
    """R10: self-service may lower seats and change the term; partner and sales may also add seats."""
    on_quote = {line.subscription_id: line for line in lines}
    for sub_id in [*seats, *terms]:
        if sub_id not in on_quote:
            raise BadInput(f"{sub_id} is not on this quote")
    for sub_id, count in seats.items():
        if count < 1:
            raise BadInput(f"seats for {sub_id} must be at least 1, not {count}")
        current = on_quote[sub_id].current_seats or 0
        if origin is Origin.SELF_SERVICE and count > current:
            raise Refused(
                "R10",
                f"adding seats is not allowed in self-service ({sub_id}: {current} → {count}); "
                "ask your partner or sales",
            )


def check_exclusions(lines: list[QuoteLine], exclude: list[str]) -> list[QuoteLine]:
    on_quote = {line.subscription_id for line in lines}
    for sub_id in exclude:
        if sub_id not in on_quote:
            raise BadInput(f"{sub_id} is not on this quote")
    kept = [line for line in lines if line.subscription_id not in exclude]
    if not kept:
        raise BadInput("every line is excluded: a quote needs at least one subscription")
    return kept


def apply_line_changes(lines: list[QuoteLine], seats: dict[str, int], terms: dict[str, Term]) -> list[QuoteLine]:
    return [
        line.model_copy(
            update={
                "seats": seats.get(line.subscription_id or "", line.seats),
                "term": terms.get(line.subscription_id or "", line.term),
            }
        )
        for line in lines
    ]


def check_same_account(request: QuoteRequest, subs: list[Subscription]) -> None:
    """R09 one customer and one currency, R08 one partner."""
    for sub in subs:
        if sub.csn != request.csn:
            raise Refused("R09", f"{sub.id} belongs to customer {sub.csn}, not {request.csn}")
    currencies = sorted({s.currency for s in subs})
    if len(currencies) > 1:
        raise Refused("R09", f"every subscription on a quote has one currency; these have {', '.join(currencies)}")
    partners = {s.partner_csn for s in subs}
    if len(partners) > 1:
        named = ", ".join(sorted(p or "direct" for p in partners))
        raise Refused("R08", f"every subscription on a quote has the same partner; these have {named}")


def check_subscriptions(request: QuoteRequest, subs: list[Subscription], today: date) -> None:
    """R09, R08, then R01 inside the window and R10 standard offerings in self-service."""
    check_same_account(request, subs)
    for sub in subs:
        if not in_window(sub.end_date, today):
            when = (
                f"opens {window_opens(sub.end_date).isoformat()}"
                if today < window_opens(sub.end_date)
                else f"closed {window_closes(sub.end_date).isoformat()}"
            )
            raise Refused("R01", f"{sub.id} cannot be renewed now: its renewal window {when}")
    if request.origin is Origin.SELF_SERVICE:
        for sub in subs:
            if sub.offering is not Offering.STANDARD:
                what = "success plans" if sub.offering is Offering.SUCCESS_PLAN else "value-based purchases"
                raise Refused("R10", f"{sub.id}: {what} cannot be renewed in self-service; ask your partner or sales")


def check_self_service_extras(request: QuoteRequest, subs: list[Subscription]) -> None:
    """R10: currency changes, a future start and new credit lines are not for self-service; R25: a partner or
    sales quote may change the currency (priced from the price list), never a renewal's start date."""
    currency = subs[0].currency
    self_service = request.origin is Origin.SELF_SERVICE
    if request.currency and request.currency != currency and self_service:
        raise Refused("R10", f"a currency change ({currency} → {request.currency}) is not allowed in self-service")
    if request.start_date:
        starts = {s.end_date + timedelta(days=1) for s in subs}
        if starts != {request.start_date}:
            if self_service:
                raise Refused(
                    "R10",
                    "a future start date is not allowed in self-service: "
                    "a renewal starts the day after the current end date",
                )
            raise Refused(
                "R25",
                "a renewal starts the day after the current end date; only a new-purchase line may start later",
            )
    _check_credit_line(request)


def _check_credit_line(request: QuoteRequest) -> None:
    if not request.new_credit_line:
        return
    if request.origin is Origin.SELF_SERVICE:
        raise Refused("R10", "opening a new credit line is not allowed in self-service; ask sales")
    raise Refused("R25", "a new credit line is arranged by sales outside of quotes")


# R25: how far ahead a partner's or sales' new purchase may start.
LATEST_START_DAYS = 90


def check_new_purchase_extras(request: QuoteRequest, today: date) -> None:
    """R10: a self-service new purchase starts when it is paid; R25: a partner's or sales' may start on a day
    of their choosing, at most 90 days ahead. Neither opens a credit line."""
    if request.start_date:
        if request.origin is Origin.SELF_SERVICE:
            raise Refused("R10", "a future start date is not allowed in self-service: a new purchase starts when paid")
        latest = today + timedelta(days=LATEST_START_DAYS)
        if request.start_date < today:
            raise Refused("R25", f"the start date {request.start_date.isoformat()} is in the past")
        if request.start_date > latest:
            raise Refused(
                "R25",
                f"a new purchase starts at most {LATEST_START_DAYS} days ahead (by {latest.isoformat()}), "
                f"not on {request.start_date.isoformat()}",
            )
    _check_credit_line(request)


def check_new_partner(request: QuoteRequest, subs: list[Subscription]) -> None:
    """R25: a partner or sales renewal may move its subscriptions to a new partner (R08: they share one
    partner now); self-service may not, and a new purchase names its partner with --partner."""
    if request.new_partner_csn is None:
        return
    if request.origin is Origin.SELF_SERVICE:
        raise Refused("R10", "a change of partner is not allowed in self-service; ask the new partner or sales")
    if request.kind is QuoteKind.NEW:
        raise Refused("R25", "a new purchase names its partner with --partner, not --new-partner")
    current = {s.partner_csn for s in subs}
    if current == {request.new_partner_csn}:
        raise Refused("R25", f"partner {request.new_partner_csn} already has these subscriptions")


def check_kind(request: QuoteRequest) -> None:
    """R07: renewal, co-term and new-purchase lines never share a quote."""
    if request.kind is QuoteKind.NEW and request.subscription_ids:
        raise Refused("R07", "renewal lines cannot be combined with new-purchase lines in one quote")
    if request.kind is not QuoteKind.NEW and request.new_lines:
        kind = "co-term" if request.kind is QuoteKind.CO_TERM else "renewal"
        raise Refused("R07", f"{kind} lines cannot be combined with new-purchase lines in one quote")
    if request.kind is QuoteKind.NEW and not request.new_lines:
        raise BadInput("a new-purchase quote needs at least one new line (--new PRODUCT:SEATS:TERM)")
    if request.kind is not QuoteKind.NEW and not request.subscription_ids:
        raise BadInput("a renewal or co-term quote needs at least one --subscription")


def co_term_lines(subs: list[Subscription]) -> list[QuoteLine]:
    """Align every subscription to the latest end date; each line pays the days it adds."""
    if len(subs) < 2:
        raise BadInput("a co-term quote aligns at least two subscriptions")
    target = max(s.end_date for s in subs)
    lines = [QuoteLine.of(s, co_term_end_date=target) for s in subs if s.end_date < target]
    if not lines:
        raise BadInput(f"these subscriptions already end on the same day, {target.isoformat()}")
    return lines


def build_quote(
    number: str, request: QuoteRequest, customer: Customer, subs: list[Subscription], today: date, now: datetime
) -> Quote:
    """Every check of creation, in the order a buyer would want to hear about them."""
    check_kind(request)
    if customer.csn != request.csn:
        raise BadInput(f"unknown customer CSN {request.csn}")
    if request.kind is QuoteKind.NEW:
        if not request.currency:
            raise BadInput("a new-purchase quote needs --currency")
        if request.origin is Origin.PARTNER and not request.partner_csn:
            raise BadInput("a partner's new purchase names the partner: --partner CSN (R08)")
        check_new_partner(request, [])
        check_new_purchase_extras(request, today)
        recipients_checked = check_recipients(request.recipients, customer.email)
        lines = [
            QuoteLine(subscription_id=None, product=n.product, seats=n.seats, term=n.term) for n in request.new_lines
        ]
        method = PurchaseMethod.PARTNER if request.partner_csn else PurchaseMethod.DIRECT
        return _quote(
            number, request, customer, request.currency, method, request.partner_csn, lines, recipients_checked, now
        )
    if request.partner_csn and {s.partner_csn for s in subs} != {request.partner_csn}:
        raise Refused("R08", f"these subscriptions were not bought through partner {request.partner_csn}")
    if request.kind is QuoteKind.CO_TERM:
        check_same_account(request, subs)
        lines = check_exclusions(co_term_lines(subs), request.exclude)
        moving = {line.subscription_id for line in lines}
        check_subscriptions(request, [s for s in subs if s.id in moving], today)
        check_self_service_extras(request, subs)
        check_new_partner(request, subs)
        recipients_checked = check_recipients(request.recipients, customer.email)
        return _quote(
            number,
            request,
            customer,
            request.currency or subs[0].currency,
            subs[0].purchase_method,
            subs[0].partner_csn,
            lines,
            recipients_checked,
            now,
            subs[0].currency,
        )
    check_subscriptions(request, subs, today)
    check_self_service_extras(request, subs)
    check_new_partner(request, subs)
    recipients_checked = check_recipients(request.recipients, customer.email)
    lines = check_exclusions([QuoteLine.of(s) for s in subs], request.exclude)
    check_line_changes(request.origin, lines, request.seats, request.terms)
    lines = apply_line_changes(lines, request.seats, request.terms)
    first = subs[0]
    return _quote(
        number,
        request,
        customer,
        request.currency or first.currency,
        first.purchase_method,
        first.partner_csn,
        lines,
        recipients_checked,
        now,
        first.currency,
    )


def _quote(
    number, request, customer, currency, purchase_method, partner_csn, lines, recipients, now, from_currency=None
) -> Quote:
    """`from_currency`: the subscriptions' currency, which a partner's or sales' quote may change (R25)."""
    return Quote(
        number=number,
        state=QuoteState.DRAFT,
        kind=request.kind,
        origin=request.origin,
        csn=customer.csn,
        customer_name=customer.name,
        buyer_email=customer.email,
        address=request.address or customer.address,
        language=customer.language,
        currency=currency,
        purchase_method=purchase_method or PurchaseMethod.DIRECT,
        partner_csn=partner_csn,
        recipients=recipients,
        lines=lines,
        pause_auto_renew=request.pause_auto_renew,
        created_at=now,
        start_date=request.start_date if request.kind is QuoteKind.NEW else None,
        new_partner_csn=request.new_partner_csn,
        cloned_from=request.cloned_from,
        from_currency=from_currency if from_currency != currency else None,
    )
