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
