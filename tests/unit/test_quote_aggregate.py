"""One quote as a pure aggregate (domain/quote_aggregate.py): every decision of `QuoteAggregate`, its new state,
its effects in order (domain/quote_effects.py) with their fields, and its answer or refusal with the rule.
The lifecycle and its holds (R02, R03, R17), the reminders (R22), a revision (R23), and the money (R16, R20):
a payment reserves, charges once, renews, or gives back what it took. No Temporal server: each test calls the
aggregate in its body."""

from datetime import UTC, date, datetime, timedelta
from decimal import Decimal

import pytest

from domain.bank_transfer import rf_reference
from domain.calendar_aggregate import Owner, TermRefusal
from domain.errors import BadInput, PaymentDeclined, Refused
from domain.models import PurchaseMethod, QuoteKind, Term
from domain.quote_aggregate import ASK_AGAIN_SECONDS, PayCommand, PaymentAttempt, QuoteAggregate
from domain.quote_effects import (
    Attach,
    Charge,
    Charged,
    Created,
    CreateSubscriptions,
    Detach,
    Email,
    Find,
    Found,
    Pause,
    Paused,
    Price,
    Priced,
    PriceMissing,
    Refund,
    Refunded,
    Release,
    Renew,
    RenewedTerms,
    Replaced,
    ReplaceOriginal,
    Reserve,
    Reserved,
    Save,
    Step,
    TellMaker,
    TermRef,
    TermRenewal,
)
from domain.quote_rules import DraftEdit
from domain.quotes import DeclineReason, Quote, QuoteLine, QuoteState
from tests.unit.test_eligibility import END, subscription
from tests.unit.test_quotes import line, quote

NOW = datetime(2027, 3, 1, 9, 30, tzinfo=UTC)  # the quote's workflow begins
EXPIRES = NOW + timedelta(days=30)  # R15: 30 days from sending at NOW
LATER = NOW + timedelta(days=2)
PAY_AT = NOW + timedelta(days=3)
NEXT_END = date(2028, 3, 31)
TOTAL = Decimal("1210.00")
TERM = TermRef(subscription_id="SUB-1", term_end=END)
TERM_2 = TermRef(subscription_id="SUB-2", term_end=END)
OWNER = Owner(csn="5100000001", purchase_method=PurchaseMethod.DIRECT)
BUYER = "buyer@acme.example"
SALES = "sales@vendor.example"
CARD = PayCommand(payment_method="pm_card_visa", by=BUYER)
BANK_REFERENCE = rf_reference("Q-000042")  # R29: the quote's own creditor reference
BANK = PayCommand(reference=BANK_REFERENCE, by="ops@vendor.example")
DECLINED = "the payment could not be completed (the provider confirmed that nothing was charged; please pay again)"


def two_lines() -> list[QuoteLine]:
    return [line(), QuoteLine.of(subscription(id="SUB-2"))]


def new_purchase_line() -> QuoteLine:
    return QuoteLine(subscription_id=None, product="Revit", seats=2, term=Term.ANNUAL)


def changed(q: Quote, **changes) -> Quote:
    """The quote after one change of the aggregate: one revision on."""
    return q.model_copy(update={**changes, "revision": q.revision + 1})


def save(event: str, q: Quote, detail: dict | None = None, earlier: tuple[Step, ...] = ()) -> Save:
    return Save(steps=[*earlier, Step(event=event, quote=q)], detail=detail or {})


def began(**changes) -> QuoteAggregate:
    """A draft whose workflow began at NOW: its validity fixed, pending on its subscriptions."""
    return QuoteAggregate.new(quote(**changes), (7, 1)).start(NOW).state


def draft(**changes) -> QuoteAggregate:
    """A draft whose creation was written."""
    return began(**changes).model_copy(update={"unwritten": []})


def sent(**changes) -> QuoteAggregate:
    return draft(**changes).send(NOW, SALES).state


def accepted(**changes) -> QuoteAggregate:
    return sent(total=TOTAL, **changes).accept(LATER, BUYER).state


def charging(**changes) -> QuoteAggregate:
    """An accepted quote paid by card: its term reserved, the charge asked."""
    return accepted(**changes).pay(PAY_AT, CARD, False).state.on(Reserved(), PAY_AT).state


def charged(**changes) -> QuoteAggregate:
    """The card charged: the term is being renewed."""
    return charging(**changes).on(Charged(outcome="charged", reference="ch_1"), PAY_AT).state


def declined() -> QuoteAggregate:
    """A card was asked for and declined: the quote is accepted, nothing taken (yet)."""
    return charging().on(Charged(outcome="declined", message="card declined"), PAY_AT).state


def refusal(decision) -> Refused | BadInput:
    assert decision.refusal is not None
    return decision.refusal


# The lifecycle (R15, R02, R17).


def test_lifecycle_a_new_quote_has_its_creation_to_write_and_its_reminders_latest_first() -> None:
    q = quote()
    assert QuoteAggregate.new(q, (1, 7, 30)) == QuoteAggregate(
        quote=q, reminders_due=[30, 7, 1], unwritten=[Step(event="created", quote=q)]
    )


def test_r15_r17_a_quote_begins_with_its_validity_and_pending_on_its_subscription() -> None:
    before = QuoteAggregate.new(quote(), (7, 1))
    decision = before.start(NOW)
    assert decision.state == before.model_copy(
        update={"quote": quote(expires_at=EXPIRES), "attached": {"SUB-1": False}}
    )
    assert decision.effects == [Attach(subscriptions=["SUB-1"], hold=False)]
    assert (decision.refusal, decision.answer) == (None, None)
    assert before.quote.expires_at is None and before.attached == {}  # pure


def test_r15_a_validity_already_fixed_is_kept() -> None:
    fixed = NOW + timedelta(days=3)
    assert QuoteAggregate.new(quote(expires_at=fixed), (7,)).start(NOW).state.quote == quote(expires_at=fixed)


@pytest.mark.parametrize(
    "changes",
    [{"lines": [line(seats=3)]}, {"lines": [line(term=Term.THREE_YEAR)]}, {"pause_auto_renew": True}],
)
def test_r02_a_quote_that_changes_its_subscription_or_is_asked_to_holds_from_the_start(changes: dict) -> None:
    decision = QuoteAggregate.new(quote(**changes), (7,)).start(NOW)
    assert decision.effects == [Attach(subscriptions=["SUB-1"], hold=True)]
    assert decision.state.attached == {"SUB-1": True}


def test_r07_a_new_purchase_is_pending_on_no_subscription() -> None:
    decision = QuoteAggregate.new(quote(kind=QuoteKind.NEW, lines=[new_purchase_line()]), (7,)).start(NOW)
    assert decision.effects == [] and decision.state.attached == {}


def test_r17_each_subscription_of_a_quote_is_pending_once() -> None:
    decision = QuoteAggregate.new(quote(lines=[*two_lines(), new_purchase_line()]), (7,)).start(NOW)
    assert decision.effects == [Attach(subscriptions=["SUB-1", "SUB-2"], hold=False)]
    assert decision.state.attached == {"SUB-1": False, "SUB-2": False}


def test_lifecycle_an_ended_quote_is_pending_on_nothing() -> None:
    decision = QuoteAggregate.new(quote(state=QuoteState.CANCELLED), (7,)).start(NOW)
    assert decision.effects == [] and decision.state.attached == {}


def test_r15_the_first_pricing_asks_for_the_prices_of_its_lines_on_the_day() -> None:
    before = began()
    decision = before.price_first(NOW)
    assert decision.state is before
    assert decision.effects == [
        Price(
            currency="EUR",
            quote_kind=QuoteKind.RENEWAL,
            lines=before.quote.lines,
            on=date(2027, 3, 1),
            csn=before.quote.csn,
        )
    ]


def test_lifecycle_a_quote_cancelled_before_its_first_pricing_is_never_priced() -> None:
    cancelled = began().cancel(NOW, "sales").state
    decision = cancelled.price_first(NOW)
    assert decision.state == cancelled.model_copy(update={"priced": True})
    assert decision.effects == []
    assert cancelled.priced is False


def test_r15_priced_lines_and_totals_are_written() -> None:
    before = began(pricing_error="no price for AutoCAD annual in EUR")
    priced_lines = [line(unit_price=Decimal("1000.00"), amount=Decimal("1000.00"))]
    reply = Priced(lines=priced_lines, subtotal=Decimal("1000.00"), discount_total=Decimal("10.00"), total=TOTAL)
    decision = before.on(reply, NOW)
    q = changed(
        before.quote,
        lines=priced_lines,
        subtotal=Decimal("1000.00"),
        discount_total=Decimal("10.00"),
        total=TOTAL,
        pricing_error=None,
    )
    assert decision.state == before.model_copy(update={"quote": q, "priced": True, "unwritten": []})
    assert decision.effects == [save("priced", q, {"total": "1210.00"}, before.unwritten)]


