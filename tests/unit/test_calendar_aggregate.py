"""A subscription's calendar as a pure aggregate (domain/calendar_aggregate.py): every decision of `Calendar`,
its new state (to the version), its effects in order and its answer or refusal. What holds auto-renew and
what it returns to (R02, R03 amended, R17), a term reserved and renewed once (R16), its dates (R01, R12), a
load's row (R18) and a new owner (R21). No Temporal server: each test calls the aggregate in its body."""

from datetime import UTC, date, datetime, timedelta
from decimal import Decimal

import pytest

from domain.calendar_aggregate import (
    AUTO_RENEWER,
    ELSEWHERE,
    Announce,
    Calendar,
    ConfirmRenewal,
    Owner,
    Reservation,
    Supersede,
    TermRefusal,
)
from domain.errors import Refused
from domain.models import PurchaseMethod, Term
from domain.webhooks import WebhookEvent
from tests.unit.test_eligibility import END, subscription

# The term ending 2027-03-31 (END): its auto quote, its renewal and its window's close (tests/unit/test_calendar.py).
AUTO_QUOTE = datetime(2027, 3, 1, tzinfo=UTC)
DUE = datetime(2027, 3, 31, tzinfo=UTC)
CLOSES = datetime(2027, 5, 16, tzinfo=UTC)
OPENS = datetime(2026, 12, 31, tzinfo=UTC)
TICK = timedelta(microseconds=1)
NOW = datetime(2027, 3, 5, 10, tzinfo=UTC)
NEXT_END = date(2028, 3, 31)
OWNER = Owner(csn="5100000001", purchase_method=PurchaseMethod.DIRECT)


def calendar(sub=None, **state) -> Calendar:
    return Calendar(subscription=sub or subscription(), **state)


def switched(sub, held_by=()) -> Announce:
    return Announce(event="subscription.auto_renew_changed", subscription=sub, held_by=list(held_by))


def renewed(sub, held_by=()) -> Announce:
    return Announce(event="subscription.renewed", subscription=sub, held_by=list(held_by))


def reserved(holder: str = "Q-000001", since: datetime = NOW, term_end: date = END) -> Reservation:
    return Reservation(holder=holder, term_end=term_end, since=since)


def refused(decision) -> Refused:
    assert isinstance(decision.refusal, Refused)
    return decision.refusal


# Quotes pending on the subscription: R02, R17 hold; R03 (amended) restores.


def test_r02_the_first_hold_turns_auto_renew_off_and_keeps_its_value_before() -> None:
    before = calendar()
    decision = before.attach("Q-000001", hold=True)
    off = subscription(auto_renew=False)
    assert decision.state == calendar(off, pending={"Q-000001": True}, restore_to=True, version=1)
    assert decision.effects == [switched(off, ["Q-000001"])]
    assert (decision.refusal, decision.answer) == (None, None)
    assert before == calendar()  # pure: the calendar it was asked of is left as it was


def test_r02_a_hold_on_a_switch_already_off_keeps_off_as_its_value_before_and_announces_nothing() -> None:
    off = subscription(auto_renew=False)
    decision = calendar(off).attach("Q-000001", hold=True)
    assert decision.state == calendar(off, pending={"Q-000001": True}, restore_to=False, version=1)
    assert decision.effects == []


def test_r17_a_quote_that_holds_nothing_is_pending_and_leaves_the_switch_alone() -> None:
    decision = calendar().attach("Q-000001", hold=False)
    assert decision.state == calendar(pending={"Q-000001": False}, version=1)
    assert decision.effects == []


def test_r02_a_second_holder_keeps_the_value_before_the_first() -> None:
    first = calendar().attach("Q-000001", hold=True).state
    decision = first.attach("Q-000002", hold=True)
    off = subscription(auto_renew=False)
    assert decision.state == calendar(off, pending={"Q-000001": True, "Q-000002": True}, restore_to=True, version=2)
    assert decision.effects == []


def test_r17_a_pending_quote_that_comes_to_hold_is_the_first_hold() -> None:
    pending = calendar().attach("Q-000001", hold=False).state
    decision = pending.attach("Q-000001", hold=True)
    off = subscription(auto_renew=False)
    assert decision.state == calendar(off, pending={"Q-000001": True}, restore_to=True, version=2)
    assert decision.effects == [switched(off, ["Q-000001"])]


def test_r17_a_holder_attached_again_without_hold_still_holds() -> None:
    held = calendar().attach("Q-000001", hold=True).state
    decision = held.attach("Q-000001", hold=False)
    assert decision.state == held.model_copy(update={"version": 2})
    assert decision.effects == []


def test_r03_the_last_holder_leaving_returns_auto_renew_to_its_value_before_the_first_hold() -> None:
    held = calendar().attach("Q-000001", hold=True).state
    decision = held.detach("Q-000001")
    assert decision.state == calendar(version=2)
    assert decision.effects == [switched(subscription())]


def test_r03_two_holders_restore_only_when_the_last_leaves() -> None:
    held = calendar().attach("Q-000001", hold=True).state.attach("Q-000002", hold=True).state
    off = subscription(auto_renew=False)
    one_left = held.detach("Q-000001")
    assert one_left.state == calendar(off, pending={"Q-000002": True}, restore_to=True, version=3)
    assert one_left.effects == []
    none_left = one_left.state.detach("Q-000002")
    assert none_left.state == calendar(version=4)
    assert none_left.effects == [switched(subscription())]


