"""R10 for new purchases: they start when paid and never open a credit line, in self-service or not."""

from datetime import UTC, date, datetime

import pytest

from domain.errors import BadInput, Refused
from domain.models import Customer, QuoteKind
from domain.quote_rules import NewLine, QuoteRequest, build_quote
from workers.demo_data import ACME

NOW = datetime(2026, 11, 26, tzinfo=UTC)
CUSTOMER = Customer(csn=ACME, name="Acme BV", email="buyer@acme.example", address="Keizersgracht 1")


def new_purchase(origin: str, **extra) -> QuoteRequest:
    return QuoteRequest(
        csn=ACME,
        kind=QuoteKind.NEW,
        currency="EUR",
        origin=origin,
        new_lines=[NewLine(product="Maya", seats=1, term="annual")],
        **extra,
    )


@pytest.mark.parametrize("extra", [{"new_credit_line": True}, {"start_date": date(2027, 1, 1)}])
def test_r10_self_service_new_purchase_with_credit_line_or_later_start_refused(extra: dict) -> None:
    with pytest.raises(Refused) as refused:
        build_quote("Q-1", new_purchase("self-service", **extra), CUSTOMER, [], NOW.date(), NOW)
    assert refused.value.rule == "R10"


@pytest.mark.parametrize("extra", [{"new_credit_line": True}, {"start_date": date(2027, 1, 1)}])
def test_r10_sales_new_purchase_with_credit_line_or_later_start_is_bad_input(extra: dict) -> None:
    with pytest.raises(BadInput):
        build_quote("Q-1", new_purchase("sales", **extra), CUSTOMER, [], NOW.date(), NOW)


def test_r10_plain_new_purchase_is_made() -> None:
    quote = build_quote("Q-1", new_purchase("self-service"), CUSTOMER, [], NOW.date(), NOW)
    assert [(line.product, line.subscription_id) for line in quote.lines] == [("Maya", None)]