def test_r15_a_missing_price_is_written_and_the_quote_says_why() -> None:
    before = draft()
    decision = before.on(PriceMissing(reason="no price for AutoCAD annual in EUR"), NOW)
    q = changed(before.quote, pricing_error="no price for AutoCAD annual in EUR")
    assert decision.state == before.model_copy(update={"quote": q, "priced": True})
    assert decision.effects == [save("pricing failed", q, {"reason": "no price for AutoCAD annual in EUR"})]


def test_r15_a_draft_is_sent_its_validity_counted_from_sending() -> None:
    before = began(recipients=["cfo@acme.example"])
    decision = before.send(LATER, SALES)
    q = changed(before.quote, state=QuoteState.SENT, sent_at=LATER, expires_at=LATER + timedelta(days=30))
    assert decision.state == before.model_copy(update={"quote": q, "unwritten": []})
    assert decision.effects == [
        save("sent", q, {"recipients": [BUYER, "cfo@acme.example"], "by": SALES}, before.unwritten),
        Email(purpose="quote", quote=q),
    ]
    assert before.unwritten == [Step(event="created", quote=quote(recipients=["cfo@acme.example"]))]


def test_r15_a_draft_sent_by_nobody_named_says_no_sender() -> None:
    decision = draft().send(NOW, None)
    assert decision.effects[0] == save("sent", decision.state.quote, {"recipients": [BUYER]})


def test_lifecycle_only_a_draft_is_sent() -> None:
    before = sent()
    decision = before.send(LATER, SALES)
    assert decision.state is before and decision.effects == []
    assert (refusal(decision).rule, refusal(decision).message) == (
        "lifecycle",
        "quote Q-000042 is sent; only a draft quote can be sent",
    )


def test_r15_a_draft_that_cannot_be_priced_is_not_sent() -> None:
    decision = draft(pricing_error="no price for AutoCAD annual in EUR").send(NOW, SALES)
    assert refusal(decision).rule == "R15" and decision.effects == []


def test_r17_accepting_holds_auto_renew_before_the_buyer_hears_it_is_accepted() -> None:
    before = sent()
    decision = before.accept(LATER, BUYER)
    q = changed(before.quote, state=QuoteState.ACCEPTED, accepted_at=LATER)
    assert decision.state == before.model_copy(update={"quote": q, "attached": {"SUB-1": True}})
    assert decision.effects == [Attach(subscriptions=["SUB-1"], hold=True), save("accepted", q, {"by": BUYER})]
    assert before.attached == {"SUB-1": False}


def test_r17_a_quote_that_already_holds_is_accepted_without_attaching_again() -> None:
    decision = sent(lines=[line(seats=2)]).accept(LATER, None)
    assert decision.effects == [save("accepted", decision.state.quote)]
    assert decision.state.attached == {"SUB-1": True}


def test_r17_accepting_holds_every_subscription_that_does_not_hold_yet() -> None:
    before = sent(lines=two_lines()).model_copy(update={"attached": {"SUB-1": True, "SUB-2": False}})
    decision = before.accept(LATER, BUYER)
    assert decision.effects[0] == Attach(subscriptions=["SUB-2"], hold=True)
    assert decision.state.attached == {"SUB-1": True, "SUB-2": True}


def test_lifecycle_only_a_sent_quote_is_accepted() -> None:
    before = draft()
    decision = before.accept(LATER, BUYER)
    assert decision.state is before and decision.effects == []
    assert refusal(decision).message == "quote Q-000042 is draft; only a sent quote can be accepted"


def test_r10_a_buyer_cannot_cancel() -> None:
    before = sent()
    decision = before.cancel(LATER, "buyer")
    assert decision.state is before and decision.effects == []
    assert refusal(decision).rule == "R10"


def test_r10_r03_partner_or_sales_cancel_and_the_holds_are_detached() -> None:
    before = accepted()
    decision = before.cancel(PAY_AT, "sales", "jan@vendor.example")
    q = changed(before.quote, state=QuoteState.CANCELLED, cancelled_by="sales", ended_at=PAY_AT)
    assert decision.state == before.model_copy(update={"quote": q, "attached": {}})
    assert decision.effects == [
        save("cancelled", q, {"by": "sales", "actor": "jan@vendor.example"}),
        Detach(subscriptions=["SUB-1"]),
    ]


def test_r10_a_cancel_without_an_actor_names_who_cancelled() -> None:
    decision = draft().cancel(NOW, "partner")
    assert decision.effects[0] == save("cancelled", decision.state.quote, {"by": "partner"})


def test_r20_a_quote_whose_payment_is_being_confirmed_is_not_cancelled() -> None:
    before = charging()
    decision = before.cancel(PAY_AT, "sales")
    assert decision.state is before and decision.effects == []
    assert refusal(decision).rule == "R20"


def test_r15_r03_an_expired_quote_detaches_its_holds() -> None:
    before = accepted()
    decision = before.expire(EXPIRES)
    q = changed(before.quote, state=QuoteState.EXPIRED, ended_at=EXPIRES)
    assert decision.state == before.model_copy(update={"quote": q, "attached": {}})
    assert decision.effects == [save("expired", q), Detach(subscriptions=["SUB-1"])]


def test_r15_an_ended_quote_does_not_expire() -> None:
    cancelled = draft().cancel(NOW, "sales").state
    decision = cancelled.expire(EXPIRES)
    assert decision.state is cancelled and decision.effects == []


def test_r16_a_sent_quote_renewed_another_way_is_cancelled_by_the_system_its_recipients_told() -> None:
    before = sent()
    decision = before.supersede(LATER, "superseded by Q-000007", "SUB-1 was renewed by Q-000007 on 2027-03-03")
    q = changed(
        before.quote,
        state=QuoteState.CANCELLED,
        cancelled_by="system",
        cancel_reason="superseded by Q-000007",
        superseded_because="SUB-1 was renewed by Q-000007 on 2027-03-03",
        ended_at=LATER,
    )
    assert decision.state == before.model_copy(update={"quote": q, "attached": {}})
    detail = {
        "by": "system",
        "reason": "superseded by Q-000007",
        "detail": "SUB-1 was renewed by Q-000007 on 2027-03-03",
    }
    assert decision.effects == [
        save("cancelled", q, detail),
        Email(purpose="superseded", quote=q),
        Detach(subscriptions=["SUB-1"]),
    ]


def test_r16_a_draft_superseded_emails_nobody() -> None:
    decision = draft().supersede(LATER, "superseded by auto-renew", "SUB-1 was renewed by auto-renew on 2027-03-31")
    assert [type(effect) for effect in decision.effects] == [Save, Detach]


def test_r16_an_ended_quote_is_not_superseded() -> None:
    cancelled = draft().cancel(NOW, "sales").state
    decision = cancelled.supersede(LATER, "superseded by Q-000007", "renewed")
    assert decision.state is cancelled and decision.effects == []


# Draft edits (R04, R10).


def test_r10_r02_an_edit_that_changes_a_subscription_holds_it_and_prices_again() -> None:
    before = draft(lines=two_lines())
    decision = before.edit(LATER, DraftEdit(seats={"SUB-2": 1}))
    edited_lines = [line(), QuoteLine.of(subscription(id="SUB-2")).model_copy(update={"seats": 1})]
    q = changed(before.quote, lines=edited_lines)
    assert decision.state == before.model_copy(update={"quote": q, "attached": {"SUB-1": True, "SUB-2": True}})
    assert decision.effects == [
        save("edited", q, {"seats": {"SUB-2": 1}}),
        Attach(subscriptions=["SUB-1", "SUB-2"], hold=True),
        Price(currency="EUR", quote_kind=QuoteKind.RENEWAL, lines=edited_lines, on=LATER.date(), csn="5100000001"),
    ]


def test_r05_a_line_left_out_is_detached() -> None:
    before = draft(lines=two_lines())
    decision = before.edit(LATER, DraftEdit(exclude=["SUB-2"]))
    q = changed(before.quote, lines=[line()])
    assert decision.state == before.model_copy(update={"quote": q, "attached": {"SUB-1": False}})
    assert decision.effects == [
        save("edited", q, {"exclude": ["SUB-2"]}),
        Detach(subscriptions=["SUB-2"]),
        Price(currency="EUR", quote_kind=QuoteKind.RENEWAL, lines=[line()], on=LATER.date(), csn="5100000001"),
    ]


def test_r04_an_edit_of_the_recipients_and_address_keeps_the_buyer_once() -> None:
    before = draft(recipients=["old@acme.example"])
    edit = DraftEdit(recipients=[BUYER, "cfo@acme.example"], address="Damrak 2")
    decision = before.edit(LATER, edit)
    q = changed(before.quote, recipients=["cfo@acme.example"], address="Damrak 2")
    assert decision.state.quote == q
    assert decision.effects[0] == save("edited", q, {"recipients": [BUYER, "cfo@acme.example"], "address": "Damrak 2"})