def test_r03_a_holder_leaving_while_a_quote_that_holds_nothing_stays_restores() -> None:
    both = calendar().attach("Q-000001", hold=False).state.attach("Q-000002", hold=True).state
    decision = both.detach("Q-000002")
    assert decision.state == calendar(pending={"Q-000001": False}, version=3)
    assert decision.effects == [switched(subscription())]


def test_r03_a_quote_that_held_nothing_leaves_auto_renew_as_it_is() -> None:
    off = subscription(auto_renew=False)
    pending = calendar(off).attach("Q-000001", hold=False).state
    decision = pending.detach("Q-000001")
    assert decision.state == calendar(off, version=2)
    assert decision.effects == []
    # ... even one the buyer switched on meanwhile (no hold: the switch was theirs)
    on = pending.set_auto_renew(True).state
    assert on.detach("Q-000001").state == calendar(version=3)


def test_r03_a_hold_on_a_switch_that_was_off_returns_it_off() -> None:
    off = subscription(auto_renew=False)
    held = calendar(off).attach("Q-000001", hold=True).state
    decision = held.detach("Q-000001")
    assert decision.state == calendar(off, version=2)
    assert decision.effects == []


def test_r03_a_quote_not_pending_is_detached_without_a_change() -> None:
    held = calendar().attach("Q-000001", hold=True).state
    decision = held.detach("Q-000002")
    assert decision.state is held and decision.effects == []


# The buyer's switch (R02).


def test_r02_the_switch_is_refused_while_a_quote_holds_it() -> None:
    held = calendar().attach("Q-000001", hold=True).state.attach("Q-000002", hold=True).state
    decision = held.set_auto_renew(True)
    assert decision.state is held and decision.effects == []
    assert (refused(decision).rule, refused(decision).message) == (
        "R02",
        "auto-renew of SUB-1 is held by quote Q-000001, Q-000002 until it ends",
    )


def test_r02_the_switch_is_refused_while_auto_renew_is_renewing_the_term() -> None:
    renewing = calendar().start_auto_renew(DUE).state
    decision = renewing.set_auto_renew(False)
    assert decision.state is renewing and decision.effects == []
    assert (refused(decision).rule, refused(decision).message) == (
        "R02",
        "SUB-1 is being auto-renewed right now; switch it for the next term in a moment",
    )


def test_r02_the_switch_is_taken_while_a_quote_pays_the_term_and_clears_a_failed_auto_renew() -> None:
    busy = calendar(reservation=reserved(), auto_renew_error="no price for AutoCAD annual in EUR")
    decision = busy.set_auto_renew(False)
    off = subscription(auto_renew=False)
    assert decision.state == calendar(off, reservation=reserved(), version=1)
    assert decision.effects == [switched(off)]
    assert decision.refusal is None


def test_r02_the_switch_set_to_what_it_is_announces_nothing() -> None:
    decision = calendar().set_auto_renew(True)
    assert decision.state == calendar(version=1)
    assert decision.effects == []


def test_r02_a_quote_pending_without_a_hold_does_not_stop_the_switch() -> None:
    pending = calendar().attach("Q-000001", hold=False).state
    decision = pending.set_auto_renew(False)
    off = subscription(auto_renew=False)
    assert decision.state == calendar(off, pending={"Q-000001": False}, version=2)
    assert decision.effects == [switched(off)]


# The payment saga: reserve, then renew or release (R16, R21).


def test_r16_a_term_is_reserved_for_its_holder() -> None:
    before = calendar()
    decision = before.reserve("Q-000001", END, OWNER, NOW)
    assert decision.state == calendar(reservation=reserved(), version=1)
    assert (decision.effects, decision.answer, decision.refusal) == ([], None, None)
    assert before == calendar()


def test_r17_an_accepted_quote_reserving_its_term_holds_auto_renew_in_the_same_step() -> None:
    """The hold is taken with the reservation; the switch stays as it is while the term is reserved (nothing
    can auto-renew it then), so a payment that goes through never flaps it off and on."""
    before = calendar()
    decision = before.reserve("Q-000001", END, OWNER, NOW, hold=True)
    assert decision.state == calendar(pending={"Q-000001": True}, restore_to=True, reservation=reserved(), version=1)
    assert decision.effects == []
    assert decision.answer is None and decision.refusal is None
    assert before == calendar()


def test_r17_a_hold_taken_with_a_reservation_switches_auto_renew_off_once_the_term_is_released() -> None:
    reserving = calendar().reserve("Q-000001", END, OWNER, NOW, hold=True).state
    decision = reserving.release("Q-000001", END)
    off = subscription(auto_renew=False)
    assert decision.state == calendar(off, pending={"Q-000001": True}, restore_to=True, version=2)
    assert decision.effects == [switched(off, ["Q-000001"])]


def test_r03_a_hold_taken_with_a_reservation_ends_with_the_renewal_and_the_switch_never_moves() -> None:
    reserving = calendar().reserve("Q-000001", END, OWNER, NOW, hold=True).state
    decision = reserving.renew("Q-000001", END, END.replace(year=END.year + 1), 5, reserving.sub.term, NOW)
    assert decision.state.sub.auto_renew is True and decision.state.pending == {}
    assert not any(getattr(e, "event", "") == "subscription.auto_renew_changed" for e in decision.effects)


def test_r17_a_pending_quote_that_reserves_with_hold_comes_to_hold() -> None:
    pending = calendar().attach("Q-000001", hold=False).state
    decision = pending.reserve("Q-000001", END, OWNER, NOW, hold=True)
    assert decision.state == calendar(pending={"Q-000001": True}, restore_to=True, reservation=reserved(), version=2)
    assert decision.effects == []


