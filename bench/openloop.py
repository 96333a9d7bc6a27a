"""Buyers arriving at a fixed rate (an open loop: nobody waits for the one before), each through the real HTTP
paths of a `renewals web` process: the API creates and sends a quote, the buyer opens its page, then
accepts and pays it with the CSRF field the page gave. Measured per step (p50, p99), the CPU milliseconds
per paid lifecycle of each process, and how many Temporal calls the web process made per GET (its own
`/metrics`)."""

import asyncio
import re
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

import httpx
import psutil

from bench.burst import cpu_seconds, quiet
from domain.links import LinkSigner

CARD = {"holder": "Bench Buyer", "card_number": "4242424242424242", "expiry": "12/39", "cvc": "123"}
STEPS = ("create+send", "page GET", "accept+pay")


@dataclass
class OpenLoopResult:
    rate: float
    count: int
    latencies: dict[str, list[float]] = field(default_factory=lambda: {s: [] for s in STEPS})
    cpu_ms: dict[str, float] = field(default_factory=dict)  # per paid lifecycle, by process
    failed: list[str] = field(default_factory=list)
    last_quote: str | None = None

    @property
    def paid(self) -> int:
        return len(self.latencies["accept+pay"])


def hidden_fields(html: str, action: str) -> dict[str, str]:
    form = html[html.index(f'action="{action}"') :]
    form = form[: form.index("</form>")]
    return dict(re.findall(r'<input type="hidden" name="([^"]+)" value="([^"]*)"', form))


class Buyers:
    """One buyer per arrival, on subscriptions of the bench's customer, through `base` (a `renewals web`)."""

    def __init__(self, base: str, api_key: str, signer: LinkSigner, csn: str, buyer_email: str) -> None:
        self.http = httpx.AsyncClient(base_url=base, timeout=60, limits=httpx.Limits(max_connections=200))
        self.auth = {"Authorization": f"Bearer {api_key}"}
        self.signer, self.csn, self.buyer_email = signer, csn, buyer_email

    async def close(self) -> None:
        await self.http.aclose()

    async def lifecycle(self, subscription: str, result: OpenLoopResult) -> None:
        timings = result.latencies
        try:
            started = time.perf_counter()
            made = await self.http.post(
                "/api/v1/quotes",
                json={"csn": self.csn, "subscriptions": [subscription], "send": True},
                headers=self.auth,
            )
            made.raise_for_status()
            number = made.json()["number"]
            sent = time.perf_counter()
            token = self.signer.quote_token(number, self.buyer_email, datetime.now(UTC) + timedelta(days=1))
            page = await self.http.get(f"/quotes/{number}", params={"token": token})
            page.raise_for_status()
            shown = time.perf_counter()
            fields = hidden_fields(page.text, f"/quotes/{number}/accept")
            paid = await self.http.post(f"/quotes/{number}/pay", data={**fields, **CARD})
            if paid.status_code != 200 or 'id="state">paid' not in paid.text:
                raise RuntimeError(f"pay answered {paid.status_code}")
            done = time.perf_counter()
        except Exception as err:  # a buyer who could not pay is a figure too, not the end of the run
            result.failed.append(f"{type(err).__name__}: {err}"[:200])
            return
        timings["create+send"].append(sent - started)
        timings["page GET"].append(shown - sent)
        timings["accept+pay"].append(done - shown)
        result.last_quote = number


async def open_loop(
    buyers: Buyers,
    subscriptions: list[str],
    rate: float,
    parts: dict[str, list[psutil.Process]],
    until: asyncio.Event | None = None,
) -> OpenLoopResult:
    """Arrivals every 1/`rate` seconds, one per subscription (or until `until` is set); then waits for all."""
    result = OpenLoopResult(rate=rate, count=0)
    before = {part: cpu_seconds(procs) for part, procs in parts.items()}
    started = time.perf_counter()
    running = []
    for i, sub in enumerate(subscriptions):
        if until is not None and until.is_set():
            break
        await asyncio.sleep(max(0.0, started + i / rate - time.perf_counter()))
        running.append(asyncio.create_task(buyers.lifecycle(sub, result)))
    await asyncio.gather(*running)
    result.count = len(running)
    await quiet(parts)  # the CPU of the lifecycles' tail too: the paid emails, the webhooks
    after = {part: cpu_seconds(procs) for part, procs in parts.items()}
    result.cpu_ms = {part: (after[part] - before[part]) * 1000 / max(1, result.paid) for part in parts}
    return result
