"""What `make run` prints while the demo works as designed: the 5126 card's expected retries are one line
per attempt, with the attempt and when the next one is; no traceback anywhere; Ctrl-C then says "stopped"."""

import re
import time

import httpx

from tests.helpers import DevProcess, form_fields, renewals

LOST = {"holder": "A. Buyer", "card_number": "4000 0000 0000 5126", "expiry": "12/29", "cvc": "123"}
# A log line as `make run` prints it: time, level, area, message.
LOG_LINE = re.compile(r"\d\d:\d\d:\d\d (DEBUG|INFO|WARNING|ERROR|CRITICAL) \S+ \S")
RETRY = re.compile(r"WARNING quote-Q-000001 find_payment attempt (\d) failed, next try in (\d+)s: ProviderUnavailable")


def test_the_demo_paid_with_the_5126_card_prints_one_line_per_retry_and_no_traceback(dev: DevProcess) -> None:
    dev.env = dev.env | {"PAYMENT_WAIT_SECONDS": "1"}  # the buyer hears "being confirmed" at once
    dev.args[dev.args.index("--workers") + 1] = "1"  # the retries in either process, each with its log
    dev.start(seed=True)
    link = renewals("quote", "link", "Q-000001", env=dev.env).stdout.split()[0]
    web = link.split("/quotes/")[0]
    with httpx.Client(base_url=web, timeout=30) as browser:
        token = form_fields(browser.get(link).text, "/quotes/Q-000001/accept")["token"]
        form = form_fields(browser.get("/quotes/Q-000001/pay", params={"token": token}).text, "/quotes/Q-000001/pay")
        paying = browser.post("/quotes/Q-000001/pay", data=form | LOST)
    assert paying.status_code == 202 and "being confirmed" in paying.text
    logs = [dev.log, dev.var / "worker-1.log"]
    deadline = time.monotonic() + 60
    while "3" not in [m.group(1) for m in RETRY.finditer(read(logs))]:
        assert time.monotonic() < deadline, f"no third attempt of find_payment:\n{read(logs)}"
        time.sleep(0.2)
    assert dev.ctrl_c() == 0

    printed = read(logs)
    assert [line for line in printed.splitlines() if "Traceback" in line] == []
    attempts = {int(m.group(1)): int(m.group(2)) for m in RETRY.finditer(printed)}
    assert {1: 1, 2: 2, 3: 4}.items() <= attempts.items(), printed  # workflows/steps.py OUTAGE: 1 s, doubling
    output = dev.log.read_text()
    running = output[output.index("Ctrl-C stops everything.") : output.index("\nstopping: ")].splitlines()[1:]
    assert [line for line in running if line and not LOG_LINE.match(line)] == [], output  # one line each
    assert [line for line in output[output.index("\nstopping: ") :].splitlines() if line][1:] == ["stopped"], output


def read(paths) -> str:
    return "".join(path.read_text() for path in paths if path.exists())