def test_r04_an_edit_without_recipients_or_address_keeps_them() -> None:
    before = draft(recipients=["old@acme.example"])
    decision = before.edit(LATER, DraftEdit(terms={"SUB-1": Term.THREE_YEAR}))
    assert decision.state.quote.recipients == ["old@acme.example"]
    assert decision.state.quote.address == "Keizersgracht 1"
    assert decision.state.quote.lines == [line(term=Term.THREE_YEAR)]
    detail = decision.effects[0].detail
    assert detail == {"terms": {"SUB-1": "3-year"}}
    assert type(detail["terms"]["SUB-1"]) is str  # the event's detail is JSON data, not the enum


@pytest.mark.parametrize(
    ("edit", "error", "rule"),
    [
        (DraftEdit(recipients=[f"r{i}@acme.example" for i in range(5)]), Refused, "R04"),
        (DraftEdit(seats={"SUB-1": 6}), Refused, "R10"),
        (DraftEdit(exclude=["SUB-9"]), BadInput, None),
    ],
)
def test_r04_r10_a_refused_edit_changes_nothing(edit: DraftEdit, error: type, rule: str | None) -> None:
    before = draft()
    decision = before.edit(LATER, edit)
    assert decision.state is before and decision.effects == []
    assert type(decision.refusal) is error and getattr(decision.refusal, "rule", None) == rule


def test_r10_a_sent_quote_is_not_edited() -> None:
    decision = sent().edit(LATER, DraftEdit(address="Damrak 2"))
    assert refusal(decision).rule == "R10"


# R22: reminders.


def reminding(state: QuoteState = QuoteState.SENT, sent_at: datetime = NOW, **changes) -> QuoteAggregate:
    q = quote(state=state, sent_at=sent_at, expires_at=EXPIRES, **changes)
    return QuoteAggregate.new(q, (7, 1))


def test_r22_the_next_reminder_is_the_earliest_still_due() -> None:
    assert reminding().next_reminder() == (EXPIRES - timedelta(days=7), 7)
    assert reminding(state=QuoteState.ACCEPTED).next_reminder() == (EXPIRES - timedelta(days=7), 7)
    assert reminding(reminded=[7]).next_reminder() == (EXPIRES - timedelta(days=1), 1)
    assert reminding().reminder_due(7).state.next_reminder() == (EXPIRES - timedelta(days=1), 1)


def test_r22_only_days_after_sending_are_reminded() -> None:
    assert reminding(sent_at=EXPIRES - timedelta(days=7)).next_reminder() == (EXPIRES - timedelta(days=7), 7)
    just_after = EXPIRES - timedelta(days=7) + timedelta(microseconds=1)
    assert reminding(sent_at=just_after).next_reminder() == (EXPIRES - timedelta(days=1), 1)
    assert reminding(sent_at=EXPIRES - timedelta(hours=1)).next_reminder() is None


@pytest.mark.parametrize(
    "agg",
    [
        reminding(state=QuoteState.DRAFT),
        reminding(state=QuoteState.PAID),
        reminding(state=QuoteState.EXPIRED),
        reminding(sent_at=None),
        reminding(reminded=[7, 1]),
    ],
)
def test_r22_no_reminder_for_a_draft_an_ended_quote_or_days_reminded(agg: QuoteAggregate) -> None:
    assert agg.next_reminder() is None


def test_r22_a_reminder_due_takes_it_and_every_earlier_one_off_the_list() -> None:
    agg = QuoteAggregate.new(quote(), (14, 7, 3, 1))
    assert agg.reminder_due(7).state.reminders_due == [3, 1]
    assert agg.reminder_due(5).state.reminders_due == [3, 1]
    assert agg.reminder_due(1).state.reminders_due == []
    assert agg.reminder_due(7).effects == []
    assert agg.reminders_due == [14, 7, 3, 1]


def test_r22_a_sent_quote_is_reminded_to_accept_once() -> None:
    before = sent(recipients=["cfo@acme.example"])
    decision = before.remind(7)
    q = changed(before.quote, reminded=[7])
    assert decision.state == before.model_copy(update={"quote": q})
    assert decision.effects == [
        save("reminded", q, {"days": 7, "purpose": "reminder", "recipients": [BUYER, "cfo@acme.example"]}),
        Email(purpose="reminder", quote=q, days_left=7),
    ]
    again = decision.state.remind(7)
    assert again.state is decision.state and again.effects == []
    assert decision.state.remind(1).state.quote.reminded == [7, 1]


def test_r22_an_accepted_quote_is_reminded_to_pay() -> None:
    decision = accepted().remind(1)
    q = decision.state.quote
    assert q.reminded == [1]
    assert decision.effects == [
        save("reminded", q, {"days": 1, "purpose": "pay_reminder", "recipients": [BUYER]}),
        Email(purpose="pay_reminder", quote=q, days_left=1),
    ]


@pytest.mark.parametrize("ready", [draft, charging, lambda: accepted().cancel(PAY_AT, "sales").state])
def test_r22_r20_no_reminder_for_a_draft_a_payment_being_confirmed_or_an_ended_quote(ready) -> None:
    before = ready()
    decision = before.remind(7)
    assert decision.state is before and decision.effects == []


def test_r22_a_reminder_dropped_before_it_was_written_is_not_said_to_be_sent() -> None:
    reminded = sent().remind(7).state.remind(1).state
    decision = reminded.unremind(7)
    assert decision.state == reminded.model_copy(update={"quote": changed(reminded.quote, reminded=[1])})
    assert decision.effects == []


# R23: revisions.


def test_r23_a_revision_first_asks_its_original_to_step_aside() -> None:
    before = draft(revises="Q-000041")
    decision = before.send(LATER, SALES)
    assert decision.state == before.model_copy(update={"sending_by": SALES})
    assert decision.effects == [ReplaceOriginal(original="Q-000041")]
    assert decision.refusal is None


def test_r23_a_revision_is_sent_once_its_original_stepped_aside() -> None:
    asked = draft(revises="Q-000041").send(LATER, SALES).state
    decision = asked.on(Replaced(replaced=True), LATER)
    q = changed(asked.quote, state=QuoteState.SENT, sent_at=LATER, expires_at=LATER + timedelta(days=30))
    assert decision.state == asked.model_copy(update={"quote": q, "sending_by": None})
    assert decision.effects == [save("sent", q, {"recipients": [BUYER], "by": SALES}), Email(purpose="quote", quote=q)]


def test_r23_a_revision_sent_by_nobody_named_is_sent_without_a_sender() -> None:
    asked = draft(revises="Q-000041").send(LATER, None).state
    assert asked.sending_by == ""
    decision = asked.on(Replaced(replaced=True), LATER)
    assert decision.state.quote.state is QuoteState.SENT and decision.state.sending_by is None
    assert decision.effects[0] == save("sent", decision.state.quote, {"recipients": [BUYER]})


def test_r23_a_revision_whose_original_stands_is_refused_and_stays_a_draft() -> None:
    before = draft(revises="Q-000041")
    asked = before.send(LATER, SALES).state
    reason = "quote Q-000041, which Q-000042 revises, is accepted now; cancel Q-000042, or cancel Q-000041 first"
    decision = asked.on(Replaced(replaced=False, reason=reason), LATER)
    assert decision.state == before
    assert decision.effects == []
    assert (refusal(decision).rule, refusal(decision).message) == ("R23", reason)


def test_r23_a_refusal_without_a_reason_still_names_r23() -> None:
    asked = draft(revises="Q-000041").send(LATER, SALES).state
    decision = asked.on(Replaced(replaced=False), LATER)
    assert (refusal(decision).rule, refusal(decision).message) == ("R23", "")


def test_r23_a_sent_original_is_cancelled_by_its_revision() -> None:
    before = sent()
    decision = before.replace(LATER, "Q-000050")
    q = changed(
        before.quote,
        state=QuoteState.CANCELLED,
        cancelled_by="system",
        cancel_reason="revised by Q-000050",
        superseded_because="Quote Q-000050 replaces it",
        revised_by="Q-000050",
        ended_at=LATER,
    )
    assert decision.state == before.model_copy(update={"quote": q, "attached": {}})
    detail = {
        "by": "system",
        "reason": "revised by Q-000050",
        "detail": "Quote Q-000050 replaces it",
        "revised_by": "Q-000050",
    }
    assert decision.effects == [
        save("cancelled", q, detail),
        Email(purpose="superseded", quote=q),
        Detach(subscriptions=["SUB-1"]),
    ]
    assert decision.answer == Replaced(replaced=True)
    assert decision.refusal is None


