"""R01 and R12: a term's calendar (when its window opens, its auto quote, its renewal, its close) and
which subscriptions get an auto quote. SubscriptionWorkflow waits for these moments; here they are
checked to the microsecond."""

from datetime import UTC, date, datetime, timedelta

import pytest

from domain.calendar import TermCalendar, auto_quote_wanted, midnight
from domain.eligibility import eligibility, window_closes
from tests.unit.test_eligibility import END, subscription

# The events of the term ending 2027-03-31 (END). Each test makes its calendar when it runs: one made at
# import would be made before mutmut picks the mutant under test.
OPENS = datetime(2026, 12, 31, tzinfo=UTC)  # 90 days before
AUTO_QUOTE = datetime(2027, 3, 1, tzinfo=UTC)  # 30 days before
DUE = datetime(2027, 3, 31, tzinfo=UTC)  # the end date
CLOSES = datetime(2027, 5, 16, tzinfo=UTC)  # the end of 2027-05-15, the 45th day after
TICK = timedelta(microseconds=1)


def test_r01_r12_events_fall_at_midnight_utc_of_their_days() -> None:
    assert midnight(date(2027, 3, 31)) == datetime(2027, 3, 31, 0, 0, tzinfo=UTC)
    assert midnight(date(2027, 3, 31)).utcoffset() == timedelta(0)
    calendar = TermCalendar.of(END)
    assert calendar == TermCalendar(window_opens=OPENS, auto_quote=AUTO_QUOTE, renewal_due=DUE, window_closes=CLOSES)
    assert all(at.tzinfo is UTC for at in calendar.model_dump().values())


def test_r01_the_calendar_closes_the_window_after_the_last_day_eligibility_allows() -> None:
    last_day = window_closes(END)
    assert eligibility(subscription(), last_day).eligible
    assert TermCalendar.of(END).window_closes == midnight(last_day) + timedelta(days=1) == CLOSES


@pytest.mark.parametrize(
    ("now", "event"),
    [
        (datetime(2026, 1, 1, tzinfo=UTC), ("window opens", OPENS)),
        (OPENS - TICK, ("window opens", OPENS)),
        (OPENS, ("auto quote", AUTO_QUOTE)),
        (AUTO_QUOTE - TICK, ("auto quote", AUTO_QUOTE)),
        (AUTO_QUOTE, ("auto-renew", DUE)),
        (DUE - TICK, ("auto-renew", DUE)),
        (DUE, ("window closes", CLOSES)),
        (CLOSES - TICK, ("window closes", CLOSES)),
    ],
)
def test_r01_r12_next_event_is_the_first_strictly_after_now(now: datetime, event: tuple[str, datetime]) -> None:
    assert TermCalendar.of(END).next_after(now) == event


def test_r01_nothing_follows_the_window_close() -> None:
    assert TermCalendar.of(END).next_after(CLOSES) is None
    assert TermCalendar.of(END).next_after(CLOSES + timedelta(days=400)) is None


@pytest.mark.parametrize("term", ["annual", "3-year"])
def test_r12_auto_quote_for_an_annual_or_3_year_direct_standard_term_with_auto_renew_off(term: str) -> None:
    assert auto_quote_wanted(subscription(term=term, auto_renew=False), pending_quotes=0) is True


@pytest.mark.parametrize(
    "changes",
    [
        {"term": "monthly"},
        {"purchase_method": "partner", "partner_csn": "5200000001"},
        {"auto_renew": True},
        {"offering": "success-plan"},
        {"offering": "value-based"},
    ],
)
def test_r12_no_auto_quote_when_any_one_condition_fails(changes: dict) -> None:
    assert auto_quote_wanted(subscription(**({"auto_renew": False} | changes)), pending_quotes=0) is False


@pytest.mark.parametrize("pending", [1, 2])
def test_r12_no_auto_quote_while_a_quote_is_pending(pending: int) -> None:
    assert auto_quote_wanted(subscription(auto_renew=False), pending_quotes=pending) is False