def test_r17_a_quote_that_holds_already_reserves_with_hold_without_attaching_again() -> None:
    held = calendar().attach("Q-000001", hold=True).state
    decision = held.reserve("Q-000001", END, OWNER, NOW, hold=True)
    assert decision.state == held.model_copy(update={"reservation": reserved(), "version": 2})
    assert decision.effects == []
    assert held.reservation is None
    again = decision.state.reserve("Q-000001", END, OWNER, NOW, hold=True)
    assert again.state is decision.state and again.effects == []


def test_r17_a_refused_reservation_holds_nothing() -> None:
    busy = calendar(reservation=reserved("Q-000002"))
    decision = busy.reserve("Q-000001", END, OWNER, NOW, hold=True)
    assert decision.state is busy and decision.effects == []
    assert isinstance(decision.answer, TermRefusal) and decision.answer.retry_later is True


def test_r16_a_term_reserved_again_by_its_holder_is_granted_unchanged() -> None:
    held = calendar(reservation=reserved(), version=3)
    decision = held.reserve("Q-000001", END, OWNER, NOW + timedelta(hours=1))
    assert decision.state is held
    assert decision.answer is None


def test_r20_a_term_its_holder_renewed_is_granted_again_so_a_retried_payment_goes_on() -> None:
    done = calendar(claims={END.isoformat(): "Q-000001"})
    decision = done.reserve("Q-000001", END, OWNER, NOW)
    assert decision.state is done and decision.answer is None


def test_r16_a_term_renewed_by_another_is_refused_with_who_and_when() -> None:
    done = calendar(claims={END.isoformat(): "Q-000002"}, renewed_on={END.isoformat(): date(2027, 3, 4)})
    decision = done.reserve("Q-000001", END, OWNER, NOW)
    assert decision.state is done
    assert decision.answer == TermRefusal(
        rule="R16", reason="SUB-1 was renewed by Q-000002 on 2027-03-04", holder="Q-000002"
    )


def test_r16_a_term_renewed_on_an_unknown_day_names_who() -> None:
    done = calendar(claims={END.isoformat(): ELSEWHERE})
    assert done.reserve("Q-000001", END, OWNER, NOW).answer == TermRefusal(
        rule="R16", reason="SUB-1 was renewed by the source system", holder="the source system"
    )


def test_r16_a_term_that_is_no_longer_the_current_one_is_refused() -> None:
    decision = calendar().reserve("Q-000001", date(2026, 3, 31), OWNER, NOW)
    assert decision.answer == TermRefusal(
        rule="R16", reason="SUB-1 now runs until 2027-03-31; its term ending 2026-03-31 is no longer open"
    )


@pytest.mark.parametrize(
    ("owner", "now_owner"),
    [
        (Owner(csn="5100000002", purchase_method=PurchaseMethod.DIRECT), "customer 5100000001 (direct)"),
        (
            Owner(csn="5100000001", purchase_method=PurchaseMethod.PARTNER, partner_csn="5200000001"),
            "customer 5100000001 (direct)",
        ),
    ],
)
def test_r21_a_term_is_refused_to_a_quote_of_a_former_owner(owner: Owner, now_owner: str) -> None:
    before = calendar()
    decision = before.reserve("Q-000001", END, owner, NOW)
    assert decision.state is before
    assert decision.answer == TermRefusal(
        rule="R21", reason=f"SUB-1 now belongs to {now_owner}; only a quote of its current owner can renew it"
    )


def test_r21_a_term_moved_to_a_partner_is_refused_to_the_direct_quote() -> None:
    moved = calendar(subscription(purchase_method="partner", partner_csn="5200000001"))
    assert moved.reserve("Q-000001", END, OWNER, NOW).answer == TermRefusal(
        rule="R21",
        reason="SUB-1 now belongs to customer 5100000001 (through partner 5200000001); "
        "only a quote of its current owner can renew it",
    )


def test_r16_a_reservation_without_an_owner_is_not_checked_for_one() -> None:
    decision = calendar().reserve("Q-000001", END, None, NOW)
    assert decision.state == calendar(reservation=reserved(), version=1)


def test_r01_a_term_is_reserved_until_its_window_closes() -> None:
    last = CLOSES - TICK
    assert calendar().reserve("Q-000001", END, OWNER, last).state.reservation == reserved(since=last)
    closed = calendar().reserve("Q-000001", END, OWNER, CLOSES)
    assert closed.state == calendar()
    assert closed.answer == TermRefusal(rule="R01", reason="the renewal window of SUB-1 closed on 2027-05-15")


def test_r01_a_lapsing_term_is_refused_even_before_the_window_closes() -> None:
    lapsing = calendar().start_lapse().state
    assert lapsing.reserve("Q-000001", END, OWNER, NOW).answer == TermRefusal(
        rule="R01", reason="the renewal window of SUB-1 closed on 2027-05-15"
    )


def test_r16_a_term_reserved_for_its_holder_stays_granted_when_the_window_closes() -> None:
    held = calendar(reservation=reserved(), lapsing=True)
    decision = held.reserve("Q-000001", END, OWNER, CLOSES)
    assert decision.state is held and decision.answer is None


def test_r16_a_term_another_quote_is_paying_for_is_refused_for_now() -> None:
    held = calendar(reservation=reserved("Q-000002", since=datetime(2027, 3, 4, 23, 59, tzinfo=UTC)))
    decision = held.reserve("Q-000001", END, OWNER, NOW)
    assert decision.state is held
    assert decision.answer == TermRefusal(
        rule="R16",
        reason="SUB-1 is being renewed by Q-000002 (since 2027-03-04)",
        holder="Q-000002",
        retry_later=True,
    )