def test_r23_an_original_replaced_by_this_revision_says_so_again() -> None:
    replaced = sent().replace(LATER, "Q-000050").state
    decision = replaced.replace(PAY_AT, "Q-000050")
    assert decision.state is replaced and decision.effects == []
    assert decision.answer == Replaced(replaced=True)


@pytest.mark.parametrize(
    ("ready", "state"),
    [
        (accepted, "accepted"),
        (draft, "draft"),
        (lambda: sent().replace(LATER, "Q-000049").state, "cancelled"),
        (lambda: sent().expire(EXPIRES).state, "expired"),
    ],
)
def test_r23_an_original_accepted_or_ended_stands(ready, state: str) -> None:
    before = ready()
    decision = before.replace(PAY_AT, "Q-000050")
    assert decision.state is before and decision.effects == []
    assert decision.answer == Replaced(
        replaced=False,
        reason=f"quote Q-000042, which Q-000050 revises, is {state} now; cancel Q-000050, or cancel Q-000042 first",
    )


def test_r23_r20_a_sent_original_whose_payment_is_being_confirmed_stands() -> None:
    before = sent().model_copy(update={"quote": sent().quote.model_copy(update={"payment": "pending"})})
    decision = before.replace(PAY_AT, "Q-000050")
    assert decision.answer == Replaced(
        replaced=False,
        reason="quote Q-000042, which Q-000050 revises, is sent now; cancel Q-000050, or cancel Q-000042 first",
    )
    assert decision.effects == []


# The payment (R16, R20).


def test_r16_a_payment_reserves_the_quotes_terms_before_any_money_moves() -> None:
    before = accepted()
    decision = before.pay(PAY_AT, CARD, False)
    q = changed(before.quote, payment="pending")
    attempt = PaymentAttempt(payment_method="pm_card_visa", by=BUYER, stage="reserving")
    assert decision.state == before.model_copy(update={"quote": q, "payment": attempt})
    assert decision.effects == [Reserve(terms=[TERM], owner=OWNER, hold=True)]
    assert decision.state.charge_asked is False
    assert before.payment is None and before.quote.payment is None


def test_r16_r21_each_renewal_line_is_reserved_for_the_quotes_customer() -> None:
    partner = dict(purchase_method=PurchaseMethod.PARTNER, partner_csn="5200000001")
    decision = accepted(lines=two_lines(), **partner).pay(PAY_AT, CARD, False)
    owner = Owner(csn="5100000001", purchase_method=PurchaseMethod.PARTNER, partner_csn="5200000001")
    assert decision.effects == [Reserve(terms=[TERM, TERM_2], owner=owner, hold=True)]


def test_r16_accept_and_pay_accepts_then_reserves_the_acceptance_written_with_the_outcome() -> None:
    before = sent(total=TOTAL)
    decision = before.pay(PAY_AT, CARD, True)
    accepted_q = changed(before.quote, state=QuoteState.ACCEPTED, accepted_at=PAY_AT)
    q = changed(accepted_q, payment="pending")
    attempt = PaymentAttempt(payment_method="pm_card_visa", by=BUYER, stage="reserving")
    assert decision.state == before.model_copy(
        update={"quote": q, "payment": attempt, "unwritten": [Step(event="accepted", quote=accepted_q)]}
    )
    # the reservation keeps auto-renew off while it pays; a failure holds before it releases (below)
    assert decision.effects == [Reserve(terms=[TERM], owner=OWNER, hold=True)]


def test_r16_accept_and_pay_again_on_an_accepted_quote_accepts_nothing_more() -> None:
    before = accepted()
    decision = before.pay(PAY_AT, CARD, True)
    assert decision.state.unwritten == []
    assert decision.state.quote == changed(before.quote, payment="pending")
    assert decision.effects == [Reserve(terms=[TERM], owner=OWNER, hold=True)]  # it holds since it was accepted


@pytest.mark.parametrize(
    ("ready", "accepting", "rule", "message"),
    [
        (draft, True, "lifecycle", "quote Q-000042 is draft; only a sent or accepted quote can be paid"),
        (sent, False, "lifecycle", "quote Q-000042 is sent; only an accepted quote can be paid"),
        (charging, False, "R20", "the payment of quote Q-000042 is being confirmed with the provider; "),
        (charging, True, "R20", "the payment of quote Q-000042 is being confirmed with the provider; "),
    ],
)
def test_r16_r20_a_payment_is_refused_unless_the_quote_can_be_paid(ready, accepting, rule, message) -> None:
    before = ready()
    decision = before.pay(PAY_AT, CARD, accepting)
    assert decision.state is before and decision.effects == []
    assert refusal(decision).rule == rule and refusal(decision).message.startswith(message)


@pytest.mark.parametrize("accepting", [False, True])
def test_r15_an_expired_quote_is_not_paid(accepting: bool) -> None:
    decision = accepted().pay(EXPIRES, CARD, accepting)
    assert refusal(decision).rule == "R15"


def test_r16_a_new_purchase_without_terms_to_renew_is_charged_at_once() -> None:
    before = accepted(kind=QuoteKind.NEW, lines=[new_purchase_line()])
    decision = before.pay(PAY_AT, CARD, False)
    attempt = PaymentAttempt(payment_method="pm_card_visa", by=BUYER, stage="charging")
    assert decision.state == before.model_copy(
        update={"quote": changed(before.quote, payment="pending"), "payment": attempt, "charge_asked": True}
    )
    assert decision.effects == [Charge(amount=TOTAL, currency="EUR", payment_method="pm_card_visa", by=BUYER)]


def test_r29_an_offline_payment_asks_no_card_charge() -> None:
    decision = accepted(kind=QuoteKind.NEW, lines=[new_purchase_line()]).pay(PAY_AT, BANK, False)
    assert decision.effects == [Charge(amount=TOTAL, currency="EUR", reference=BANK_REFERENCE, by="ops@vendor.example")]
    assert decision.state.charge_asked is False


@pytest.mark.parametrize("late", [Refunded(refunded=False), Refunded(refunded=True)])
def test_r20_r29_an_offline_payment_after_a_card_charge_was_asked_first_returns_what_the_key_took(late) -> None:
    """The card was declined, but a charge asked for under the quote's key may land yet: it goes back before
    the bank transfer is taken, so the quote is never paid twice."""
    before = declined()
    decision = before.pay(PAY_AT, BANK, False)
    attempt = PaymentAttempt(reference=BANK_REFERENCE, by="ops@vendor.example", stage="clearing")
    assert decision.state == before.model_copy(
        update={"quote": changed(before.quote, payment="pending"), "payment": attempt}
    )
    assert decision.effects == [Refund(key_only=True)]
    cleared = decision.state.on(late, PAY_AT)
    reserving = attempt.model_copy(update={"stage": "reserving"})
    assert cleared.state == decision.state.model_copy(update={"payment": reserving})
    assert cleared.effects == [Reserve(terms=[TERM], owner=OWNER, hold=True)]
    assert cleared.refusal is None and cleared.state.refund_done is False


def test_r20_r29_a_new_purchase_paid_offline_after_a_card_charge_was_asked_is_charged_once_cleared() -> None:
    paying = accepted(kind=QuoteKind.NEW, lines=[new_purchase_line()]).pay(PAY_AT, CARD, False).state
    declined_new = paying.on(Charged(outcome="declined", message="card declined"), PAY_AT).state
    clearing = declined_new.pay(PAY_AT, BANK, False)
    assert clearing.effects == [Refund(key_only=True)]
    decision = clearing.state.on(Refunded(refunded=False), PAY_AT)
    assert decision.effects == [Charge(amount=TOTAL, currency="EUR", reference=BANK_REFERENCE, by="ops@vendor.example")]
    assert decision.state.payment is not None and decision.state.payment.stage == "charging"
    assert decision.state.charge_asked is True  # kept: a card charge landing later still goes back
    charged = decision.state.on(Charged(outcome="charged", reference=BANK_REFERENCE), PAY_AT).state
    paid = charged.on(Created(subscriptions={"SUB-Q-000042-1": date(2028, 3, 3)}), PAY_AT)
    assert paid.state.quote.state is QuoteState.PAID
    assert paid.effects[-1] == Refund(key_only=True)  # paid offline: a late card charge under the key goes back


@pytest.mark.parametrize(
    ("ready", "command"),
    [
        (declined, CARD),  # the card again, under the same key: nothing to clear
        (lambda: declined().model_copy(update={"refund_done": True}), BANK),  # the key's refund was answered
        (accepted, BANK),  # no card was ever asked for
    ],
)
def test_r20_r29_a_payment_with_nothing_to_clear_reserves_at_once(ready, command: PayCommand) -> None:
    before = ready()
    decision = before.pay(PAY_AT, command, False)
    assert decision.effects == [Reserve(terms=[TERM], owner=OWNER, hold=True)]
    assert decision.state.payment == PaymentAttempt(**command.model_dump(), stage="reserving")


