"""Creation rules R01, R04, R07-R10, word for word: what the caller reads (`refused (R07): ...`, or a bad
input) is part of the product, so each refusal is pinned whole, and each quote made is read field by field."""

from datetime import date, timedelta

import pytest

from domain.errors import BadInput, Refused
from domain.models import PurchaseMethod, QuoteKind, Term
from domain.quote_rules import NewLine, QuoteRequest, build_quote, check_line_changes, check_recipients
from domain.quotes import Origin, QuoteLine, QuoteState
from tests.unit.test_quote_rules import CUSTOMERS, NOW, SUBS, TODAY, build
from workers.demo_data import ACME, DE_VRIES

REVIT = NewLine(product="Revit", seats=2, term=Term.ANNUAL)


def said(*ids: str, csn: str = ACME, **fields) -> str:
    """What the caller reads: `refused (Rnn): message`, or `bad input: message`."""
    try:
        build(*ids, csn=csn, **fields)
    except Refused as refusal:
        return str(refusal)
    except BadInput as bad:
        return f"bad input: {bad.message}"
    raise AssertionError("the quote was made")


def test_bad_input_a_quote_for_another_customer_than_the_one_found() -> None:
    request = QuoteRequest(csn="5100000009", subscription_ids=["SUB-1001"])
    with pytest.raises(BadInput, match=r"^unknown customer CSN 5100000009$"):
        build_quote("Q-000001", request, CUSTOMERS[ACME], [SUBS["SUB-1001"]], TODAY, NOW)


@pytest.mark.parametrize(
    ("ids", "fields", "text"),
    [
        (
            ("SUB-1001",),
            {"kind": QuoteKind.NEW, "new_lines": [REVIT]},
            "refused (R07): renewal lines cannot be combined with new-purchase lines in one quote",
        ),
        (
            ("SUB-1001",),
            {"new_lines": [REVIT]},
            "refused (R07): renewal lines cannot be combined with new-purchase lines in one quote",
        ),
        (
            ("SUB-1001", "SUB-1002"),
            {"kind": QuoteKind.CO_TERM, "new_lines": [REVIT]},
            "refused (R07): co-term lines cannot be combined with new-purchase lines in one quote",
        ),
        (
            (),
            {"kind": QuoteKind.NEW, "currency": "EUR"},
            "bad input: a new-purchase quote needs at least one new line (--new PRODUCT:SEATS:TERM)",
        ),
        ((), {}, "bad input: a renewal or co-term quote needs at least one --subscription"),
        ((), {"kind": QuoteKind.CO_TERM}, "bad input: a renewal or co-term quote needs at least one --subscription"),
    ],
)
def test_r07_kinds_do_not_mix_and_each_kind_needs_its_lines(ids: tuple, fields: dict, text: str) -> None:
    assert said(*ids, **fields) == text


@pytest.mark.parametrize(
    ("fields", "text"),
    [
        ({}, "bad input: a new-purchase quote needs --currency"),
        (
            {"currency": "EUR", "origin": Origin.PARTNER},
            "bad input: a partner's new purchase names the partner: --partner CSN (R08)",
        ),
        (
            {"currency": "EUR", "start_date": TODAY + timedelta(days=7)},
            "refused (R10): a future start date is not allowed in self-service: a new purchase starts when paid",
        ),
        (
            {"currency": "EUR", "start_date": TODAY + timedelta(days=91), "origin": Origin.SALES},
            f"refused (R25): a new purchase starts at most 90 days ahead (by {TODAY + timedelta(days=90)}), "
            f"not on {TODAY + timedelta(days=91)}",
        ),
        (
            {"currency": "EUR", "new_credit_line": True},
            "refused (R10): opening a new credit line is not allowed in self-service; ask sales",
        ),
        (
            {"currency": "EUR", "new_credit_line": True, "origin": Origin.SALES},
            "refused (R25): a new credit line is arranged by sales outside of quotes",
        ),
    ],
)
def test_r08_r10_what_a_new_purchase_may_not_have(fields: dict, text: str) -> None:
    assert said(kind=QuoteKind.NEW, new_lines=[REVIT], **fields) == text


@pytest.mark.parametrize(
    ("origin", "partner", "method"),
    [
        (Origin.SALES, None, PurchaseMethod.DIRECT),
        (Origin.SELF_SERVICE, None, PurchaseMethod.DIRECT),
        (Origin.PARTNER, "5200000001", PurchaseMethod.PARTNER),
        (Origin.SALES, "5200000002", PurchaseMethod.PARTNER),
    ],
)
def test_r08_a_new_purchase_is_bought_through_the_partner_it_names(origin: Origin, partner, method) -> None:
    quote = build(
        kind=QuoteKind.NEW,
        new_lines=[REVIT],
        currency="JPY",
        origin=origin,
        partner_csn=partner,
        recipients=["BUYER@ACME.example", "it@acme.example"],
    )
    assert (quote.purchase_method, quote.partner_csn, quote.currency) == (method, partner, "JPY")
    assert (quote.state, quote.kind, quote.origin, quote.created_at) == (QuoteState.DRAFT, QuoteKind.NEW, origin, NOW)
    assert quote.recipients == ["it@acme.example"]  # R04: the buyer listed again gets one email, as the buyer
    assert quote.lines == [QuoteLine(subscription_id=None, product="Revit", seats=2, term=Term.ANNUAL)]


