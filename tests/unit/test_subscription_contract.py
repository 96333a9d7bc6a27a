"""The calendar's state as SubscriptionWorkflow carries it (contracts/subscription.py): which quotes hold
auto-renew (R02, R17), its Temporal UI row, what a continue-as-new keeps (R16: who renewed each recent
term), and whose a subscription is (R21)."""

from datetime import UTC, date, datetime

import pytest

from contracts.subscription import CalendarState, Owner, Reservation
from domain.models import PurchaseMethod
from tests.unit.test_eligibility import END, subscription
from tests.unit.test_quotes import quote

SINCE = datetime(2027, 3, 20, 8, tzinfo=UTC)


def state(**changes) -> CalendarState:
    return CalendarState(subscription=subscription(), **changes)


def test_r02_r17_the_quotes_holding_auto_renew_are_the_pending_ones_that_hold_it() -> None:
    held = state(pending={"Q-000001": True, "Q-000002": False, "Q-000003": True})
    assert held.held_by == ["Q-000001", "Q-000003"]
    assert state(pending={"Q-000002": False}).held_by == []


def test_r02_the_ui_row_shows_the_switch_or_what_holds_it() -> None:
    assert state().details(None) == "SUB-1 · ends 2027-03-31 · auto-renew on"
    off = CalendarState(subscription=subscription(auto_renew=False))
    assert off.details(None) == "SUB-1 · ends 2027-03-31 · auto-renew off"
    held = state(pending={"Q-000001": True, "Q-000002": False, "Q-000003": True})
    assert held.details(None) == "SUB-1 · ends 2027-03-31 · auto-renew held by Q-000001, Q-000003"


def test_r12_r16_the_ui_row_shows_a_reservation_a_failed_auto_renew_an_unsent_auto_quote_and_the_next_event() -> None:
    busy = state(
        reservation=Reservation(holder="Q-000007", term_end=END, since=SINCE),
        auto_renew_error="no price for AutoCAD annual in EUR",
        auto_quote="not sent: a quote is pending",
    )
    assert busy.details(("auto-renew", datetime(2027, 3, 31, tzinfo=UTC))) == (
        "SUB-1 · ends 2027-03-31 · auto-renew on · being renewed by Q-000007"
        " · auto-renew failed: no price for AutoCAD annual in EUR"
        " · auto quote not sent: a quote is pending · next: auto-renew 2027-03-31"
    )


def test_r12_a_sent_auto_quote_is_not_on_the_ui_row() -> None:
    assert state(auto_quote="Q-000009").details(None) == "SUB-1 · ends 2027-03-31 · auto-renew on"


def test_r16_continue_as_new_keeps_who_renewed_the_six_most_recent_terms() -> None:
    ends = [f"{year}-03-31" for year in range(2019, 2028)]  # nine terms, oldest first
    claims = {end: f"Q-{end[:4]}" for end in ends}
    renewed_on = {end: date(int(end[:4]), 3, 1) for end in ends if end != "2026-03-31"}
    full = state(
        claims=claims,
        renewed_on=renewed_on,
        pending={"Q-000001": True},
        restore_to=False,
        version=12,
        auto_quote="Q-000009",
        reservation=Reservation(holder="Q-000007", term_end=END, since=SINCE),
        auto_renew_error="late",
    )
    carried = full.carried()
    recent = ends[-6:]
    assert carried.claims == {end: f"Q-{end[:4]}" for end in recent}
    assert carried.renewed_on == {end: date(int(end[:4]), 3, 1) for end in recent if end != "2026-03-31"}
    assert carried.model_dump(exclude={"claims", "renewed_on"}) == full.model_dump(exclude={"claims", "renewed_on"})
    assert full.claims == claims  # the running state is left as it was


def test_r16_a_short_history_is_carried_whole() -> None:
    few = state(claims={"2026-03-31": "Q-1", "2027-03-31": "auto"}, renewed_on={"2027-03-31": date(2027, 3, 31)})
    assert few.carried() == few


@pytest.mark.parametrize(
    ("holder", "owner", "text"),
    [
        (
            subscription(),
            Owner(csn="5100000001", purchase_method=PurchaseMethod.DIRECT),
            "customer 5100000001 (direct)",
        ),
        (
            subscription(purchase_method="partner", partner_csn="5200000001"),
            Owner(csn="5100000001", purchase_method=PurchaseMethod.PARTNER, partner_csn="5200000001"),
            "customer 5100000001 (through partner 5200000001)",
        ),
        (
            quote(csn="5100000002", purchase_method=PurchaseMethod.PARTNER, partner_csn="5200000002"),
            Owner(csn="5100000002", purchase_method=PurchaseMethod.PARTNER, partner_csn="5200000002"),
            "customer 5100000002 (through partner 5200000002)",
        ),
    ],
)
def test_r21_the_owner_of_a_subscription_or_quote_is_its_customer_and_how_it_was_bought(holder, owner, text) -> None:
    assert Owner.of(holder) == owner
    assert str(Owner.of(holder)) == text