def test_r16_each_term_granted_the_card_is_charged_once_under_the_quotes_key() -> None:
    before = accepted().pay(PAY_AT, CARD, False).state
    decision = before.on(Reserved(), PAY_AT)
    assert decision.state == before.model_copy(
        update={
            "reserved": [TERM],
            "charge_asked": True,
            "payment": PaymentAttempt(payment_method="pm_card_visa", by=BUYER, stage="charging"),
        }
    )
    assert decision.effects == [Charge(amount=TOTAL, currency="EUR", payment_method="pm_card_visa", by=BUYER)]
    assert before.payment is not None and before.payment.stage == "reserving"


def test_r16_a_term_refused_releases_every_term_of_the_quote_and_names_the_first_refusal() -> None:
    before = accepted(lines=two_lines()).pay(PAY_AT, CARD, False).state
    refusals = [
        TermRefusal(rule="R16", reason="SUB-2 was renewed by Q-000007 on 2027-03-03", holder="Q-000007"),
        TermRefusal(rule="R01", reason="the renewal window of SUB-1 closed on 2027-05-15"),
    ]
    decision = before.on(Reserved(refused=refusals), PAY_AT)
    q = changed(before.quote, payment=None)
    assert decision.state == before.model_copy(update={"quote": q, "payment": None})
    assert decision.effects == [Release(terms=[TERM, TERM_2])]  # it holds already: nothing to attach or write
    assert (refusal(decision).rule, refusal(decision).message) == (
        "R16",
        "SUB-2 was renewed by Q-000007 on 2027-03-03; this quote can no longer be paid",
    )
    assert decision.state.charge_asked is False


def test_r16_a_term_being_renewed_right_now_asks_to_try_again_in_a_moment() -> None:
    before = accepted().pay(PAY_AT, CARD, False).state
    busy = TermRefusal(
        rule="R16",
        reason="SUB-1 is being renewed by auto-renew (since 2027-03-31)",
        holder="auto-renew",
        retry_later=True,
    )
    decision = before.on(Reserved(refused=[busy]), PAY_AT)
    assert type(decision.refusal) is Refused
    assert (refusal(decision).rule, refusal(decision).message) == (
        "R16",
        "SUB-1 is being renewed by auto-renew (since 2027-03-31); try again in a moment",
    )


def test_r21_a_term_refused_to_a_former_owner_refuses_with_r21() -> None:
    before = accepted().pay(PAY_AT, CARD, False).state
    moved = TermRefusal(rule="R21", reason="SUB-1 now belongs to customer 5100000002 (direct)")
    assert refusal(before.on(Reserved(refused=[moved]), PAY_AT)).rule == "R21"


def test_r16_a_refusal_without_a_rule_is_r16() -> None:
    before = accepted().pay(PAY_AT, CARD, False).state
    decision = before.on(Reserved(refused=[TermRefusal(rule="", reason="calendar down")]), PAY_AT)
    assert (refusal(decision).rule, refusal(decision).message) == (
        "R16",
        "calendar down; this quote can no longer be paid",
    )


def test_r17_accept_and_pay_refused_holds_auto_renew_and_writes_the_acceptance_and_the_failure() -> None:
    before = sent(total=TOTAL).pay(PAY_AT, CARD, True).state
    reason = "SUB-1 was renewed by Q-000007 on 2027-03-03"
    decision = before.on(Reserved(refused=[TermRefusal(rule="R16", reason=reason)]), PAY_AT)
    q = changed(before.quote, payment=None)
    message = f"{reason}; this quote can no longer be paid"
    assert decision.state == before.model_copy(
        update={"quote": q, "payment": None, "attached": {"SUB-1": True}, "unwritten": []}
    )
    assert decision.effects == [
        Attach(subscriptions=["SUB-1"], hold=True),
        Release(terms=[TERM]),
        save("payment failed", q, {"reason": message}, tuple(before.unwritten)),
    ]


def accept_and_pay_failing(how: str) -> list:
    """Every effect of accept and pay on a sent quote of two subscriptions, until the payment failed."""
    paying = sent(total=TOTAL, lines=two_lines()).pay(PAY_AT, CARD, True)
    effects, state = list(paying.effects), paying.state
    replies = {
        "declined": [Reserved(), Charged(outcome="declined", message="card declined")],
        "not charged": [Reserved(), Charged(outcome="unknown"), Found(charged=False)],
        "one term refused": [Reserved(refused=[TermRefusal(rule="R16", reason="SUB-2 was renewed by Q-000007")])],
    }[how]
    for reply in replies:
        decision = state.on(reply, PAY_AT)
        effects, state = [*effects, *decision.effects], decision.state
    assert isinstance(decision.refusal, Refused) and state.quote.state is QuoteState.ACCEPTED
    return effects


@pytest.mark.parametrize("how", ["declined", "not charged", "one term refused"])
def test_r17_accept_and_pay_holds_auto_renew_before_any_term_is_released(how: str) -> None:
    effects = accept_and_pay_failing(how)
    holds = [
        n
        for n, e in enumerate(effects)
        if (isinstance(e, Attach) and e.hold and "SUB-1" in e.subscriptions) or (isinstance(e, Reserve) and e.hold)
    ]
    releases = [n for n, e in enumerate(effects) if isinstance(e, Release)]
    assert releases and holds and holds[0] < releases[0]


def test_r20_a_payment_the_buyer_stopped_waiting_for_is_said_to_be_pending_once() -> None:
    before = charging()
    decision = before.payment_overdue()
    assert before.payment is not None
    attempt = before.payment.model_copy(update={"announced": True})
    assert decision.state == before.model_copy(update={"payment": attempt})
    assert decision.effects == [save("payment pending", before.quote)]
    assert before.payment.announced is False
    again = decision.state.payment_overdue()
    assert again.state is decision.state and again.effects == []


def test_r20_no_payment_no_pending_to_announce() -> None:
    before = accepted()
    decision = before.payment_overdue()
    assert decision.state is before and decision.effects == []


def test_r20_a_failure_after_the_buyer_stopped_waiting_is_written() -> None:
    before = charging().payment_overdue().state
    decision = before.on(Charged(outcome="declined", message="card declined"), PAY_AT)
    q = changed(before.quote, payment=None)
    assert decision.effects == [
        Release(terms=[TERM]),
        save("payment failed", q, {"reason": "card declined; nothing was charged"}),
    ]


def test_r16_a_charge_declined_releases_the_terms_and_leaves_the_quote_accepted() -> None:
    before = charging()
    decision = before.on(Charged(outcome="declined", message="card declined"), PAY_AT)
    q = changed(before.quote, payment=None)
    assert q.state is QuoteState.ACCEPTED
    assert decision.state == before.model_copy(update={"quote": q, "payment": None, "reserved": []})
    assert decision.effects == [Release(terms=[TERM])]
    assert type(decision.refusal) is PaymentDeclined
    assert (refusal(decision).rule, refusal(decision).message) == ("R16", "card declined; nothing was charged")
    assert decision.state.charge_asked is True  # an unpaid ending still refunds a late completion (R20)


def test_r20_a_charge_the_provider_already_refunded_is_refused_with_r20() -> None:
    before = charging()
    decision = before.on(Charged(outcome="refunded", message="the earlier charge was refunded"), PAY_AT)
    assert decision.effects == [Release(terms=[TERM])]
    assert type(decision.refusal) is Refused
    assert (refusal(decision).rule, refusal(decision).message) == ("R20", "the earlier charge was refunded")
    assert decision.state.payment is None and decision.state.quote.payment is None


def test_r20_a_charge_whose_answer_was_lost_is_asked_for_by_the_quotes_key() -> None:
    before = charging()
    decision = before.on(Charged(outcome="unknown", message="timeout"), PAY_AT)
    assert before.payment is not None
    assert decision.state == before.model_copy(
        update={"payment": before.payment.model_copy(update={"stage": "confirming"})}
    )
    assert decision.effects == [Find(amount=TOTAL, currency="EUR")]
    assert decision.refusal is None
    assert before.payment.stage == "charging"


def test_r20_a_provider_that_cannot_say_yet_is_asked_again_later_and_nothing_is_released() -> None:
    confirming = charging().on(Charged(outcome="unknown"), PAY_AT).state
    decision = confirming.on(Found(charged=None), PAY_AT)
    assert decision.state is confirming
    assert decision.effects == [Pause(seconds=ASK_AGAIN_SECONDS), Find(amount=TOTAL, currency="EUR")]
    assert ASK_AGAIN_SECONDS == 300
    assert decision.refusal is None
    assert confirming.reserved == [TERM] and confirming.quote.payment == "pending"


