"""R16: a provider is charged in whole minor units, exactly: never a rounded amount where money moves."""

from decimal import Decimal

import pytest

from domain.money import from_minor, to_minor


@pytest.mark.parametrize(
    ("amount", "exponent", "units"),
    [(Decimal("10.50"), 2, 1050), (Decimal("120000"), 0, 120000), (Decimal("1.234"), 3, 1234), (Decimal("0"), 2, 0)],
)
def test_r16_an_amount_goes_to_minor_units_and_back_exactly(amount: Decimal, exponent: int, units: int) -> None:
    assert to_minor(amount, exponent) == units and isinstance(to_minor(amount, exponent), int)
    assert from_minor(units, exponent) == amount


def test_r16_an_amount_finer_than_the_unit_is_refused_never_rounded() -> None:
    with pytest.raises(ValueError, match=r"^10.505 has more than 2 decimal place\(s\)$"):
        to_minor(Decimal("10.505"), 2)
    with pytest.raises(ValueError, match=r"^1.5 has more than 0 decimal place\(s\)$"):
        to_minor(Decimal("1.5"), 0)