def test_r08_renewal_lines_bought_through_another_partner_than_the_one_named() -> None:
    assert said("SUB-1008", origin=Origin.PARTNER, partner_csn="5200000002") == (
        "refused (R08): these subscriptions were not bought through partner 5200000002"
    )
    quote = build("SUB-1008", origin=Origin.PARTNER, partner_csn="5200000001")
    assert (quote.purchase_method, quote.partner_csn) == (PurchaseMethod.PARTNER, "5200000001")


def test_r08_one_partner_per_quote_names_the_partners_found() -> None:
    assert said("SUB-1001", "SUB-1008", origin=Origin.SALES) == (
        "refused (R08): every subscription on a quote has the same partner; these have 5200000001, direct"
    )


def test_r05_r06_a_renewal_quote_is_a_draft_of_its_subscriptions_customer_currency_and_partner() -> None:
    quote = build("SUB-2001", "SUB-2002", csn=DE_VRIES, origin=Origin.PARTNER, recipients=["inkoop@DEVRIES.example"])
    assert (quote.state, quote.kind, quote.origin, quote.created_at) == (
        QuoteState.DRAFT,
        QuoteKind.RENEWAL,
        Origin.PARTNER,
        NOW,
    )
    assert (quote.csn, quote.customer_name, quote.buyer_email, quote.currency) == (
        DE_VRIES,
        "Bouwbedrijf De Vries",
        "inkoop@devries.example",
        "EUR",
    )
    assert (quote.purchase_method, quote.partner_csn, quote.recipients) == (PurchaseMethod.PARTNER, "5200000001", [])
    assert quote.address == "Coolsingel 40, 3011 AD Rotterdam"
    assert build("SUB-1001", address="Elsewhere 1").address == "Elsewhere 1"


def test_r07_a_co_term_quote_aligns_to_the_latest_end_and_takes_its_account_from_the_subscriptions() -> None:
    quote = build("SUB-2001", "SUB-2002", csn=DE_VRIES, kind=QuoteKind.CO_TERM, origin=Origin.PARTNER)
    assert [(line.subscription_id, line.co_term_end_date) for line in quote.lines] == [("SUB-2001", date(2027, 1, 20))]
    assert (quote.kind, quote.currency, quote.purchase_method, quote.partner_csn, quote.created_at) == (
        QuoteKind.CO_TERM,
        "EUR",
        PurchaseMethod.PARTNER,
        "5200000001",
        NOW,
    )


def test_r05_a_co_term_quote_may_leave_lines_out_but_not_all_of_them() -> None:
    quote = build("SUB-1001", "SUB-1003", "SUB-1002", kind=QuoteKind.CO_TERM, exclude=["SUB-1003"])
    assert [line.subscription_id for line in quote.lines] == ["SUB-1001"]
    assert said("SUB-1001", "SUB-1002", kind=QuoteKind.CO_TERM, exclude=["SUB-1001"]) == (
        "bad input: every line is excluded: a quote needs at least one subscription"
    )
    assert said("SUB-1001", "SUB-1002", kind=QuoteKind.CO_TERM, exclude=["SUB-1002"]) == (
        "bad input: SUB-1002 is not on this quote"
    )


def test_r01_a_co_term_quote_checks_the_window_of_the_lines_that_move_only() -> None:
    # SUB-1004 (ends 2027-03-26) is not in its window yet; it does not move, SUB-1001 moves to its end.
    quote = build("SUB-1001", "SUB-1004", kind=QuoteKind.CO_TERM)
    assert [(line.subscription_id, line.co_term_end_date) for line in quote.lines] == [("SUB-1001", date(2027, 3, 26))]


@pytest.mark.parametrize(
    ("origin", "fields", "text"),
    [
        (
            Origin.SELF_SERVICE,
            {"start_date": date(2026, 12, 20)},
            "refused (R10): a future start date is not allowed in self-service: "
            "a renewal starts the day after the current end date",
        ),
        (
            Origin.SALES,
            {"start_date": date(2026, 12, 20)},
            "refused (R25): a renewal starts the day after the current end date; "
            "only a new-purchase line may start later",
        ),
        (
            Origin.SELF_SERVICE,
            {"new_credit_line": True},
            "refused (R10): opening a new credit line is not allowed in self-service; ask sales",
        ),
        (
            Origin.SALES,
            {"new_credit_line": True},
            "refused (R25): a new credit line is arranged by sales outside of quotes",
        ),
    ],
)
def test_r10_what_a_renewal_may_not_change(origin: Origin, fields: dict, text: str) -> None:
    assert said("SUB-1001", origin=origin, **fields) == text


