"""R10 and R25 for new purchases: in self-service they start when paid; partner and sales may start them up to 90
days ahead; none opens a credit line."""

from datetime import UTC, date, datetime, timedelta

import pytest

from domain.errors import Refused
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


def test_r25_sales_new_purchase_with_a_credit_line_is_refused_naming_r25() -> None:
    with pytest.raises(Refused) as refused:
        build_quote("Q-1", new_purchase("sales", new_credit_line=True), CUSTOMER, [], NOW.date(), NOW)
    assert refused.value.rule == "R25" and "arranged by sales outside of quotes" in refused.value.message


@pytest.mark.parametrize("origin", ["sales", "partner"])
def test_r25_partner_and_sales_new_purchase_may_start_up_to_90_days_ahead(origin: str) -> None:
    start = NOW.date() + timedelta(days=90)
    extra = {"partner_csn": "5200000001"} if origin == "partner" else {}
    quote = build_quote("Q-1", new_purchase(origin, start_date=start, **extra), CUSTOMER, [], NOW.date(), NOW)
    assert quote.start_date == start and quote.json_view()["start_date"] == start.isoformat()


@pytest.mark.parametrize(("days", "words"), [(91, "at most 90 days ahead"), (-1, "is in the past")])
def test_r25_a_start_past_90_days_or_in_the_past_is_refused_naming_r25(days: int, words: str) -> None:
    start = NOW.date() + timedelta(days=days)
    with pytest.raises(Refused) as refused:
        build_quote("Q-1", new_purchase("sales", start_date=start), CUSTOMER, [], NOW.date(), NOW)
    assert refused.value.rule == "R25" and words in refused.value.message


def test_r10_plain_new_purchase_is_made() -> None:
    quote = build_quote("Q-1", new_purchase("self-service"), CUSTOMER, [], NOW.date(), NOW)
    assert [(line.product, line.subscription_id) for line in quote.lines] == [("Maya", None)]
