"""The quote as every reader sees it (domain/quotes.py, domain/json_views.py): its lines (R07 co-term
days, R10 a new term), what holds auto-renew (R02, R17), its expiry (R01, R15), its Temporal UI row and
the JSON of the command line, the API and the webhooks."""

from datetime import UTC, date, datetime, timedelta
from decimal import Decimal

import pytest

from domain.grouping import renewal_groups
from domain.json_views import group_json, subscription_json
from domain.models import PurchaseMethod, QuoteKind, Term
from domain.quotes import (
    Origin,
    Quote,
    QuoteLine,
    QuoteState,
    quote_number,
    quote_workflow_id,
    subscription_workflow_id,
)
from tests.unit.test_eligibility import END, subscription

NOW = datetime(2027, 3, 1, 9, 30, tzinfo=UTC)


def line(**changes) -> QuoteLine:
    return QuoteLine.of(subscription()).model_copy(update=changes)


def quote(**changes) -> Quote:
    fields = dict(
        number="Q-000042",
        origin=Origin.SELF_SERVICE,
        csn="5100000001",
        customer_name="Acme BV",
        buyer_email="buyer@acme.example",
        address="Keizersgracht 1",
        currency="EUR",
        purchase_method=PurchaseMethod.DIRECT,
        lines=[line()],
    )
    return Quote.model_validate(fields | changes)


def test_lifecycle_paid_expired_and_cancelled_are_final_the_others_pending() -> None:
    assert [s for s in QuoteState if s.terminal] == [QuoteState.PAID, QuoteState.EXPIRED, QuoteState.CANCELLED]
    assert [s for s in QuoteState if s.pending] == [QuoteState.DRAFT, QuoteState.SENT, QuoteState.ACCEPTED]


def test_r06_a_line_is_its_subscription_as_it_is_now() -> None:
    assert QuoteLine.of(subscription(), co_term_end_date=date(2027, 6, 30)) == QuoteLine(
        subscription_id="SUB-1",
        product="AutoCAD",
        seats=5,
        term=Term.ANNUAL,
        current_seats=5,
        current_term=Term.ANNUAL,
        end_date=END,
        co_term_end_date=date(2027, 6, 30),
    )


@pytest.mark.parametrize(
    ("changes", "changes_subscription"),
    [
        ({}, False),
        ({"seats": 4}, True),
        ({"seats": 6}, True),
        ({"term": Term.THREE_YEAR}, True),
        ({"co_term_end_date": date(2027, 6, 30)}, True),
    ],
)
def test_r02_a_line_changes_its_subscription_by_seats_term_or_co_term(
    changes: dict, changes_subscription: bool
) -> None:
    assert line(**changes).changes_subscription is changes_subscription


def test_r07_a_new_purchase_line_changes_no_subscription_and_has_no_term_end() -> None:
    new = QuoteLine(subscription_id=None, product="Revit", seats=2, term=Term.ANNUAL)
    assert (new.changes_subscription, new.new_end_date, new.proration) == (False, None, None)


def test_r10_a_renewal_runs_one_more_term_a_co_term_line_to_the_common_end() -> None:
    assert line().new_end_date == date(2028, 3, 31)
    assert line(term=Term.MONTHLY).new_end_date == date(2027, 4, 30)
    assert line(co_term_end_date=date(2027, 6, 30)).new_end_date == date(2027, 6, 30)


def test_r07_a_co_term_line_pays_the_days_it_adds_of_the_days_in_a_term() -> None:
    assert line().proration is None
    assert line(co_term_end_date=date(2027, 6, 30)).proration == (91, 366)  # 2027-04-01..2028-03-31 holds 29 Feb
    assert line(co_term_end_date=date(2027, 4, 30), term=Term.MONTHLY).proration == (30, 30)


def test_r02_r17_what_holds_auto_renew() -> None:
    assert quote().holds_auto_renew is False
    assert quote(state=QuoteState.SENT).holds_auto_renew is False
    assert quote(pause_auto_renew=True).holds_auto_renew is True
    assert quote(state=QuoteState.ACCEPTED).holds_auto_renew is True
    assert quote(lines=[line(), line(seats=2)]).holds_auto_renew is True


def test_r16_renewal_lines_are_the_ones_with_a_subscription_and_a_term_end() -> None:
    new = QuoteLine(subscription_id=None, product="Revit", seats=2, term=Term.ANNUAL)
    undated = QuoteLine(subscription_id="SUB-9", product="Revit", seats=2, term=Term.ANNUAL)
    assert quote(lines=[new, line(), undated]).renewal_lines == [line()]


