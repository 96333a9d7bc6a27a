"""The README test's reading of the README: a drifted outcome, rule or exit status is caught."""

from tests.readme import Step, mismatch, steps

README = """
## Walkthrough

```sh
Q=$(renewals quote create --csn 1 --subscription SUB-1 \\
    --send --print number)
renewals quote pay $Q      # a comment, for the reader
#  refused (lifecycle): quote Q-000002 is paid; it can no longer be paid
# a comment line
renewals quote show $Q
```
```
Quote Q-000002 · sent · renewal
total       EUR 10,722.00
```

<!-- not run: needs a browser -->
```sh
renewals quote accept $Q --pay
```

## Other

```sh
renewals never-run
```
"""


def test_readme_steps_are_its_commands_with_what_they_print() -> None:
    found = steps(README, ["Walkthrough"])
    assert [s.command.split()[:3] for s in found] == [
        ["Q=$(renewals", "quote", "create"],
        ["renewals", "quote", "pay"],
        ["renewals", "quote", "show"],
    ]
    assert found[0].command.endswith("--send --print number)")
    assert found[1].expected == ["refused (lifecycle): quote Q-000002 is paid; it can no longer be paid"]
    assert (found[0].exit_status, found[1].exit_status, found[2].exit_status) == (0, 2, 0)
    assert found[2].expected == ["Quote Q-000002 · sent · renewal", "total       EUR 10,722.00"]


def test_readme_step_matches_a_run_of_another_day_but_not_another_outcome() -> None:
    step = Step(
        command="renewals quote create --subscription SUB-1004",
        line=1,
        expected=["refused (R01): SUB-1004 cannot be renewed now: its renewal window opens 2026-12-26"],
    )
    printed = "refused (R01): SUB-1004 cannot be renewed now: its renewal window opens 2027-01-09\n"
    assert mismatch(step, printed, 2) is None
    assert "exit status 0" in (mismatch(step, printed, 0) or "")
    other_rule = printed.replace("R01", "R10")
    assert "not printed" in (mismatch(step, other_rule, 2) or "")


def test_readme_printed_lines_are_found_in_their_order_with_any_spacing() -> None:
    step = Step(command="renewals quote show $Q", line=1, expected=["Quote Q-000002 · sent", "total EUR 10,722.00"])
    assert mismatch(step, "Quote Q-000002 · sent · renewal\n...\ntotal       EUR 10,722.00\n", 0) is None
    assert mismatch(step, "total EUR 10,722.00\nQuote Q-000002 · sent\n", 0) is not None
    assert mismatch(step, "Quote Q-000002 · paid\ntotal EUR 10,722.00\n", 0) is not None
    assert mismatch(step, "Quote Q-000002 · sent\ntotal EUR 10,723.00\n", 0) is not None
