"""R01 renewal window and R10 offerings, as the `subscriptions` command reports them."""

from datetime import date, timedelta

import pytest

from domain.eligibility import eligibility, in_window
from domain.models import Subscription

END = date(2027, 3, 31)


def subscription(**changes) -> Subscription:
    fields = dict(
        id="SUB-1",
        csn="5100000001",
        product="AutoCAD",
        seats=5,
        term="annual",
        currency="EUR",
        purchase_method="direct",
        partner_csn=None,
        offering="standard",
        start_date=date(2026, 4, 1),
        end_date=END,
        auto_renew=True,
    )
    return Subscription.model_validate(fields | changes)


@pytest.mark.parametrize(
    ("offset", "eligible"),
    [(-91, False), (-90, True), (-1, True), (0, True), (45, True), (46, False)],
)
def test_r01_window_boundaries(offset: int, eligible: bool) -> None:
    today = END + timedelta(days=offset)
    assert in_window(END, today) is eligible
    assert eligibility(subscription(), today).eligible is eligible


def test_r01_before_window_names_opening_date() -> None:
    verdict = eligibility(subscription(), END - timedelta(days=91))
    assert verdict.rule == "R01"
    assert verdict.reason == "R01: window opens 2026-12-31"


def test_r01_after_window_names_closing_date() -> None:
    verdict = eligibility(subscription(), END + timedelta(days=46))
    assert verdict.reason == "R01: window closed 2027-05-15"


def test_r10_success_plan_not_eligible_inside_window() -> None:
    verdict = eligibility(subscription(offering="success-plan"), END)
    assert (verdict.eligible, verdict.reason) == (False, "R10: success plans cannot be renewed in self-service")


def test_r10_value_based_not_eligible_inside_window() -> None:
    verdict = eligibility(subscription(offering="value-based"), END)
    assert verdict.eligible is False and verdict.rule == "R10"


def test_r10_value_based_refusal_names_the_offering() -> None:
    verdict = eligibility(subscription(offering="value-based"), END)
    assert verdict.reason == "R10: value-based purchases cannot be renewed in self-service"


def test_r01_r10_an_eligible_subscription_has_no_rule_and_no_reason() -> None:
    verdict = eligibility(subscription(), END)
    assert (verdict.eligible, verdict.rule, verdict.reason) == (True, None, None)