def test_r16_a_term_being_auto_renewed_is_refused_for_now() -> None:
    renewing = calendar().start_auto_renew(DUE).state
    assert renewing.reserve("Q-000001", END, OWNER, DUE).answer == TermRefusal(
        rule="R16",
        reason="SUB-1 is being renewed by auto-renew (since 2027-03-31)",
        holder="auto-renew",
        retry_later=True,
    )


def test_r16_a_release_by_its_holder_opens_the_term_again() -> None:
    held = calendar(reservation=reserved(), version=1)
    decision = held.release("Q-000001", END)
    assert decision.state == calendar(version=2)
    assert decision.effects == []


@pytest.mark.parametrize(("holder", "term_end"), [("Q-000002", END), ("Q-000001", date(2026, 3, 31))])
def test_r16_a_release_by_another_or_of_another_term_changes_nothing(holder: str, term_end: date) -> None:
    held = calendar(reservation=reserved(), version=1)
    decision = held.release(holder, term_end)
    assert decision.state is held


def test_r16_a_release_of_an_open_term_changes_nothing() -> None:
    open_term = calendar()
    assert open_term.release("Q-000001", END).state is open_term


def test_r16_the_holder_renews_its_term_once_and_the_next_term_begins() -> None:
    held = calendar(reservation=reserved(), auto_quote="Q-000009", version=1)
    decision = held.renew("Q-000001", END, NEXT_END, 3, Term.THREE_YEAR, NOW)
    next_term = subscription(end_date=NEXT_END, seats=3, term="3-year")
    assert decision.state == calendar(
        next_term,
        claims={"2027-03-31": "Q-000001"},
        renewed_on={"2027-03-31": date(2027, 3, 5)},
        version=2,
        term_closed=True,
    )
    assert decision.effects == [renewed(next_term)]
    assert decision.answer is None
    again = decision.state.renew("Q-000001", END, NEXT_END, 3, Term.THREE_YEAR, NOW)
    assert again.state is decision.state and again.effects == [] and again.answer is None


def test_r16_a_renewal_supersedes_every_other_pending_quote() -> None:
    pending = calendar().attach("Q-000002", hold=False).state.attach("Q-000003", hold=False).state
    held = pending.attach("Q-000001", hold=False).state.reserve("Q-000001", END, OWNER, NOW).state
    decision = held.renew("Q-000001", END, NEXT_END, 5, Term.ANNUAL, NOW)
    next_term = subscription(end_date=NEXT_END)
    detail = "SUB-1 was renewed by Q-000001 on 2027-03-05"
    assert decision.effects == [
        Supersede(quote="Q-000002", reason="superseded by Q-000001", detail=detail),
        Supersede(quote="Q-000003", reason="superseded by Q-000001", detail=detail),
        renewed(next_term),
    ]
    assert decision.state.pending == {} and decision.state.restore_to is None


def test_r03_a_paid_quote_that_held_nothing_leaves_auto_renew_off() -> None:
    """The R12 auto quote on a subscription whose auto-renew is off: paying it never switches it on."""
    off = subscription(auto_renew=False)
    paying = calendar(off).attach("Q-000001", hold=False).state.reserve("Q-000001", END, OWNER, NOW).state
    decision = paying.renew("Q-000001", END, NEXT_END, 5, Term.ANNUAL, NOW)
    next_term = subscription(auto_renew=False, end_date=NEXT_END)
    assert decision.state.subscription == next_term
    assert decision.effects == [renewed(next_term)]


def test_r03_a_paid_quote_that_held_nothing_leaves_auto_renew_on() -> None:
    paying = calendar().attach("Q-000001", hold=False).state.reserve("Q-000001", END, OWNER, NOW).state
    decision = paying.renew("Q-000001", END, NEXT_END, 5, Term.ANNUAL, NOW)
    assert decision.state.subscription == subscription(end_date=NEXT_END)
    assert decision.effects == [renewed(subscription(end_date=NEXT_END))]


def test_r03_a_paid_quote_that_held_returns_auto_renew_to_its_value_before_the_hold() -> None:
    paying = calendar().attach("Q-000001", hold=True).state.reserve("Q-000001", END, OWNER, NOW).state
    decision = paying.renew("Q-000001", END, NEXT_END, 2, Term.ANNUAL, NOW)
    next_term = subscription(end_date=NEXT_END, seats=2)
    assert decision.state == calendar(
        next_term,
        claims={"2027-03-31": "Q-000001"},
        renewed_on={"2027-03-31": date(2027, 3, 5)},
        version=3,
        term_closed=True,
    )
    assert decision.effects == [switched(subscription()), renewed(next_term)]


def test_r03_the_winner_that_held_and_losers_that_held_restore_the_value_before_the_first_hold() -> None:
    held = calendar().attach("Q-000002", hold=True).state.attach("Q-000001", hold=True).state
    held = held.attach("Q-000003", hold=False).state.reserve("Q-000001", END, OWNER, NOW).state
    decision = held.renew("Q-000001", END, NEXT_END, 5, Term.ANNUAL, NOW)
    detail = "SUB-1 was renewed by Q-000001 on 2027-03-05"
    assert decision.effects == [
        switched(subscription()),
        Supersede(quote="Q-000002", reason="superseded by Q-000001", detail=detail),
        Supersede(quote="Q-000003", reason="superseded by Q-000001", detail=detail),
        renewed(subscription(end_date=NEXT_END)),
    ]
    assert decision.state.subscription.auto_renew is True and decision.state.restore_to is None


