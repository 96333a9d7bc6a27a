"""How fast the money model runs (tests/unit/test_model_money.py, issue 31): `python -m tests.model_rate [N]`
runs its state machine for N sequences (default 1000) with the test's settings, and prints the sequences and
steps it ran a second. Not a test: pytest collects only `test_*` files."""

import sys
import time

from hypothesis import settings
from hypothesis.stateful import run_state_machine_as_test

from tests.unit.test_model_money import MoneyModel


def main(argv: list[str]) -> None:
    wanted = int(argv[1]) if len(argv) > 1 else 1000
    started = time.perf_counter()
    run_state_machine_as_test(MoneyModel, settings=settings(MoneyModel.TestCase.settings, max_examples=wanted))
    took = time.perf_counter() - started
    sequences, steps = MoneyModel.sequences, MoneyModel.steps
    print(
        f"{sequences} sequences, {steps} steps in {took:.1f} s: "
        f"{sequences / took:.0f} sequences/second, {steps / took:.0f} steps/second"
    )


if __name__ == "__main__":
    main(sys.argv)
