"""The README itself, in `make test`: its banner and its five-minute tour (the demo quote paid, its receipt, the
API docs) run as a newcomer pastes them against a fresh `make run`, and nothing printed has a traceback. The
walkthrough pages that follow it run in `make test-system` (tests/e2e/test_readme.py), on one stack."""

from tests.e2e.test_readme import ROOT, banner_problems, on_this_stack, run
from tests.helpers import DevProcess
from tests.readme import doc_steps

TOUR = [("README.md", "A five-minute tour")]


def test_readme_tour_pays_the_demo_quote_shows_its_receipt_and_the_api_docs(dev: DevProcess) -> None:
    steps = doc_steps(ROOT, TOUR)
    assert len(steps) >= 3 and all(step.expected for step in steps), "the README's tour lost its commands"
    dev.start(seed=True)
    problems = run(on_this_stack(steps, dev), dev, dev.env, timeout=120) + banner_problems(dev)
    assert not problems, "\n\n".join(problems)
    assert dev.ctrl_c() == 0
    printed = dev.log.read_text()
    assert [line for line in printed.splitlines() if "Traceback" in line] == [], printed
