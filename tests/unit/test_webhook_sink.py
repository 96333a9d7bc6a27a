"""The webhook receiver of `renewals dev` and `renewals webhooks listen`: it keeps each signed event once,
as FOLDER/<event id>.json, and an id never chooses where a file goes."""

import json
import time
from pathlib import Path

import httpx
import pytest

from domain.webhooks import SIGNATURE_HEADER, signature
from workers.webhook_sink import PATH, WebhookSink

SECRET = "whsec_test"


def event(event_id: object) -> bytes:
    return json.dumps({"id": event_id, "type": "quote.paid", "created": "2026-11-26T10:00:00Z", "data": {}}).encode()


async def deliver(sink: WebhookSink, body: bytes) -> httpx.Response:
    """A delivery signed with the receiver's own secret: only the id can be wrong."""
    headers = {SIGNATURE_HEADER: signature(SECRET, int(time.time()), body)}
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=sink.app()), base_url="http://sink") as http:
        return await http.post(PATH, content=body, headers=headers)


def files_under(root: Path) -> list[str]:
    return sorted(str(p.relative_to(root)) for p in root.rglob("*"))


@pytest.mark.parametrize(
    "event_id",
    [
        "../../escaped",
        "../escaped",
        "..",
        ".",
        "",
        "sub/escaped",
        "sub\\escaped",
        "/tmp/escaped",
        "evt.json",
        "evt\x00x",
        "evt\u2028x",
        "évt",
        "x" * 101,
    ],
)
async def test_webhook_sink_never_writes_outside_its_folder(tmp_path: Path, event_id: str) -> None:
    root = tmp_path / "root"
    folder = root / "a" / "b" / "webhooks"
    sink = WebhookSink(folder, SECRET)
    answer = await deliver(sink, event(event_id))
    assert answer.status_code == 400
    assert answer.json() == {"error": "id: an event id is 1-100 letters, digits, _ or -; nothing was written"}
    assert files_under(root) == ["a", "a/b", "a/b/webhooks"] and sink.arrivals == []


@pytest.mark.parametrize("event_id", ["evt_0123456789abcdef0123456789abcdef", "A-b_9", "x" * 100])
async def test_webhook_sink_keeps_an_event_with_a_safe_id_once(tmp_path: Path, event_id: str) -> None:
    sink = WebhookSink(tmp_path / "webhooks", SECRET)
    first, again = await deliver(sink, event(event_id)), await deliver(sink, event(event_id))
    assert (first.status_code, first.json()["repeated"], again.json()["repeated"]) == (200, False, True)
    assert files_under(tmp_path) == ["webhooks", f"webhooks/{event_id}.json"]


async def test_webhook_sink_checks_the_signature_before_the_id(tmp_path: Path) -> None:
    sink = WebhookSink(tmp_path / "webhooks", SECRET)
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=sink.app()), base_url="http://sink") as http:
        unsigned = await http.post(PATH, content=event("../../escaped"))
    assert unsigned.status_code == 401 and files_under(tmp_path) == ["webhooks"]


@pytest.mark.parametrize("secret", ["", "   "])
def test_webhook_sink_refuses_an_empty_secret(tmp_path: Path, secret: str) -> None:
    with pytest.raises(ValueError, match="needs a secret"):
        WebhookSink(tmp_path / "webhooks", secret)
    assert not (tmp_path / "webhooks").exists()