def test_r04_the_buyer_is_the_first_recipient() -> None:
    assert quote(recipients=["it@acme.example"]).all_recipients == ["buyer@acme.example", "it@acme.example"]


def test_r15_a_quote_is_valid_30_days_from_sending() -> None:
    far = quote(lines=[QuoteLine.of(subscription(end_date=date(2027, 12, 31)))])
    assert far.expiry_for(NOW) == NOW + timedelta(days=30)
    assert quote(lines=[QuoteLine(subscription_id=None, product="X", seats=1, term=Term.ANNUAL)]).expiry_for(
        NOW
    ) == NOW + timedelta(days=30)


def test_r01_never_past_the_window_close_of_the_earliest_ending_line() -> None:
    early = QuoteLine.of(subscription(id="SUB-2", end_date=date(2027, 2, 1)))
    # SUB-2's window closes at the end of 2027-03-18 (45 days after 2027-02-01): before NOW + 30 days.
    assert quote(lines=[line(), early]).expiry_for(NOW) == datetime(2027, 3, 19, tzinfo=UTC)
    assert quote(lines=[early, line()]).expiry_for(NOW) == datetime(2027, 3, 19, tzinfo=UTC)
    exactly = datetime(2027, 3, 19, tzinfo=UTC) - timedelta(days=30)
    assert quote(lines=[early]).expiry_for(exactly) == datetime(2027, 3, 19, tzinfo=UTC)


def test_r16_an_ended_quote_refuses_naming_how_it_ended() -> None:
    assert quote(state=QuoteState.EXPIRED).ended_refusal("paid") == (
        "lifecycle",
        "quote Q-000042 is expired; it can no longer be paid",
    )
    superseded = quote(state=QuoteState.CANCELLED, superseded_because="SUB-1 was renewed by Q-000007")
    assert superseded.ended_refusal("accepted") == (
        "R16",
        "SUB-1 was renewed by Q-000007; this quote can no longer be accepted",
    )


def test_r15_the_ui_row_reads_number_state_total_and_expiry() -> None:
    sent = quote(state=QuoteState.SENT, total=Decimal("2030"), expires_at=NOW + timedelta(days=30))
    assert sent.details() == "Q-000042 · sent · EUR 2,030.00 · expires 2027-03-31"
    assert quote(total=Decimal("2030")).details() == "Q-000042 · draft · EUR 2,030.00"
    ended = sent.model_copy(update={"state": QuoteState.CANCELLED, "cancel_reason": "by sales: replaced"})
    assert ended.details() == "Q-000042 · cancelled · EUR 2,030.00 · by sales: replaced"
    assert quote(currency="JPY", total=Decimal("120000")).details() == "Q-000042 · draft · JPY 120,000"


def test_r15_r20_the_ui_row_says_why_a_quote_is_stuck() -> None:
    unpriced = quote(pricing_error="no price for AutoCAD annual in EUR")
    assert unpriced.details() == "Q-000042 · draft · EUR 0.00 · cannot be priced: no price for AutoCAD annual in EUR"
    pending = quote(state=QuoteState.ACCEPTED, payment="pending", expires_at=NOW)
    assert pending.details() == "Q-000042 · accepted · EUR 0.00 · payment pending · expires 2027-03-01"


def test_r15_the_json_gives_amounts_as_decimal_strings_and_moments_in_iso_8601() -> None:
    priced = line(unit_price=Decimal("79.99"), amount=Decimal("399.95"), discount=Decimal("40.00"), promotion="P10")
    paid = quote(
        state=QuoteState.PAID,
        kind=QuoteKind.RENEWAL,
        recipients=["it@acme.example"],
        lines=[priced, QuoteLine(subscription_id=None, product="Revit", seats=2, term=Term.THREE_YEAR)],
        subtotal=Decimal("399.95"),
        discount_total=Decimal("40.00"),
        total=Decimal("359.95"),
        sent_at=NOW,
        expires_at=NOW + timedelta(days=30),
        accepted_at=NOW + timedelta(hours=1),
        paid_at=NOW + timedelta(hours=2),
        payment_reference="ch_1",
        cancelled_by="sales",
        cancel_reason="not shown unless cancelled",
    )
    assert paid.json_view() == {
        "number": "Q-000042",
        "state": "paid",
        "kind": "renewal",
        "origin": "self-service",
        "csn": "5100000001",
        "currency": "EUR",
        "expires_at": "2027-03-31T09:30:00+00:00",
        "recipients": ["buyer@acme.example", "it@acme.example"],
        "lines": [
            {
                "subscription_id": "SUB-1",
                "product": "AutoCAD",
                "seats": 5,
                "term": "annual",
                "unit_price": "79.99",
                "amount": "399.95",
                "discount": "40.00",
                "promotion": "P10",
            },
            {
                "subscription_id": None,
                "product": "Revit",
                "seats": 2,
                "term": "3-year",
                "unit_price": None,
                "amount": None,
                "discount": "0",
                "promotion": None,
            },
        ],
        "subtotal": "399.95",
        "discount_total": "40.00",
        "total": "359.95",
        "tax": [],
        "tax_total": "0.00",
        "total_including_tax": "359.95",
        "sent_at": "2027-03-01T09:30:00+00:00",
        "accepted_at": "2027-03-01T10:30:00+00:00",
        "paid_at": "2027-03-01T11:30:00+00:00",
        "payment_reference": "ch_1",
        "payment": None,
        "reminded": [],
        "revises": None,
        "revised_by": None,
    }


