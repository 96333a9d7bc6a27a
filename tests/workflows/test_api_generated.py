"""No 500 on any generated request to the buyer pages (hypothesis). The API's own run, schemathesis over
its OpenAPI document with every check, is tests/e2e/test_schemathesis.py."""

import asyncio

import httpx
import pytest
import uvicorn
from hypothesis import given
from hypothesis import settings as settings_
from hypothesis import strategies as st
from temporalio.testing import WorkflowEnvironment

from domain.links import LinkSigner
from tests.helpers import free_port, quote_stack, request
from web.app import create_app

pytestmark = pytest.mark.asyncio(loop_scope="session")


PAGE_TEXT = st.one_of(
    st.text(max_size=30),
    st.sampled_from(["", "\x00", "Q-000001", "Q-" + "9" * 300, "../../etc/passwd", "%00", "é" * 50, "x" * 5000]),
)


async def test_buyer_pages_answer_4xx_never_5xx_to_generated_paths_tokens_and_forms(
    env: WorkflowEnvironment, pool, settings, mailbox, gateway
) -> None:
    """Hypothesis sends the buyer pages made-up quote numbers, customer numbers, tokens and form bodies
    (and a real quote's number with a forged token): each is answered with a page, never a server error."""
    port = free_port()
    async with quote_stack(env, pool, settings, gateway=gateway) as quotes:
        real = await quotes.create(request("SUB-1001"), send=True)
        web = create_app(lambda: quotes, LinkSigner(settings.require_link_secrets()), lambda: gateway)
        server = uvicorn.Server(uvicorn.Config(web, host="127.0.0.1", port=port, lifespan="off", log_level="error"))
        serving = asyncio.create_task(server.serve())
        statuses: list[int] = []
        try:
            while not server.started:
                await asyncio.sleep(0.02)

            @settings_(max_examples=150, deadline=None, derandomize=True, database=None)
            @given(
                number=st.one_of(PAGE_TEXT, st.just(real.number)),
                token=PAGE_TEXT,
                action=st.sampled_from(["", "/accept", "/pay", "customers"]),
                form=st.dictionaries(
                    st.sampled_from(["token", "csrf", "holder", "card_number", "expiry", "cvc"]), PAGE_TEXT
                ),
                post=st.booleans(),
            )
            def probe(number: str, token: str, action: str, form: dict, post: bool) -> None:
                path = (
                    f"/customers/{quote_path(number)}/quotes"
                    if action == "customers"
                    else f"/quotes/{quote_path(number)}{action}"
                )
                with httpx.Client(base_url=f"http://127.0.0.1:{port}", timeout=30) as client:
                    if post and action in ("/accept", "/pay"):
                        answer = client.post(path, data=form | {"token": token})
                    else:
                        answer = client.get(path, params={"token": token})
                statuses.append(answer.status_code)
                assert answer.status_code < 500, (path, answer.status_code, answer.text[:300])

            await asyncio.to_thread(probe)
        finally:
            server.should_exit = True
            await serving
    assert len(statuses) >= 150 and 403 in statuses and max(statuses) < 500


def quote_path(text: str) -> str:
    from urllib.parse import quote

    return quote(text, safe="") or "-"
