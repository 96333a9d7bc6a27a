"""The webhook receiver (`renewals webhooks listen`, the dev stack's) decides from the headers before it reads
a body: no Content-Length (411), more than it takes (413), no well-formed and recent signature (401), each
answered at once with the body never read and the connection closed. A body it then reads is at most the
cap, arrives within a time, and is kept only with a valid HMAC.

Each test talks HTTP/1.1 over a raw socket to a real uvicorn: it sends the headers and the start of a body
that never ends, and the answer has to come anyway."""

import asyncio
import json
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

import pytest

from domain.webhooks import SIGNATURE_HEADER, signature
from tests.helpers import free_port
from workers.serving import serve
from workers.webhook_sink import MAX_BODY_BYTES, PATH, WebhookSink, signed_at

SECRET = "whsec_test"
# Longer than any answer may take: a server that waits for the body shows as this test's timeout.
ANSWER_WITHIN = 5.0


def event(event_id: str = "evt_1") -> bytes:
    return json.dumps({"id": event_id, "type": "quote.paid", "created": "2026-11-26T10:00:00Z", "data": {}}).encode()


@asynccontextmanager
async def receiver(tmp_path: Path, **options) -> AsyncIterator[tuple[WebhookSink, int]]:
    sink = WebhookSink(tmp_path / "webhooks", SECRET, **options)
    port = free_port()
    stop = await serve(sink.app(), "127.0.0.1", port)
    try:
        yield sink, port
    finally:
        await stop()


async def exchange(port: int, headers: dict[str, str], body_start: bytes = b"") -> tuple[int, bytes, bool]:
    """Sends the request's headers and `body_start`, never the rest; (status, answer body, closed after)."""
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    try:
        head = "".join(f"{k}: {v}\r\n" for k, v in {"Host": "sink", **headers}.items())
        writer.write(f"POST {PATH} HTTP/1.1\r\n{head}\r\n".encode() + body_start)
        await writer.drain()
        async with asyncio.timeout(ANSWER_WITHIN):
            answer = await reader.readuntil(b"\r\n\r\n")
            status = int(answer.split(b" ", 2)[1])
            fields = dict(line.decode().lower().split(": ", 1) for line in answer.split(b"\r\n")[1:] if b": " in line)
            content = await reader.readexactly(int(fields.get("content-length", "0")))
            closed = (await reader.read(1)) == b""  # the server closed: the rest is never read
        return status, content, closed
    finally:
        writer.close()


def signed(body: bytes, at: int | None = None) -> str:
    return signature(SECRET, int(time.time()) if at is None else at, body)


async def test_webhook_receiver_refuses_an_oversized_body_without_reading_it(tmp_path: Path) -> None:
    body = b"{" + b" " * 64
    async with receiver(tmp_path) as (sink, port):
        headers = {"Content-Length": str(MAX_BODY_BYTES + 1), SIGNATURE_HEADER: signed(body)}
        status, content, closed = await exchange(port, headers, body)
        assert (status, closed) == (413, True)
        assert json.loads(content) == {"error": f"a delivery is at most {MAX_BODY_BYTES} bytes"}
        # Far more than that, even unsigned: the same answer, at once.
        status, _content, closed = await exchange(port, {"Content-Length": str(10**15)}, body)
        assert (status, closed) == (413, True)
    assert sink.arrivals == [] and list((tmp_path / "webhooks").iterdir()) == []


async def test_webhook_receiver_refuses_an_unsigned_request_before_reading_the_body(tmp_path: Path) -> None:
    body = event()
    now = int(time.time())
    async with receiver(tmp_path) as (sink, port):
        for header in (
            None,  # no signature at all
            "t=abc,v1=00",  # not well-formed
            f"t={now}",
            f"t={now},v1={'0' * 63}",
            f"t={now},v1={'A' * 64}",  # uppercase hex is not what is signed
            signed(body, at=now - 3600),  # well-formed but an hour old: a replay
            signed(body, at=now + 3600),
        ):
            headers = {"Content-Length": str(len(body) + 100)} | ({SIGNATURE_HEADER: header} if header else {})
            status, content, closed = await exchange(port, headers, body[:10])
            assert (status, json.loads(content), closed) == (401, {"error": "invalid signature"}, True), header
    assert sink.arrivals == [] and list((tmp_path / "webhooks").iterdir()) == []


async def test_webhook_receiver_refuses_a_body_without_a_length(tmp_path: Path) -> None:
    body = event()
    async with receiver(tmp_path) as (sink, port):
        headers = {"Transfer-Encoding": "chunked", SIGNATURE_HEADER: signed(body)}
        status, _content, closed = await exchange(port, headers, f"{len(body):x}\r\n".encode() + body)
        assert (status, closed) == (411, True)
    assert sink.arrivals == []


async def test_webhook_receiver_gives_a_signed_body_its_time_and_no_more(tmp_path: Path) -> None:
    body = event()
    async with receiver(tmp_path, body_seconds=0.5) as (sink, port):
        headers = {"Content-Length": str(len(body)), SIGNATURE_HEADER: signed(body)}
        status, _content, closed = await exchange(port, headers, body[:10])
        assert (status, closed) == (408, True)
    assert sink.arrivals == []


async def test_webhook_receiver_checks_the_hmac_of_the_body_it_read(tmp_path: Path) -> None:
    body = event()
    async with receiver(tmp_path) as (sink, port):
        forged = body.replace(b"quote.paid", b"quote.sent")
        headers = {"Content-Length": str(len(forged)), SIGNATURE_HEADER: signed(body), "Connection": "close"}
        status, content, _closed = await exchange(port, headers, forged)
        assert (status, json.loads(content)) == (401, {"error": "invalid signature"})
        assert sink.arrivals == []
        headers = {"Content-Length": str(len(body)), SIGNATURE_HEADER: signed(body)}
        status, content, _closed = await exchange(port, headers | {"Connection": "close"}, body)
        assert (status, json.loads(content)) == (200, {"received": "evt_1", "repeated": False})
    assert [e.id for e in sink.arrivals] == ["evt_1"]
    assert (tmp_path / "webhooks" / "evt_1.json").read_bytes() == body


async def test_webhook_receiver_with_a_smaller_cap_refuses_what_is_larger(tmp_path: Path) -> None:
    body = event()
    async with receiver(tmp_path, max_bytes=len(body) - 1) as (sink, port):
        headers = {"Content-Length": str(len(body)), SIGNATURE_HEADER: signed(body)}
        status, _content, closed = await exchange(port, headers, body)
        assert (status, closed) == (413, True)
    assert sink.arrivals == []


@pytest.mark.parametrize(
    ("header", "at"),
    [
        ("t=1800000000,v1=" + "a" * 64, 1_800_000_000),
        ("v1=" + "a" * 64 + ",t=1800000000", 1_800_000_000),
        ("t=1800000000,v1=" + "a" * 63, None),
        ("t=,v1=" + "a" * 64, None),
        ("t=1e9,v1=" + "a" * 64, None),
        ("t=" + "1" * 13 + ",v1=" + "a" * 64, None),
        ("t=\u0661\u0662,v1=" + "a" * 64, None),
        ("", None),
        (None, None),
    ],
)
def test_webhook_signature_header_is_read_for_its_time_only_when_well_formed(header, at) -> None:
    assert signed_at(header) == at
