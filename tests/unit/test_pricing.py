"""R11 promotions and R15 money, against amounts computed by hand."""

from datetime import date
from decimal import Decimal

import pytest

from domain.models import Price, Promotion, QuoteKind, Term
from domain.pricing import MissingPrice, price_lines
from domain.quotes import QuoteLine

TODAY = date(2026, 11, 26)


def line(product: str, seats: int, term: str = "annual") -> QuoteLine:
    return QuoteLine(
        subscription_id=f"SUB-{product}",
        product=product,
        seats=seats,
        term=Term(term),
        current_seats=seats,
        current_term=Term(term),
        end_date=date(2026, 12, 31),
    )


def price(product: str, unit: str, currency: str = "EUR", term: str = "annual") -> Price:
    return Price(product=product, term=term, currency=currency, unit_price=Decimal(unit))


def promo(
    code: str,
    *,
    percent: str | None = None,
    amount: str | None = None,
    products=("AutoCAD",),
    terms=("annual",),
    currencies=("EUR",),
    kinds=("renewal",),
    starts=date(2026, 1, 1),
    ends=date(2027, 1, 1),
) -> Promotion:
    return Promotion(
        code=code,
        name=code,
        percent_off=percent and Decimal(percent),
        amount_off=amount and Decimal(amount),
        products=list(products),
        terms=list(terms),
        currencies=list(currencies),
        kinds=list(kinds),
        starts=starts,
        ends=ends,
    )


def test_r15_eur_line_rounded_half_up_per_line() -> None:
    # 3 × 79.99 = 239.97; 12.5% of 239.97 = 29.99625 → 30.00; total 209.97
    priced = price_lines(
        [line("Fusion", 3)],
        [price("Fusion", "79.99")],
        [promo("P", percent="12.5", products=["Fusion"])],
        "EUR",
        QuoteKind.RENEWAL,
        TODAY,
    )
    assert (priced.lines[0].amount, priced.lines[0].discount) == (Decimal("239.97"), Decimal("30.00"))
    assert (priced.subtotal, priced.discount_total, priced.total) == (
        Decimal("239.97"),
        Decimal("30.00"),
        Decimal("209.97"),
    )


def test_r15_jpy_has_no_minor_units() -> None:
    # 7 × 1,234.5 = 8,641.5 → 8,642; 10% = 864.2 → 864; total 7,778
    priced = price_lines(
        [line("AutoCAD", 7)],
        [price("AutoCAD", "1234.5", "JPY")],
        [promo("J", percent="10", currencies=["JPY"])],
        "JPY",
        QuoteKind.RENEWAL,
        TODAY,
    )
    assert (priced.lines[0].amount, priced.lines[0].discount, priced.total) == (
        Decimal("8642"),
        Decimal("864"),
        Decimal("7778"),
    )


def test_r15_total_is_sum_of_lines_minus_discounts() -> None:
    lines = [line("AutoCAD", 5), line("Revit", 2)]
    priced = price_lines(
        lines,
        [price("AutoCAD", "2030.00"), price("Revit", "3040.00")],
        [promo("RENEW10", percent="10", products=["AutoCAD", "Revit"])],
        "EUR",
        QuoteKind.RENEWAL,
        TODAY,
    )
    # 10,150.00 + 6,080.00 = 16,230.00; discounts 1,015.00 + 608.00 = 1,623.00
    assert (priced.subtotal, priced.discount_total, priced.total) == (
        Decimal("16230.00"),
        Decimal("1623.00"),
        Decimal("14607.00"),
    )


def test_r11_best_single_promotion_no_stacking() -> None:
    promotions = [promo("TEN", percent="10"), promo("FLAT", amount="1500"), promo("FIVE", percent="5")]
    priced = price_lines(
        [line("AutoCAD", 5)], [price("AutoCAD", "2030.00")], promotions, "EUR", QuoteKind.RENEWAL, TODAY
    )
    # 10% of 10,150.00 = 1,015.00 < 1,500.00 flat: FLAT alone applies
    assert (priced.lines[0].promotion, priced.lines[0].discount) == ("FLAT", Decimal("1500.00"))


@pytest.mark.parametrize(
    "why, promotion",
    [
        ("ended", promo("OLD", percent="50", ends=date(2026, 11, 25))),
        ("not started", promo("SOON", percent="50", starts=date(2026, 11, 27))),
        ("other product", promo("REVIT", percent="50", products=["Revit"])),
        ("other term", promo("3Y", percent="50", terms=["3-year"])),
        ("other currency", promo("JPY", percent="50", currencies=["JPY"])),
        ("new purchases only", promo("NEW", percent="50", kinds=["new"])),
    ],
)
def test_r11_promotion_outside_its_scope_does_not_apply(why: str, promotion: Promotion) -> None:
    priced = price_lines(
        [line("AutoCAD", 1)], [price("AutoCAD", "2030.00")], [promotion], "EUR", QuoteKind.RENEWAL, TODAY
    )
    assert (priced.lines[0].promotion, priced.lines[0].discount) == (None, Decimal(0)), why
    assert str(priced.lines[0].discount) == "0.00"  # R15: in the currency's minor units, as discount_total