def test_r20_a_provider_that_confirms_nothing_was_charged_releases_then_declines() -> None:
    confirming = charging().on(Charged(outcome="unknown"), PAY_AT).state
    decision = confirming.on(Found(charged=False), PAY_AT)
    q = changed(confirming.quote, payment=None)
    assert decision.state == confirming.model_copy(update={"quote": q, "payment": None, "reserved": []})
    assert decision.effects == [Release(terms=[TERM])]
    assert type(decision.refusal) is PaymentDeclined
    assert refusal(decision).message == f"{DECLINED}; nothing was charged"


def test_r20_a_provider_that_confirms_the_charge_goes_on_to_renew() -> None:
    confirming = charging().on(Charged(outcome="unknown"), PAY_AT).state
    decision = confirming.on(Found(charged=True, reference="ch_9"), PAY_AT)
    assert decision.state.money_held is True
    assert decision.state.payment == PaymentAttempt(
        payment_method="pm_card_visa", by=BUYER, stage="renewing", charged="ch_9"
    )
    assert [type(effect) for effect in decision.effects] == [Renew]


def test_r20_a_charge_confirmed_without_a_reference_is_still_money_taken() -> None:
    confirming = charging().on(Charged(outcome="unknown"), PAY_AT).state
    decision = confirming.on(Found(charged=True), PAY_AT)
    assert decision.state.money_held is True and decision.state.payment.charged == ""
    taken = charging().on(Charged(outcome="charged"), PAY_AT).state
    assert taken.payment.charged == "" and taken.money_held is True


def test_r16_a_charge_taken_renews_the_reserved_terms() -> None:
    before = charging()
    decision = before.on(Charged(outcome="charged", reference="ch_1"), PAY_AT)
    assert before.payment is not None
    attempt = before.payment.model_copy(update={"stage": "renewing", "charged": "ch_1"})
    assert decision.state == before.model_copy(update={"payment": attempt, "money_held": True})
    assert decision.effects == [
        Renew(
            renewals=[
                TermRenewal(subscription_id="SUB-1", term_end=END, to_end_date=NEXT_END, seats=5, term=Term.ANNUAL)
            ]
        )
    ]
    assert before.money_held is False


def test_r10_r07_a_renewal_runs_the_quotes_seats_and_term_a_co_term_line_to_its_common_end() -> None:
    lines = [
        line(seats=3, term=Term.THREE_YEAR),
        QuoteLine.of(subscription(id="SUB-2"), co_term_end_date=date(2027, 6, 30)),
    ]
    decision = charging(lines=lines).on(Charged(outcome="charged", reference="ch_1"), PAY_AT)
    assert decision.effects == [
        Renew(
            renewals=[
                TermRenewal(
                    subscription_id="SUB-1", term_end=END, to_end_date=date(2030, 3, 31), seats=3, term=Term.THREE_YEAR
                ),
                TermRenewal(
                    subscription_id="SUB-2", term_end=END, to_end_date=date(2027, 6, 30), seats=5, term=Term.ANNUAL
                ),
            ]
        )
    ]


def test_r16_r03_the_terms_renewed_the_quote_is_paid_and_its_calendars_let_it_go() -> None:
    before = charged()
    decision = before.on(RenewedTerms(renewed={"SUB-1": NEXT_END}), PAY_AT)
    q = changed(
        before.quote,
        state=QuoteState.PAID,
        paid_at=PAY_AT,
        payment_reference="ch_1",
        ended_at=PAY_AT,
        payment=None,
    )
    assert decision.state == before.model_copy(
        update={
            "quote": q,
            "payment": None,
            "money_held": False,
            "reserved": [],
            "attached": {},
            "renewed": {"SUB-1": "2028-03-31"},
        }
    )
    # the calendar's renewal ended this quote's pending there: no Detach, no Release, no refund
    assert decision.effects == [
        save("paid", q, {"reference": "ch_1", "renewed": {"SUB-1": "2028-03-31"}, "by": BUYER}),
        Email(purpose="paid", quote=q),
    ]
    assert decision.refusal is None


def test_r03_a_subscription_the_renewal_did_not_reach_is_detached_when_paid() -> None:
    before = charged(lines=two_lines())
    decision = before.on(RenewedTerms(renewed={"SUB-1": NEXT_END}), PAY_AT)
    assert decision.state.quote.state is QuoteState.PAID
    assert decision.effects[2:] == [Detach(subscriptions=["SUB-2"])]
    assert decision.state.attached == {}


def test_r16_a_payment_by_nobody_named_is_paid_without_a_payer() -> None:
    anonymous = accepted().pay(PAY_AT, PayCommand(payment_method="pm_card_visa"), False).state
    taken = anonymous.on(Reserved(), PAY_AT).state.on(Charged(outcome="charged", reference="ch_1"), PAY_AT).state
    decision = taken.on(RenewedTerms(renewed={"SUB-1": NEXT_END}), PAY_AT)
    assert decision.effects[0] == save(
        "paid", decision.state.quote, {"reference": "ch_1", "renewed": {"SUB-1": "2028-03-31"}}
    )


def test_r16_accept_and_pay_writes_the_acceptance_with_the_payment() -> None:
    paying = sent(total=TOTAL).pay(PAY_AT, CARD, True).state
    accepted_step = paying.unwritten[0]
    taken = paying.on(Reserved(), PAY_AT).state.on(Charged(outcome="charged", reference="ch_1"), PAY_AT).state
    decision = taken.on(RenewedTerms(renewed={"SUB-1": NEXT_END}), PAY_AT)
    q = decision.state.quote
    assert decision.effects == [
        save("paid", q, {"reference": "ch_1", "renewed": {"SUB-1": "2028-03-31"}, "by": BUYER}, (accepted_step,)),
        Email(purpose="paid", quote=q),
    ]
    assert decision.state.unwritten == []


def test_r07_a_paid_new_purchase_becomes_subscriptions_then_is_paid() -> None:
    new_line = new_purchase_line()
    before = accepted(kind=QuoteKind.NEW, lines=[new_line]).pay(PAY_AT, CARD, False).state
    creating = before.on(Charged(outcome="charged", reference="ch_3"), PAY_AT)
    assert before.payment is not None
    attempt = before.payment.model_copy(update={"stage": "creating", "charged": "ch_3"})
    assert creating.state == before.model_copy(update={"payment": attempt, "money_held": True})
    assert creating.effects == [CreateSubscriptions(lines={1: new_line}, start=PAY_AT.date())]
    decision = creating.state.on(Created(subscriptions={"Q-000042-1": date(2028, 3, 3)}), PAY_AT)
    q = decision.state.quote
    assert q.state is QuoteState.PAID and q.payment_reference == "ch_3"
    assert (q.paid_at, q.ended_at) == (PAY_AT, PAY_AT)
    assert decision.state.renewed == {"Q-000042-1": "2028-03-03"}
    assert decision.state.money_held is False and decision.state.payment is None
    assert decision.effects == [
        save("paid", q, {"reference": "ch_3", "renewed": {"Q-000042-1": "2028-03-03"}, "by": BUYER}),
        Email(purpose="paid", quote=q),
    ]


def test_r20_a_new_purchase_whose_charge_the_provider_confirms_becomes_subscriptions() -> None:
    new_line = new_purchase_line()
    paying = accepted(kind=QuoteKind.NEW, lines=[new_line]).pay(PAY_AT, CARD, False).state
    confirming = paying.on(Charged(outcome="unknown"), PAY_AT).state
    decision = confirming.on(Found(charged=True, reference="ch_4"), PAY_AT + timedelta(days=1))
    assert decision.effects == [CreateSubscriptions(lines={1: new_line}, start=date(2027, 3, 5))]
    assert decision.state.payment is not None and decision.state.payment.charged == "ch_4"


def test_r16_a_term_renewed_for_a_quote_no_longer_pending_there_is_paid_all_the_same() -> None:
    before = charged().model_copy(update={"attached": {}})
    decision = before.on(RenewedTerms(renewed={"SUB-1": NEXT_END}), PAY_AT)
    q = decision.state.quote
    assert q.state is QuoteState.PAID
    assert decision.effects == [
        save("paid", q, {"reference": "ch_1", "renewed": {"SUB-1": "2028-03-31"}, "by": BUYER}),
        Email(purpose="paid", quote=q),
    ]


def test_r07_only_the_new_purchase_lines_become_subscriptions_numbered_by_their_line() -> None:
    new_line = new_purchase_line()
    paying = accepted(lines=[line(), new_line]).pay(PAY_AT, CARD, False).state.on(Reserved(), PAY_AT).state
    taken = paying.on(Charged(outcome="charged", reference="ch_1"), PAY_AT).state
    decision = taken.on(RenewedTerms(renewed={"SUB-1": NEXT_END}), PAY_AT)
    assert decision.effects == [CreateSubscriptions(lines={2: new_line}, start=PAY_AT.date())]
    assert decision.state.payment.stage == "creating" and decision.state.reserved == []
    assert decision.state.renewed == {"SUB-1": "2028-03-31"}


