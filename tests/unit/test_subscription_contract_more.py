"""Where a calendar runs (contracts/subscription.py): on a task queue of its own beside the quotes'
(docs/operations.md, TEMPORAL_TASK_QUEUE), so a burst of renewals never queues a buyer's accept and pay
behind it."""

import pytest

from contracts.subscription import CALENDARS, task_queue


@pytest.mark.parametrize(
    ("given", "calendars"),
    [
        ("renewal-quotes", "renewal-quotes-calendars"),
        ("renewal-quotes-calendars", "renewal-quotes-calendars"),  # given the calendars' own, the same
        ("calendars", "calendars-calendars"),  # the suffix is "-calendars", not the word
        ("q-calendars-x", "q-calendars-x-calendars"),
    ],
)
def test_the_calendars_task_queue_is_the_quotes_one_with_calendars_at_its_end(given, calendars) -> None:
    assert CALENDARS == "-calendars"
    assert task_queue(given) == calendars
    assert task_queue(task_queue(given)) == calendars