def test_r03_a_winner_that_held_nothing_and_a_loser_that_held_restore_the_value_before_the_hold() -> None:
    held = calendar().attach("Q-000002", hold=True).state.attach("Q-000001", hold=False).state
    decision = held.reserve("Q-000001", END, OWNER, NOW).state.renew("Q-000001", END, NEXT_END, 5, Term.ANNUAL, NOW)
    assert decision.effects[0] == switched(subscription())
    assert decision.state.subscription == subscription(end_date=NEXT_END)


def test_r03_a_renewal_restores_a_switch_that_was_off_before_the_hold_to_off() -> None:
    off = subscription(auto_renew=False)
    held = calendar(off).attach("Q-000001", hold=True).state.reserve("Q-000001", END, OWNER, NOW).state
    decision = held.renew("Q-000001", END, NEXT_END, 5, Term.ANNUAL, NOW)
    assert decision.state.subscription == subscription(auto_renew=False, end_date=NEXT_END)
    assert decision.effects == [renewed(subscription(auto_renew=False, end_date=NEXT_END))]


def test_r16_an_open_term_whose_reservation_was_lost_is_renewed_for_the_quote_the_store_renewed() -> None:
    """The store recorded the quote's renewal first; a calendar restarted from the store lost the reservation:
    the term, open and reserved by nobody else, is renewed (a term is never left paid and not renewed)."""
    open_term = calendar()
    decision = open_term.renew("Q-000001", END, NEXT_END, 5, Term.ANNUAL, NOW)
    assert decision.answer is None and decision.state.claims == {END.isoformat(): "Q-000001"}
    assert decision.state.sub.end_date == NEXT_END


def test_r16_a_term_another_renewed_is_not_renewed_again() -> None:
    done = calendar(claims={"2027-03-31": "Q-000002"}, renewed_on={"2027-03-31": date(2027, 3, 4)})
    decision = done.renew("Q-000001", END, NEXT_END, 5, Term.ANNUAL, NOW)
    assert decision.state is done
    assert decision.answer == TermRefusal(
        rule="R16", reason="SUB-1 was renewed by Q-000002 on 2027-03-04", holder="Q-000002"
    )


def test_r16_a_term_reserved_by_another_is_not_renewed() -> None:
    held = calendar(reservation=reserved("Q-000002"))
    assert held.renew("Q-000001", END, NEXT_END, 5, Term.ANNUAL, NOW).answer == TermRefusal(
        rule="R16", reason="SUB-1 is being renewed by Q-000002 (since 2027-03-05)", holder="Q-000002", retry_later=True
    )


# Auto-renew, the lapse, the auto quote (R01, R12, R16).


def test_r16_auto_renew_reserves_the_term_while_it_is_recorded() -> None:
    before = calendar(version=4)
    decision = before.start_auto_renew(DUE)
    assert decision.state == calendar(reservation=reserved(AUTO_RENEWER, since=DUE), version=4)
    assert decision.effects == []
    assert before == calendar(version=4)


def test_r16_auto_renew_renews_the_term_at_its_seats_and_term_and_the_buyer_is_told() -> None:
    pending = calendar(auto_quote="not sent: no price").attach("Q-000002", hold=False).state
    renewing = pending.start_auto_renew(DUE).state
    decision = renewing.auto_renewed(NEXT_END, Decimal("1200.00"), "SPRING", DUE)
    next_term = subscription(end_date=NEXT_END)
    assert decision.state == calendar(
        next_term,
        claims={"2027-03-31": "auto-renew"},
        renewed_on={"2027-03-31": date(2027, 3, 31)},
        version=2,
        term_closed=True,
    )
    assert decision.effects == [
        Supersede(
            quote="Q-000002", reason="superseded by auto-renew", detail="SUB-1 was renewed by auto-renew on 2027-03-31"
        ),
        renewed(next_term),
        ConfirmRenewal(
            subscription=subscription(), to_end_date=NEXT_END, amount=Decimal("1200.00"), promotion="SPRING"
        ),
    ]


def test_r18_auto_renew_finds_the_term_renewed_elsewhere_and_bills_nothing() -> None:
    pending = calendar(auto_quote="Q-000009").attach("Q-000002", hold=False).state
    renewing = pending.start_auto_renew(DUE).state
    stored = subscription(end_date=NEXT_END, seats=7, auto_renew=False)
    decision = renewing.auto_renew_found_elsewhere(stored, DUE + timedelta(hours=2))
    next_term = subscription(end_date=NEXT_END, seats=7)  # the calendar's switch, not the stored one
    assert decision.state == calendar(
        next_term,
        claims={"2027-03-31": ELSEWHERE},
        renewed_on={"2027-03-31": date(2027, 3, 31)},
        version=2,
        term_closed=True,
    )
    assert decision.effects == [
        Supersede(
            quote="Q-000002",
            reason="superseded: renewed outside this system",
            detail="SUB-1 was renewed outside this system; it now runs until 2028-03-31",
        ),
        renewed(next_term),
    ]


def test_r03_r18_a_term_renewed_elsewhere_keeps_the_switch_restored_when_its_holders_end() -> None:
    renewing = calendar().start_auto_renew(DUE).state
    held = renewing.attach("Q-000002", hold=True).state  # a quote accepted while auto-renew was recording
    stored = subscription(end_date=NEXT_END, auto_renew=False)
    decision = held.auto_renew_found_elsewhere(stored, DUE)
    assert decision.state.subscription == subscription(end_date=NEXT_END)
    assert decision.state.pending == {} and decision.state.restore_to is None
    assert decision.effects == [
        switched(subscription()),
        Supersede(
            quote="Q-000002",
            reason="superseded: renewed outside this system",
            detail="SUB-1 was renewed outside this system; it now runs until 2028-03-31",
        ),
        renewed(subscription(end_date=NEXT_END)),
    ]