def test_r11_amount_off_never_exceeds_the_line() -> None:
    priced = price_lines(
        [line("AutoCAD", 1)],
        [price("AutoCAD", "100.00")],
        [promo("BIG", amount="500")],
        "EUR",
        QuoteKind.RENEWAL,
        TODAY,
    )
    assert (priced.lines[0].discount, priced.total) == (Decimal("100.00"), Decimal("0.00"))


def test_r15_missing_price_names_product_term_currency() -> None:
    with pytest.raises(MissingPrice, match="no price for Maya 3-year in EUR"):
        price_lines([line("Maya", 1, "3-year")], [price("Maya", "1932.00")], [], "EUR", QuoteKind.RENEWAL, TODAY)


def priced_autocad(promotions: list[Promotion], on: date = TODAY):
    return price_lines([line("AutoCAD", 1)], [price("AutoCAD", "2030.00")], promotions, "EUR", QuoteKind.RENEWAL, on)


@pytest.mark.parametrize("on", [date(2026, 11, 1), date(2026, 11, 30)])
def test_r11_a_promotion_applies_on_its_first_and_last_day(on: date) -> None:
    edge = promo("EDGE", percent="10", starts=date(2026, 11, 1), ends=date(2026, 11, 30))
    assert priced_autocad([edge], on).lines[0].promotion == "EDGE"


def test_r11_a_promotion_that_does_not_apply_does_not_hide_the_ones_after_it() -> None:
    # Promotions are looked at by code: AAA (for Revit only) comes first and is passed over.
    priced = priced_autocad([promo("ZZZ", percent="5"), promo("AAA", percent="50", products=["Revit"])])
    assert (priced.lines[0].promotion, priced.lines[0].discount) == ("ZZZ", Decimal("101.50"))


def test_r11_of_two_equal_discounts_the_first_code_alphabetically_applies() -> None:
    priced = priced_autocad([promo("TEN-B", percent="10"), promo("TEN-A", amount="203"), promo("TEN-C", percent="10")])
    assert (priced.lines[0].promotion, priced.lines[0].discount) == ("TEN-A", Decimal("203.00"))


def test_r15_each_priced_line_keeps_its_unit_price() -> None:
    priced = priced_autocad([])
    assert (priced.lines[0].unit_price, priced.lines[0].amount, priced.lines[0].promotion) == (
        Decimal("2030.00"),
        Decimal("2030.00"),
        None,
    )


def test_r07_co_term_line_pays_the_days_it_adds_of_the_days_in_its_term() -> None:
    # 3 × 100.00 = 300.00 a year; the line adds 91 of the 365 days of its next term: 74.794520… → 74.79.
    co_term = line("AutoCAD", 3).model_copy(
        update={"end_date": date(2026, 3, 31), "co_term_end_date": date(2026, 6, 30)}
    )
    assert co_term.proration == (91, 365)
    priced = price_lines([co_term], [price("AutoCAD", "100.00")], [], "EUR", QuoteKind.CO_TERM, TODAY)
    assert str(priced.lines[0].amount) == "74.79"


def test_r15_a_free_line_adds_nothing_to_the_subtotal() -> None:
    priced = price_lines(
        [line("Viewer", 4), line("AutoCAD", 1)],
        [price("Viewer", "0"), price("AutoCAD", "2030.00")],
        [],
        "EUR",
        QuoteKind.RENEWAL,
        TODAY,
    )
    assert [str(p.amount) for p in priced.lines] == ["0.00", "2030.00"]
    assert str(priced.subtotal) == "2030.00"


def test_r15_jpy_totals_are_whole_yen() -> None:
    # Compared as text: Decimal("7778") == Decimal("7778.00"), but a JPY total has no minor units.
    priced = price_lines(
        [line("AutoCAD", 7), line("Revit", 1)],
        [price("AutoCAD", "1234.5", "JPY"), price("Revit", "999", "JPY")],
        [promo("J", percent="10", currencies=["JPY"])],
        "JPY",
        QuoteKind.RENEWAL,
        TODAY,
    )
    assert (str(priced.subtotal), str(priced.discount_total), str(priced.total)) == ("9641", "864", "8777")


def test_r15_a_yen_line_no_promotion_applies_to_has_a_discount_of_whole_yen() -> None:
    priced = price_lines([line("Revit", 1)], [price("Revit", "999", "JPY")], [], "JPY", QuoteKind.RENEWAL, TODAY)
    assert (str(priced.lines[0].discount), priced.lines[0].promotion) == ("0", None)