def test_r16_a_term_not_renewed_after_the_charge_gives_the_money_back() -> None:
    before = charged()
    reason = "SUB-1 was renewed by auto-renew on 2027-03-31"
    decision = before.on(RenewedTerms(not_renewed={"SUB-1": reason}), PAY_AT)
    assert before.payment is not None
    attempt = before.payment.model_copy(update={"stage": "refunding", "not_renewed": reason})
    assert decision.state == before.model_copy(update={"payment": attempt, "reserved": []})
    assert decision.effects == [Release(terms=[TERM]), Refund()]
    assert decision.refusal is None


def test_r16_the_money_refunded_the_quote_is_cancelled_by_the_system_and_the_buyer_told_why() -> None:
    reason = "SUB-1 was renewed by auto-renew on 2027-03-31"
    refunding = charged().on(RenewedTerms(not_renewed={"SUB-1": reason}), PAY_AT).state
    decision = refunding.on(Refunded(refunded=True), PAY_AT)
    q = changed(
        refunding.quote,
        state=QuoteState.CANCELLED,
        cancelled_by="system",
        cancel_reason=f"not renewed: {reason}; the payment was refunded",
        ended_at=PAY_AT,
        payment=None,
    )
    assert decision.state == refunding.model_copy(
        update={"quote": q, "payment": None, "money_held": False, "refund_done": True, "attached": {}}
    )
    assert decision.effects == [
        save("cancelled", q, {"by": "system", "reason": f"not renewed: {reason}; the payment was refunded"}),
        Detach(subscriptions=["SUB-1"]),
    ]
    assert (refusal(decision).rule, refusal(decision).message) == ("R16", f"{reason}; the payment was refunded")


def test_r16_offline_money_not_renewed_for_is_returned_by_a_person() -> None:
    refunding = charged().on(RenewedTerms(not_renewed={"SUB-1": "lapsed"}), PAY_AT).state
    decision = refunding.on(Refunded(refunded=False, offline=True), PAY_AT)
    assert decision.state.quote.cancel_reason == "not renewed: lapsed; it will be returned to you"
    assert (refusal(decision).rule, refusal(decision).message) == ("R16", "lapsed; it will be returned to you")
    assert decision.state.money_held is True  # until the person returns it
    assert decision.state.refund_done is True


def test_r16_every_term_not_renewed_is_named() -> None:
    refunding = charged(lines=two_lines()).on(RenewedTerms(not_renewed={"SUB-1": "a", "SUB-2": "b"}), PAY_AT).state
    assert refunding.payment is not None and refunding.payment.not_renewed == "a; b"
    decision = refunding.on(Refunded(refunded=True), PAY_AT)
    assert refusal(decision).message == "a; b; the payment was refunded"


def test_r16_a_term_not_renewed_without_a_reason_still_says_so() -> None:
    refunding = charged().on(RenewedTerms(not_renewed={"SUB-1": ""}), PAY_AT).state
    decision = refunding.on(Refunded(refunded=True), PAY_AT)
    assert refusal(decision).message == "a term did not renew; the payment was refunded"


# R20: whatever ends the quote unpaid settles it.


def test_r20_a_quote_that_expires_after_a_card_charge_was_asked_refunds_a_late_completion() -> None:
    before = declined()
    decision = before.expire(EXPIRES)
    q = changed(before.quote, state=QuoteState.EXPIRED, ended_at=EXPIRES)
    assert decision.effects == [save("expired", q), Detach(subscriptions=["SUB-1"]), Refund(key_only=True)]
    answered = decision.state.on(Refunded(refunded=False), EXPIRES)
    assert answered.state == decision.state.model_copy(update={"refund_done": True})
    assert answered.effects == [] and answered.refusal is None


def test_r20_a_late_completion_refunded_is_no_longer_money_held() -> None:
    ended = declined().model_copy(update={"money_held": True}).expire(EXPIRES).state
    assert ended.on(Refunded(refunded=True), EXPIRES).state.money_held is False
    assert ended.on(Refunded(refunded=True, offline=True), EXPIRES).state.money_held is True


@pytest.mark.parametrize(
    ("end", "ending"),
    [
        (lambda agg: agg.cancel(PAY_AT, "sales"), [Save, Detach, Refund]),
        (lambda agg: agg.expire(EXPIRES), [Save, Detach, Refund]),
        (lambda agg: agg.supersede(PAY_AT, "superseded by auto-renew", "renewed"), [Save, Email, Detach, Refund]),
    ],
)
def test_r20_every_unpaid_ending_after_a_card_charge_was_asked_refunds_and_detaches(end, ending) -> None:
    decision = end(declined())
    assert [type(effect) for effect in decision.effects] == ending
    assert decision.effects[-2:] == [Detach(subscriptions=["SUB-1"]), Refund(key_only=True)]
    assert decision.state.attached == {}


def test_r20_r23_a_sent_original_replaced_after_a_card_charge_was_asked_refunds() -> None:
    before = sent().model_copy(update={"charge_asked": True})
    decision = before.replace(LATER, "Q-000050")
    assert decision.effects[-2:] == [Detach(subscriptions=["SUB-1"]), Refund(key_only=True)]


def test_r20_a_quote_stopped_during_its_payment_releases_its_terms_and_refunds() -> None:
    before = charging()
    decision = before.stop("SUB-1 cannot be attached: it lapsed")
    assert decision.state == before.model_copy(
        update={
            "quote": changed(before.quote, payment=None),  # never "payment being confirmed" again
            "stopped": "SUB-1 cannot be attached: it lapsed",
            "payment": None,
            "reserved": [],
            "attached": {},
        }
    )
    assert decision.effects == [Detach(subscriptions=["SUB-1"]), Release(terms=[TERM]), Refund(key_only=True)]


def test_r20_an_accepted_quote_stopped_lets_go_of_every_term_it_may_hold_and_refunds() -> None:
    """A failed payment holds again before it releases: a hold that failed may have left its terms reserved."""
    before = declined()
    assert before.reserved == []
    decision = before.stop("SUB-1 cannot be attached: it lapsed")
    assert decision.state == before.model_copy(
        update={"stopped": "SUB-1 cannot be attached: it lapsed", "attached": {}}
    )
    assert decision.effects == [Detach(subscriptions=["SUB-1"]), Release(terms=[TERM]), Refund(key_only=True)]


def test_r20_a_sent_quote_stopped_releases_nothing() -> None:
    before = sent()
    decision = before.stop("bad data")
    assert decision.state == before.model_copy(update={"stopped": "bad data", "attached": {}})
    assert decision.effects == [Detach(subscriptions=["SUB-1"])]


def test_r20_a_quote_stopped_before_any_payment_only_detaches() -> None:
    before = draft()
    decision = before.stop("bad data")
    assert decision.state == before.model_copy(update={"stopped": "bad data", "attached": {}})
    assert decision.effects == [Detach(subscriptions=["SUB-1"])]


def test_r20_no_refund_without_a_card_charge_or_once_it_was_answered() -> None:
    assert accepted().expire(EXPIRES).effects[-1] == Detach(subscriptions=["SUB-1"])
    offline = accepted().pay(PAY_AT, BANK, False).state.on(Reserved(), PAY_AT).state
    ended = offline.on(Charged(outcome="declined", message="no transfer"), PAY_AT).state.expire(EXPIRES)
    assert not any(isinstance(e, Refund) for e in ended.effects)
    answered = declined().model_copy(update={"refund_done": True}).expire(EXPIRES)
    assert not any(isinstance(e, Refund) for e in answered.effects)


def test_r20_a_paid_quote_refunds_nothing() -> None:
    decision = charged().on(RenewedTerms(renewed={"SUB-1": NEXT_END}), PAY_AT)
    assert decision.state.charge_asked is True
    assert not any(isinstance(e, Refund) for e in decision.effects)


def test_r20_a_stopped_paid_quote_refunds_nothing() -> None:
    paid = charged().on(RenewedTerms(renewed={"SUB-1": NEXT_END}), PAY_AT).state
    assert paid.stop("the webhook receiver is gone").effects == []


def test_r20_a_pause_over_changes_nothing() -> None:
    before = charging()
    decision = before.on(Paused(), PAY_AT)
    assert decision.state is before and decision.effects == [] and decision.refusal is None