@pytest.mark.parametrize("origin", [Origin.SALES, Origin.PARTNER])
def test_r25_a_partner_or_sales_renewal_may_change_the_currency_and_says_from_which(origin: Origin) -> None:
    quote = build("SUB-1001", origin=origin, currency="JPY")
    assert (quote.currency, quote.from_currency, quote.holds_auto_renew) == ("JPY", "EUR", True)
    assert quote.json_view()["from_currency"] == "EUR"
    assert build("SUB-1001", origin=origin, currency="EUR").from_currency is None


def test_r25_a_partner_or_sales_renewal_may_move_to_a_new_partner_but_self_service_may_not() -> None:
    moved = build("SUB-2001", "SUB-2002", csn=DE_VRIES, origin=Origin.PARTNER, new_partner_csn="5200000003")
    assert (moved.partner_csn, moved.new_partner_csn, moved.holds_auto_renew) == ("5200000001", "5200000003", True)
    direct = build("SUB-1001", origin=Origin.SALES, new_partner_csn="5200000003")
    assert (direct.purchase_method, direct.new_partner_csn) == (PurchaseMethod.DIRECT, "5200000003")
    assert said("SUB-1001", new_partner_csn="5200000003") == (
        "refused (R10): a change of partner is not allowed in self-service; ask the new partner or sales"
    )
    assert said("SUB-2001", csn=DE_VRIES, origin=Origin.PARTNER, new_partner_csn="5200000001") == (
        "refused (R25): partner 5200000001 already has these subscriptions"
    )
    # R08 still holds: the subscriptions share one current partner.
    assert said("SUB-2002", "SUB-2003", csn=DE_VRIES, origin=Origin.PARTNER, new_partner_csn="5200000003").startswith(
        "refused (R08): "
    )


def test_r10_seats_refusals_say_from_what_to_what() -> None:
    assert said("SUB-1001", seats={"SUB-1001": 6}) == (
        "refused (R10): adding seats is not allowed in self-service (SUB-1001: 5 → 6); ask your partner or sales"
    )
    kept = build("SUB-1001", seats={"SUB-1001": 5}, terms={"SUB-1001": Term.THREE_YEAR})
    assert (kept.lines[0].seats, kept.lines[0].term) == (5, Term.THREE_YEAR)
    assert build("SUB-1001", seats={"SUB-1001": 1}).lines[0].seats == 1


def test_r10_seats_below_one_or_for_a_line_without_known_seats() -> None:
    line = QuoteLine.of(SUBS["SUB-1001"])
    with pytest.raises(BadInput, match=r"^seats for SUB-1001 must be at least 1, not 0$"):
        check_line_changes(Origin.SALES, [line], {"SUB-1001": 0}, {})
    unknown = line.model_copy(update={"current_seats": None})
    with pytest.raises(Refused, match=r"\(SUB-1001: 0 → 1\)"):
        check_line_changes(Origin.SELF_SERVICE, [unknown], {"SUB-1001": 1}, {})


def test_r04_a_recipient_listed_twice_in_any_case() -> None:
    with pytest.raises(Refused) as caught:
        check_recipients(["it@acme.example", "IT@acme.example"], "buyer@acme.example")
    assert str(caught.value) == "refused (R04): a recipient is listed twice"


@pytest.mark.parametrize(
    ("ids", "csn", "text"),
    [
        (
            ("SUB-1004",),
            ACME,
            "refused (R01): SUB-1004 cannot be renewed now: its renewal window opens 2026-12-26",
        ),
        (
            ("SUB-1005",),
            ACME,
            "refused (R01): SUB-1005 cannot be renewed now: its renewal window closed 2026-11-11",
        ),
        (
            ("SUB-1006",),
            ACME,
            "refused (R10): SUB-1006: success plans cannot be renewed in self-service; ask your partner or sales",
        ),
        (
            ("SUB-2004",),
            DE_VRIES,
            "refused (R10): SUB-2004: value-based purchases cannot be renewed in self-service; "
            "ask your partner or sales",
        ),
    ],
)
def test_r01_r10_a_subscription_that_cannot_be_renewed_now_or_here_says_why(ids: tuple, csn: str, text: str) -> None:
    assert said(*ids, csn=csn) == text


def test_r07_a_co_term_quote_needs_two_subscriptions_ending_on_different_days() -> None:
    assert said("SUB-1001", kind=QuoteKind.CO_TERM) == "bad input: a co-term quote aligns at least two subscriptions"
    assert said("SUB-2001", "SUB-2001", csn=DE_VRIES, kind=QuoteKind.CO_TERM, origin=Origin.PARTNER) == (
        "bad input: these subscriptions already end on the same day, 2026-12-21"
    )


def test_r04_a_co_term_quote_drops_the_buyer_listed_again() -> None:
    quote = build("SUB-1001", "SUB-1002", kind=QuoteKind.CO_TERM, recipients=["Buyer@Acme.example", "it@acme.example"])
    assert quote.recipients == ["it@acme.example"]
