"""R05 bulk-renewal groups and R08 one partner per quote."""

from datetime import date

from domain.grouping import renewal_groups
from tests.unit.test_eligibility import END, subscription

TODAY = END


def keys(subs) -> list[tuple[str, list[str]]]:
    return [(g.key, [s.id for s in g.subscriptions]) for g in renewal_groups(subs, TODAY)]


def test_r05_groups_by_csn_currency_and_purchase_method() -> None:
    subs = [
        subscription(id="A"),
        subscription(id="B", product="Revit"),
        subscription(id="C", currency="JPY"),
        subscription(id="D", purchase_method="partner", partner_csn="5200000001"),
        subscription(id="E", csn="5100000009"),
    ]
    assert keys(subs) == [
        ("5100000001/EUR/direct", ["A", "B"]),
        ("5100000001/EUR/partner/5200000001", ["D"]),
        ("5100000001/JPY/direct", ["C"]),
        ("5100000009/EUR/direct", ["E"]),
    ]


def test_r08_partner_purchases_split_by_partner_csn() -> None:
    subs = [
        subscription(id="P1", purchase_method="partner", partner_csn="5200000001"),
        subscription(id="P2", purchase_method="partner", partner_csn="5200000002"),
        subscription(id="P3", purchase_method="partner", partner_csn="5200000001"),
    ]
    assert keys(subs) == [
        ("5100000001/EUR/partner/5200000001", ["P1", "P3"]),
        ("5100000001/EUR/partner/5200000002", ["P2"]),
    ]


def test_r05_only_eligible_subscriptions_are_grouped() -> None:
    subs = [
        subscription(id="IN"),
        subscription(id="EARLY", end_date=date(2027, 9, 30)),
        subscription(id="PLAN", offering="success-plan"),
    ]
    assert keys(subs) == [("5100000001/EUR/direct", ["IN"])]


def test_r05_an_ineligible_subscription_does_not_stop_the_grouping() -> None:
    # Sorted by end date then id, the success plan comes first; the ones after it are still grouped.
    subs = [
        subscription(id="B"),
        subscription(id="A-PLAN", offering="success-plan"),
        subscription(id="C"),
    ]
    assert keys(subs) == [("5100000001/EUR/direct", ["B", "C"])]