def test_r10_only_a_cancelled_quotes_json_says_who_cancelled_it_and_why() -> None:
    cancelled = quote(
        state=QuoteState.CANCELLED, kind=QuoteKind.CO_TERM, origin=Origin.PARTNER, cancelled_by="partner"
    ).json_view()
    assert (cancelled["state"], cancelled["kind"], cancelled["origin"]) == ("cancelled", "co-term", "partner")
    assert (cancelled["cancelled_by"], cancelled["cancel_reason"]) == ("partner", None)
    assert (cancelled["expires_at"], cancelled["sent_at"], cancelled["paid_at"]) == (None, None, None)
    assert "cancelled_by" not in quote(state=QuoteState.EXPIRED, cancelled_by="sales").json_view()


def test_numbers_and_workflow_ids() -> None:
    assert quote_number(123) == "Q-000123"
    assert quote_number(1234567) == "Q-1234567"
    assert quote_workflow_id("Q-000123") == "quote-Q-000123"
    assert subscription_workflow_id("SUB-1001") == "subscription-SUB-1001"


def test_r01_r10_the_json_of_a_subscription_says_whether_it_can_be_renewed_and_why_not() -> None:
    partner = subscription(purchase_method="partner", partner_csn="5200000001", term="3-year", auto_renew=False)
    assert subscription_json(partner, END, ["Q-000042"]) == {
        "id": "SUB-1",
        "csn": "5100000001",
        "product": "AutoCAD",
        "seats": 5,
        "term": "3-year",
        "currency": "EUR",
        "purchase_method": "partner",
        "partner_csn": "5200000001",
        "start_date": "2026-04-01",
        "end_date": "2027-03-31",
        "auto_renew": False,
        "auto_renew_held_by": ["Q-000042"],
        "eligible": True,
        "reason": None,
    }
    early = subscription_json(subscription(), END - timedelta(days=91))
    assert (early["auto_renew_held_by"], early["eligible"], early["reason"]) == (
        [],
        False,
        "R01: window opens 2026-12-31",
    )


def test_r05_the_json_of_a_group_has_its_key_and_its_subscriptions() -> None:
    [group] = renewal_groups([subscription(id="A", purchase_method="partner", partner_csn="5200000001")], END)
    assert group_json(group, END) == {
        "key": "5100000001/EUR/partner/5200000001",
        "csn": "5100000001",
        "currency": "EUR",
        "purchase_method": "partner",
        "partner_csn": "5200000001",
        "subscriptions": [subscription_json(group.subscriptions[0], END)],
    }
    assert group_json(group, END)["subscriptions"][0]["id"] == "A"


def test_r02_a_group_says_which_quote_holds_a_subscriptions_auto_renew_as_its_row_does() -> None:
    [group] = renewal_groups([subscription(id="A")], END)
    held = group_json(group, END, {"A": ["Q-000008"]})["subscriptions"][0]
    assert held == subscription_json(group.subscriptions[0], END, ["Q-000008"])
    assert held["auto_renew_held_by"] == ["Q-000008"]


def test_r20_the_json_says_a_payment_is_being_confirmed() -> None:
    assert quote(state=QuoteState.ACCEPTED, payment="pending").json_view()["payment"] == "pending"


def test_r23_the_quote_json_says_what_a_quote_revises_and_what_revised_it() -> None:
    view = quote(revises="Q-000001", revised_by="Q-000003").json_view()
    assert (view["revises"], view["revised_by"]) == ("Q-000001", "Q-000003")


def test_r19_only_q_and_six_or_more_digits_name_a_quote() -> None:
    from domain.quotes import is_quote_number

    assert is_quote_number("Q-000001") and is_quote_number("Q-123456789012")
    assert not any(is_quote_number(t) for t in ("Q-00001", "Q-000001x", "q-000001", " Q-000001", "Q-0000000000001"))
