"""The README's tour, the walkthrough pages and the API page, run as a reader pastes them into a second terminal
against a fresh `make run`: every printed outcome they show (state, total, refusal rule, exit status) must be
what the product prints. A page that drifts from the product fails here."""

import os
import subprocess
from pathlib import Path

from tests.helpers import BIN, DevProcess
from tests.readme import Step, doc_steps, mismatch

ROOT = Path(__file__).resolve().parents[2]
README = ROOT / "README.md"
# Each (file, `## ` section) in the order a reader follows them on one `make run`: the README's tour pays the
# demo quote, the walkthrough's two pages go on from there, and the API page's calls come last.
RUN = [
    ("README.md", "A five-minute tour"),
    ("docs/walkthrough.md", "Look around"),
    ("docs/walkthrough.md", "A quote from draft to paid"),
    ("docs/walkthrough.md", "Paying (R16, R17)"),
    ("docs/walkthrough.md", "The renewal calendar"),
    ("docs/walkthrough.md", "Co-term and new purchases (R07)"),
    ("docs/walkthrough.md", "Reminders and revisions (R22, R23)"),
    ("docs/walkthrough-partners.md", "Documents and languages"),
    ("docs/walkthrough-partners.md", "Partners and procurement (R25-R27)"),
    ("docs/walkthrough-partners.md", "Tax and invoices (R28)"),
    ("docs/api.md", "Backend API"),
    ("docs/api.md", "Webhooks"),
]
STRIPE_RUN = [("docs/payments.md", "Paying with Stripe (locally)")]
# What the Stripe section's first command block gives `make run` (the test's localstripe is on a free port).
STRIPE = {
    "RENEWALS_PAYMENTS": "stripe",
    "STRIPE_API_KEY": "sk_test_local",
    "STRIPE_PUBLISHABLE_KEY": "pk_test_local",
    "STRIPE_WEBHOOK_SECRET": "whsec_local",
}


def script(steps: list[Step], out: Path) -> str:
    """One shell, so variables set by a step (`Q=$(...)`) reach the next; each step's output and status kept."""
    lines = ["cd " + str(out.parent)]
    for n, step in enumerate(steps):
        lines += ["{ " + step.command, f"}} >{out}/{n}.out 2>&1; echo $? >{out}/{n}.rc"]
    return "\n".join(lines) + "\n"


def on_this_stack(steps: list[Step], dev: DevProcess) -> list[Step]:
    """The pages show `make run`'s default web port; this stack runs on a free one."""
    web = f"http://localhost:{dev.port('--web-port')}"
    for step in steps:
        step.command = step.command.replace("http://localhost:8000", web)
        step.expected = [e.replace("http://localhost:8000", web) for e in step.expected]
    return steps


def run(steps: list[Step], dev: DevProcess, env: dict[str, str], timeout: int) -> list[str]:
    """The steps in one shell of a second terminal (`env`, with the project's commands on PATH) beside `dev`:
    what each printed against what the README says."""
    out = dev.var.parent / "readme"
    out.mkdir()
    env = env | {"PATH": f"{BIN}{os.pathsep}{os.environ['PATH']}"}
    subprocess.run(["bash"], input=script(steps, out), text=True, env=env, cwd=dev.var.parent, timeout=timeout)
    problems = []
    for n, step in enumerate(steps):
        printed = (out / f"{n}.out").read_text(errors="replace") if (out / f"{n}.out").exists() else ""
        status = int((out / f"{n}.rc").read_text()) if (out / f"{n}.rc").exists() else -1
        if (problem := mismatch(step, printed, status)) is not None:
            problems.append(problem)
    return problems


def test_readme_walkthrough_and_api_print_what_the_readme_shows(dev: DevProcess, tmp_path: Path) -> None:
    steps = doc_steps(ROOT, RUN)
    assert len(steps) > 30 and sum(bool(s.expected) for s in steps) > 20, "the README test found too few steps"
    dev.start(seed=True)
    problems = run(on_this_stack(steps, dev), dev, dev.env, timeout=600) + banner_problems(dev)
    assert not problems, "\n\n".join(problems)
    assert dev.ctrl_c() == 0


def test_readme_stripe_walkthrough_pays_refunds_after_a_supersede_and_records_a_transfer_audit_clean(
    dev: DevProcess, localstripe: str
) -> None:
    """docs/payments.md's "Paying with Stripe (locally)": its three commands done as it says (localstripe, its
    webhook, `make run` with Stripe's settings), then each step in a second terminal that has only var/dev.env."""
    import httpx

    steps = doc_steps(ROOT, STRIPE_RUN)
    assert len(steps) > 15 and sum(bool(s.expected) for s in steps) > 8, "the README test found too few steps"
    terminal = dict(dev.env)
    dev.env = dev.env | STRIPE | {"STRIPE_API_BASE": localstripe}
    dev.start(seed=True)
    web = f"http://localhost:{dev.port('--web-port')}"
    hook = {"url": f"{web}/webhooks/stripe", "secret": STRIPE["STRIPE_WEBHOOK_SECRET"]}
    httpx.post(f"{localstripe}/_config/webhooks/renewals", data=hook, timeout=5).raise_for_status()
    problems = run(steps, dev, terminal, timeout=300)
    assert not problems, "\n\n".join(problems)
    assert dev.ctrl_c() == 0


def banner_problems(dev: DevProcess) -> list[str]:
    """What `make run` prints (the README's "Two commands" and the demo quote's link), on this stack's ports."""
    text = README.read_text(encoding="utf-8")
    ports = {
        "localhost:8000": f"localhost:{dev.port('--web-port')}",
        "localhost:8233": f"localhost:{dev.port('--ui-port')}",
        ":7233": f":{dev.port('--temporal-port')}",
        ":8025": f":{dev.port('--smtp-port')}",
        ":8099": f":{dev.port('--webhook-port')}",
    }
    problems = []
    for first in ("renewal-quotes is running", "sent demo quote"):
        start = text.index("\n" + first) + 1
        block = text[start : text.index("```", start)]
        for old, new in ports.items():
            block = block.replace(old, new)
        step = Step(command=f"make run ({first})", line=text[:start].count("\n") + 1, expected=block.splitlines())
        if (problem := mismatch(step, dev.log.read_text(), 0)) is not None:
            problems.append(problem)
    return problems