def test_r16_a_failed_auto_renew_claims_nothing_and_says_why() -> None:
    renewing = calendar().start_auto_renew(DUE).state
    decision = renewing.auto_renew_failed("no price for AutoCAD annual in EUR")
    assert decision.state == calendar(auto_renew_error="no price for AutoCAD annual in EUR", version=1)
    assert decision.effects == []
    assert decision.state.may_auto_renew is False


def test_r01_the_lapse_closes_the_term_to_quotes_then_is_announced() -> None:
    before = calendar(pending={"Q-000001": False})
    lapsing = before.start_lapse()
    assert lapsing.state == calendar(pending={"Q-000001": False}, lapsing=True)
    assert lapsing.effects == []
    assert before.lapsing is False
    lapsed = lapsing.state.lapsed()
    assert lapsed.state is lapsing.state
    assert lapsed.effects == [Announce(event="subscription.lapsed", subscription=subscription(), held_by=[])]


def test_r12_the_auto_quote_is_being_made_then_has_its_number_or_why_not() -> None:
    before = calendar()
    started = before.auto_quote_started()
    assert started.state == calendar(auto_quote="being made") and started.effects == []
    assert before.auto_quote is None
    made = started.state.auto_quote_made(END, "Q-000009")
    assert made.state == calendar(auto_quote="Q-000009", version=1)
    failed = started.state.auto_quote_made(END, "not sent: no price")
    assert failed.state == calendar(auto_quote="not sent: no price", version=1)


def test_r12_an_auto_quote_made_for_a_term_that_already_closed_changes_nothing() -> None:
    next_term = calendar(subscription(end_date=NEXT_END))
    assert next_term.auto_quote_made(END, "Q-000009").state is next_term


# What comes next on the calendar (R01, R12, R16).


def wants_auto_quote(**state) -> Calendar:
    """Annual, direct, auto-renew off: R12's auto quote is wanted."""
    return calendar(subscription(auto_renew=False), **state)


@pytest.mark.parametrize(
    ("cal", "now", "step"),
    [
        (calendar(), OPENS - timedelta(days=1), ("wait", OPENS)),
        (calendar(), AUTO_QUOTE, ("wait", DUE)),
        (calendar(), DUE - TICK, ("wait", DUE)),
        (calendar(), DUE, ("auto_renew", None)),
        (calendar(), CLOSES - TICK, ("auto_renew", None)),
        (calendar(pending={"Q-000001": True}), DUE, ("wait", CLOSES)),
        (calendar(pending={"Q-000001": False}), DUE, ("auto_renew", None)),
        (calendar(reservation=reserved()), DUE, ("wait", CLOSES)),
        (calendar(auto_renew_error="no price"), DUE, ("wait", CLOSES)),
        (calendar(), CLOSES, ("lapse", None)),
        (calendar(reservation=reserved()), CLOSES, ("wait_for_payment", None)),
        (calendar(reservation=reserved()), CLOSES + timedelta(days=30), ("wait_for_payment", None)),
        (wants_auto_quote(), AUTO_QUOTE - TICK, ("wait", AUTO_QUOTE)),
        (wants_auto_quote(), AUTO_QUOTE, ("auto_quote", None)),
        (wants_auto_quote(), DUE - TICK, ("auto_quote", None)),
        (wants_auto_quote(), DUE, ("wait", CLOSES)),
        (wants_auto_quote(auto_quote="being made"), AUTO_QUOTE, ("wait", DUE)),
        (wants_auto_quote(auto_quote="not sent: no price"), AUTO_QUOTE, ("wait", DUE)),
        (wants_auto_quote(pending={"Q-000001": False}), AUTO_QUOTE, ("wait", DUE)),
        (wants_auto_quote(), CLOSES - TICK, ("wait", CLOSES)),
        (wants_auto_quote(), CLOSES, ("lapse", None)),
    ],
)
def test_r01_r12_r16_the_next_step_at_the_calendars_dates(cal: Calendar, now: datetime, step) -> None:
    assert cal.next_step(now) == step


def test_r16_auto_renew_runs_only_when_on_nothing_holds_reserves_or_failed() -> None:
    assert calendar().may_auto_renew is True
    assert calendar(subscription(auto_renew=False)).may_auto_renew is False
    assert calendar(pending={"Q-000001": True}).may_auto_renew is False
    assert calendar(pending={"Q-000001": False}).may_auto_renew is True
    assert calendar(reservation=reserved()).may_auto_renew is False
    assert calendar(auto_renew_error="no price").may_auto_renew is False


# A load changed the subscription's row (R18, R21).


def test_r18_the_same_row_again_changes_nothing_but_the_version() -> None:
    before = calendar(version=2)
    decision = before.source_changed(subscription(), NOW)
    assert decision.state == calendar(version=3)
    assert decision.effects == []


def test_r18_a_load_clears_a_failed_auto_renew_so_it_is_tried_again() -> None:
    decision = calendar(auto_renew_error="no price").source_changed(subscription(), NOW)
    assert decision.state == calendar(version=1)