def test_r21_a_term_given_to_another_owner_ends_the_quote_and_lets_go_of_everything() -> None:
    """The store already gives a subscription to another owner (a load its calendar has not taken yet): on
    518b699 the quote stayed accepted, holding the new owner's auto-renew until it expired."""
    before = accepted(lines=two_lines()).pay(PAY_AT, CARD, False).state
    moved = TermRefusal(rule="R21", reason="SUB-1 now belongs to customer 5100000002 (direct)")
    decision = before.on(Reserved(refused=[moved]), PAY_AT)
    why = "SUB-1 now belongs to customer 5100000002 (direct)"
    q = changed(
        before.quote,
        state=QuoteState.CANCELLED,
        cancelled_by="system",
        cancel_reason=why,
        superseded_because=why,
        ended_at=PAY_AT,
        payment=None,
    )
    assert decision.state == before.model_copy(update={"quote": q, "payment": None, "reserved": [], "attached": {}})
    assert decision.effects == [
        save("cancelled", q, {"by": "system", "reason": why}),
        Email(purpose="superseded", quote=q),
        Detach(subscriptions=list(before.attached)),
        Release(terms=[TERM, TERM_2]),
    ]
    assert (refusal(decision).rule, refusal(decision).message) == (
        "R21",
        "SUB-1 now belongs to customer 5100000002 (direct); this quote can no longer be paid",
    )


# R27: the buyer's purchase order number.


def test_r27_accepting_keeps_the_purchase_order_and_writes_it_with_the_acceptance() -> None:
    before = sent()
    decision = before.accept(LATER, BUYER, purchase_order="PO-4711")
    assert decision.state.quote.purchase_order == "PO-4711"
    assert decision.state.quote.json_view()["purchase_order"] == "PO-4711"
    save_effect = decision.effects[-1]
    assert isinstance(save_effect, Save) and save_effect.detail == {"by": BUYER, "purchase_order": "PO-4711"}


def test_r27_accept_and_pay_keeps_the_purchase_order_on_the_accepted_step() -> None:
    paying = sent(total=TOTAL).pay(LATER, CARD.model_copy(update={"purchase_order": "4500012345"}), True).state
    assert paying.quote.purchase_order == "4500012345"
    assert [step.quote.purchase_order for step in paying.unwritten] == ["4500012345"]
    assert paying.payment is not None and "purchase_order" not in paying.payment.model_dump()


def test_r27_a_purchase_order_given_when_paying_an_accepted_quote_is_written_even_if_the_card_fails() -> None:
    paying = accepted().pay(PAY_AT, CARD.model_copy(update={"purchase_order": "PO-9"}), True).state
    assert paying.quote.purchase_order == "PO-9" and [s.event for s in paying.unwritten] == ["purchase order given"]
    failed = paying.on(Reserved(), PAY_AT).state.on(Charged(outcome="declined", message="no"), PAY_AT)
    saves = [e for e in failed.effects if isinstance(e, Save)]
    assert [s.event for s in saves[0].steps] == ["purchase order given", "payment failed"]


@pytest.mark.parametrize(
    ("given", "words"),
    [("P" * 36, "at most 35 characters; 36 given"), ("PO\n1", "a control character"), ("PO\u202e1", "bidirectional")],
)
def test_r27_a_purchase_order_too_long_or_unprintable_is_refused_naming_r27(given: str, words: str) -> None:
    for decision in (
        sent().accept(LATER, BUYER, purchase_order=given),
        sent().pay(LATER, CARD.model_copy(update={"purchase_order": given}), True),
    ):
        err = refusal(decision)
        assert err.rule == "R27" and words in err.message and decision.effects == []


# R26: the buyer's answer.


def test_r26_a_request_for_changes_is_kept_written_announced_and_told_to_the_maker_the_state_stays() -> None:
    before = sent()
    decision = before.answer(LATER, "changes_requested", "  Five seats, not four.\r\nThanks ", by=BUYER)
    after = decision.state.quote
    assert after.state is QuoteState.SENT and after.revision == before.quote.revision + 1
    assert [(a.kind, a.reason, a.message, a.by, a.at) for a in after.answers] == [
        ("changes_requested", None, "Five seats, not four.\nThanks", BUYER, LATER)
    ]
    assert decision.effects == [
        save("changes_requested", after, {"reason": None, "by": BUYER}),
        TellMaker(quote=after, answer=1),
    ]
    assert after.details().endswith("buyer asks for changes") and "Five" not in after.details()
    assert after.json_view()["answers"][0]["kind"] == "changes_requested"


def test_r26_an_accepted_quote_may_be_declined_with_a_reason_and_stays_accepted_holding_auto_renew() -> None:
    before = accepted()
    decision = before.answer(LATER, "declined", "Too expensive this year", DeclineReason.PRICE)
    after = decision.state
    assert after.quote.state is QuoteState.ACCEPTED and after.attached == before.attached
    assert after.quote.answers[0].reason is DeclineReason.PRICE
    assert decision.effects[-1] == TellMaker(quote=after.quote, answer=1)
    assert not any(isinstance(e, (Detach, Release, Email)) for e in decision.effects)


@pytest.mark.parametrize(
    ("state", "kind", "reason", "message", "rule", "words"),
    [
        ("draft", "changes_requested", None, "x", "R26", "only a sent or accepted quote can be answered"),
        ("sent", "declined", None, "no", "R26", "a decline gives its reason"),
        ("sent", "changes_requested", DeclineReason.PRICE, "x", "R26", "a reason goes with a decline"),
        ("sent", "changes_requested", None, "   ", "R26", "the message is empty"),
        ("sent", "changes_requested", None, "x" * 2001, "R26", "at most 2000 characters; 2001 given"),
        ("sent", "changes_requested", None, "a\x00b", "R26", "a control character"),
        ("cancelled", "changes_requested", None, "x", "lifecycle", "can no longer be answered"),
    ],
)
def test_r26_an_answer_is_refused_naming_its_rule_and_nothing_changes(
    state, kind, reason, message, rule, words
) -> None:
    before = {"draft": draft(), "sent": sent(), "cancelled": sent().cancel(LATER, "sales").state}[state]
    decision = before.answer(LATER, kind, message, reason)
    err = refusal(decision)
    assert (err.rule, decision.effects, decision.state) == (rule, [], before) and words in err.message


def test_r26_an_expired_quote_or_the_twenty_first_answer_is_refused() -> None:
    assert refusal(sent().answer(EXPIRES, "changes_requested", "x")).rule == "R15"
    busy = sent()
    for n in range(20):
        busy = busy.answer(LATER, "changes_requested", f"change {n}").state
    err = refusal(busy.answer(LATER, "changes_requested", "one more"))
    assert err.rule == "R26" and "20 answers already" in err.message


# Sales and ops: extend and resend.


def test_r15_extend_moves_the_expiry_and_writes_where_from_but_never_past_the_window_close() -> None:
    before = sent()
    latest = before.quote.latest_expiry()
    assert latest is not None
    decision = before.extend(LATER, latest, "ops")
    assert decision.state.quote.expires_at == latest and decision.state.quote.state is QuoteState.SENT
    assert decision.effects == [
        save("extended", decision.state.quote, {"from": EXPIRES.isoformat(), "until": latest.isoformat(), "by": "ops"})
    ]
    assert refusal(before.extend(LATER, latest + timedelta(days=1))).rule == "R15"
    assert refusal(before.extend(LATER, EXPIRES)).rule == "R15"
    assert refusal(draft().extend(LATER, latest)).rule == "lifecycle"


def test_resend_mails_every_recipient_or_the_ones_named_each_time_as_a_message_of_its_own() -> None:
    before = sent(recipients=["cfo@acme.example"])
    first = before.resend(LATER)
    second = first.state.resend(LATER, ["CFO@acme.example"])
    assert [e for e in first.effects if isinstance(e, Email)] == [
        Email(purpose="quote", quote=first.state.quote, to=[BUYER, "cfo@acme.example"], resend=1)
    ]
    assert [e for e in second.effects if isinstance(e, Email)] == [
        Email(purpose="quote", quote=second.state.quote, to=["cfo@acme.example"], resend=2)
    ]
    assert refusal(before.resend(LATER, ["x@other.example"])).rule == "R04"
    assert refusal(draft().resend(LATER)).rule == "lifecycle"


def test_r26_the_same_answer_again_is_taken_once_and_emailed_once() -> None:
    once = sent().answer(LATER, "declined", "Too dear", DeclineReason.PRICE, BUYER).state
    again = once.answer(LATER + timedelta(seconds=1), "declined", " Too dear ", DeclineReason.PRICE, BUYER)
    assert (again.state, again.effects, again.refusal) == (once, [], None)
    other = once.answer(LATER, "declined", "Too dear", DeclineReason.PRICE, "cfo@acme.example")
    assert len(other.state.quote.answers) == 2


def test_r15_a_new_purchase_quote_is_extended_at_most_90_days_from_now() -> None:
    new = sent(lines=[new_purchase_line()], kind=QuoteKind.NEW)
    assert new.quote.latest_expiry() is None
    assert new.extend(LATER, LATER + timedelta(days=90)).refusal is None
    err = refusal(new.extend(LATER, LATER + timedelta(days=91)))
    assert err.rule == "R15" and "90 days from now" in err.message