def test_r18_what_the_source_owns_is_adopted() -> None:
    incoming = subscription(product="AutoCAD LT", seats=8, currency="USD", offering="success-plan")
    decision = calendar().source_changed(incoming, NOW)
    assert decision.state == calendar(incoming, version=1)
    assert decision.effects == []


def test_r18_a_stale_row_keeps_the_stored_term_seats_and_end_date() -> None:
    mine = calendar(subscription(end_date=NEXT_END, seats=3, term="3-year"), claims={"2027-03-31": "Q-000001"})
    stale = subscription(product="AutoCAD LT", seats=5, term="annual")
    decision = mine.source_changed(stale, NOW)
    kept = subscription(product="AutoCAD LT", end_date=NEXT_END, seats=3, term="3-year")
    assert decision.state == calendar(kept, claims={"2027-03-31": "Q-000001"}, version=1)
    assert decision.effects == []


@pytest.mark.parametrize(
    "claims",
    [{"2027-03-31": "Q-000001"}, {"2027-03-31": ELSEWHERE}, {"2027-03-31": AUTO_RENEWER}, {}, {"2026-03-31": "Q-1"}],
)
def test_r18_a_stale_row_keeps_the_term_but_its_switch_is_taken_while_nothing_holds_it(claims: dict) -> None:
    """The calendar is told the stored row, which the load merged already (domain/source_data.py)."""
    mine = calendar(subscription(end_date=NEXT_END), claims=claims)
    decision = mine.source_changed(subscription(auto_renew=False), NOW)
    off = subscription(end_date=NEXT_END, auto_renew=False)
    assert decision.state == calendar(off, claims=claims, version=1)
    assert decision.effects == [switched(off)]


def test_r18_a_later_end_date_was_renewed_elsewhere_the_pending_quotes_are_superseded() -> None:
    pending = calendar(auto_quote="Q-000009").attach("Q-000001", hold=False).state
    incoming = subscription(end_date=NEXT_END, seats=9)
    decision = pending.source_changed(incoming, NOW)
    assert decision.state == calendar(
        incoming,
        claims={"2027-03-31": ELSEWHERE},
        renewed_on={"2027-03-31": date(2027, 3, 5)},
        version=2,
        term_closed=True,
    )
    assert decision.effects == [
        Supersede(
            quote="Q-000001",
            reason="superseded: renewed outside this system",
            detail="SUB-1 was renewed outside this system; it now runs until 2028-03-31",
        ),
        renewed(incoming),
    ]


def test_r18_the_switch_is_adopted_while_nothing_holds_it() -> None:
    off = subscription(auto_renew=False)
    pending = calendar().attach("Q-000001", hold=False).state
    decision = pending.source_changed(off, NOW)
    assert decision.state == calendar(off, pending={"Q-000001": False}, version=2)
    assert decision.effects == [switched(off)]


def test_r18_the_switch_is_kept_while_a_quote_holds_it() -> None:
    held = calendar().attach("Q-000001", hold=True).state
    decision = held.source_changed(subscription(auto_renew=True, seats=6), NOW)
    assert decision.state == calendar(
        subscription(auto_renew=False, seats=6), pending={"Q-000001": True}, restore_to=True, version=2
    )
    assert decision.effects == []


def test_r18_a_later_end_date_while_held_restores_the_switch_once() -> None:
    held = calendar().attach("Q-000001", hold=True).state
    incoming = subscription(end_date=NEXT_END, auto_renew=False)
    decision = held.source_changed(incoming, NOW)
    next_term = subscription(end_date=NEXT_END)
    assert decision.state.subscription == next_term
    assert decision.state.pending == {} and decision.state.restore_to is None
    assert decision.effects == [
        switched(subscription()),
        Supersede(
            quote="Q-000001",
            reason="superseded: renewed outside this system",
            detail="SUB-1 was renewed outside this system; it now runs until 2028-03-31",
        ),
        renewed(next_term),
    ]


@pytest.mark.parametrize(
    ("changes", "owner"),
    [
        ({"csn": "5100000002"}, "customer 5100000002 (direct)"),
        (
            {"purchase_method": "partner", "partner_csn": "5200000001"},
            "customer 5100000001 (through partner 5200000001)",
        ),
    ],
)
def test_r21_a_new_owner_ends_every_pending_quote_of_the_old_owner(changes: dict, owner: str) -> None:
    pending = calendar().attach("Q-000001", hold=True).state.attach("Q-000002", hold=False).state
    incoming = subscription(**changes)
    decision = pending.source_changed(incoming, NOW)
    assert decision.state == calendar(incoming, version=3)
    assert decision.effects == [
        switched(subscription()),
        Supersede(
            quote="Q-000001", reason=f"the subscription moved to {owner}", detail=f"SUB-1 now belongs to {owner}"
        ),
        Supersede(
            quote="Q-000002", reason=f"the subscription moved to {owner}", detail=f"SUB-1 now belongs to {owner}"
        ),
    ]


def test_r21_a_new_partner_is_a_new_owner() -> None:
    partner = calendar(subscription(purchase_method="partner", partner_csn="5200000001"), pending={"Q-000001": False})
    incoming = subscription(purchase_method="partner", partner_csn="5200000002")
    decision = partner.source_changed(incoming, NOW)
    owner = "customer 5100000001 (through partner 5200000002)"
    assert decision.effects == [
        Supersede(quote="Q-000001", reason=f"the subscription moved to {owner}", detail=f"SUB-1 now belongs to {owner}")
    ]


def test_r21_r18_a_new_owner_with_a_later_end_date_is_told_once_and_claimed_elsewhere() -> None:
    pending = calendar().attach("Q-000001", hold=False).state
    incoming = subscription(csn="5100000002", end_date=NEXT_END)
    decision = pending.source_changed(incoming, NOW)
    owner = "customer 5100000002 (direct)"
    assert decision.effects == [
        Supersede(
            quote="Q-000001", reason=f"the subscription moved to {owner}", detail=f"SUB-1 now belongs to {owner}"
        ),
        renewed(incoming),
    ]
    assert decision.state.claims == {"2027-03-31": ELSEWHERE} and decision.state.term_closed is True


# What the calendar says of itself (R02, R16, R21).


def test_r02_the_holders_are_the_pending_quotes_that_hold() -> None:
    assert calendar(pending={"Q-1": True, "Q-2": False, "Q-3": True}).held_by == ["Q-1", "Q-3"]
    assert calendar().sub == subscription()


def test_r16_the_next_run_keeps_the_calendar_but_not_this_runs_steps() -> None:
    event = WebhookEvent(id="evt_1", type="subscription.renewed", created=NOW, data={"id": "SUB-1"})
    confirm = ConfirmRenewal(subscription=subscription(), to_end_date=NEXT_END, amount=Decimal("1200.00"))
    ran = calendar(
        pending={"Q-000001": True},
        claims={"2027-03-31": "auto-renew"},
        version=5,
        lapsing=True,
        term_closed=True,
        undelivered=[event],
        unconfirmed=confirm,
    )
    assert ran.carried() == calendar(pending={"Q-000001": True}, claims={"2027-03-31": "auto-renew"}, version=5)
    assert (ran.lapsing, ran.term_closed, ran.undelivered, ran.unconfirmed) == (True, True, [event], confirm)


def test_r21_an_owner_reads_as_its_customer_and_how_it_was_bought() -> None:
    assert str(OWNER) == "customer 5100000001 (direct)"
    partner = Owner(csn="5100000001", purchase_method=PurchaseMethod.PARTNER, partner_csn="5200000001")
    assert str(partner) == "customer 5100000001 (through partner 5200000001)"
    assert Owner.of(subscription()) == OWNER


OTHER = Owner(csn="5100000002", purchase_method=PurchaseMethod.DIRECT)


def test_r21_a_quote_of_a_former_owner_is_not_taken_and_ends() -> None:
    """Made before a load moved the subscription, started after: its attach would hold the new owner's
    auto-renew for a quote they never asked for."""
    before = calendar()
    decision = before.attach("Q-000009", True, OTHER)
    assert decision.state is before
    assert decision.effects == [
        Supersede(
            quote="Q-000009",
            reason=f"the subscription moved to {OWNER}",
            detail=f"SUB-1 now belongs to {OWNER}",
        )
    ]


def test_r21_while_a_payment_holds_the_term_another_owners_quote_waits_for_the_load() -> None:
    """A load waits for a payment's reservation before the calendar takes it: a quote of the owner it names is
    taken meanwhile, and stays when the move is taken, while the old owner's quotes end."""
    reserved_now = calendar().attach("Q-000001", False, OWNER).state.reserve("Q-000002", END, OWNER, NOW).state
    taken = reserved_now.attach("Q-000009", True, OTHER).state
    assert taken.pending == {"Q-000001": False, "Q-000009": True} and taken.owners["Q-000009"] == OTHER
    moved = taken.release("Q-000002", END).state.source_changed(subscription(csn=OTHER.csn), NOW)
    assert moved.state.pending == {"Q-000009": True} and moved.state.owners == {"Q-000009": OTHER}
    ended = [e.quote for e in moved.effects if isinstance(e, Supersede)]
    assert ended == ["Q-000001"]
    assert moved.state.sub.auto_renew is False  # the quote that stays still holds it


def test_r03_r18_a_load_read_while_a_quote_held_the_switch_never_undoes_what_the_paid_quote_restored() -> None:
    """The load came while quote Q held auto-renew (the row carries the held "off") and waited for Q's
    payment; Q renewed the term and restored "on". On 518b699 the waiting row then switched it off."""
    held = calendar().attach("Q-000001", True).state
    paid = held.reserve("Q-000001", END, OWNER, NOW).state.renew("Q-000001", END, NEXT_END, 5, Term.ANNUAL, NOW)
    assert paid.state.sub.auto_renew is True
    row = subscription(auto_renew=False)  # the stored row as the load left it: the held value, not the source's
    decision = paid.state.source_changed(row, NOW, switch_from_source=False)
    assert decision.state.sub.auto_renew is True
    assert not any(getattr(e, "event", "") == "subscription.auto_renew_changed" for e in decision.effects)
    adopted = paid.state.source_changed(row, NOW)  # the source's own switch, given while nothing held
    assert adopted.state.sub.auto_renew is False


def test_r17_the_paying_quote_attaching_again_while_it_reserves_leaves_the_switch_as_it_is() -> None:
    """Held only by the payment that reserved the term, the switch stays (nothing can auto-renew it then)."""
    reserving = calendar().reserve("Q-000001", END, OWNER, NOW, hold=True).state
    decision = reserving.attach("Q-000001", True, OWNER)
    assert decision.effects == [] and decision.state.sub.auto_renew is True
    other = reserving.attach("Q-000002", True, OWNER)  # another quote's hold: off at once
    assert other.state.sub.auto_renew is False and len(other.effects) == 1


def test_r21_a_quote_detached_is_forgotten_with_its_owner() -> None:
    attached = calendar().attach("Q-000001", False, OWNER).state
    assert attached.owners == {"Q-000001": OWNER}
    assert attached.detach("Q-000001").state.owners == {}
