"""The embedded webhook receiver: what a backend system would do with our webhooks, for `renewals dev`
and `renewals webhooks listen`. Each event's signature is checked (a bad or stale one gets 401), and
each event is kept once, as var/webhooks/<event id>.json: a delivery retried with the same id is
answered 200 and not written again. An id that is not a safe file name (`[A-Za-z0-9_-]`, at most 100) is
answered 400 and nothing is written: a sender never chooses where a file goes.

Nothing of a body is read before it may be: a request without a Content-Length is answered 411, one that
declares more than `max_bytes` 413, and one without a well-formed `Renewals-Signature` of a recent time
401, each from its headers alone and with the connection closed. Only then is the body read, at most its
declared length and within `body_seconds` (408 after), and its HMAC checked."""

import asyncio
import re
import time
from collections.abc import Callable
from pathlib import Path

from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse
from pydantic import ValidationError
from starlette.requests import ClientDisconnect

from domain.webhooks import SIGNATURE_HEADER, TOLERANCE_SECONDS, WebhookEvent, verify

PATH = "/webhooks"
# An event is one quote's or subscription's JSON: a few KiB, some tens at the most lines a quote takes.
MAX_BODY_BYTES = 1 << 20
# How long a body that was allowed to come may take to arrive.
BODY_SECONDS = 30.0
_TIMESTAMP = re.compile(r"[0-9]{1,12}")
_DIGEST = re.compile(r"[0-9a-f]{64}")


def signed_at(header: str | None) -> int | None:
    """The time a `Renewals-Signature` header says, if it is well-formed (`t` 1-12 ASCII digits, `v1` 64
    lowercase hex digits, as domain.webhooks.verify takes them); None otherwise. Checks the form only: the
    HMAC needs the body."""
    parts = dict(part.split("=", 1) for part in (header or "").split(",") if "=" in part)
    timestamp, digest = parts.get("t", ""), parts.get("v1", "")
    if _TIMESTAMP.fullmatch(timestamp) and _DIGEST.fullmatch(digest):
        return int(timestamp)
    return None


def refusal(status: int, message: str) -> JSONResponse:
    """An answer given before the body was read: the connection closes, so nobody sends the rest."""
    return JSONResponse({"error": message}, status_code=status, headers={"connection": "close"})


def summary(event: WebhookEvent) -> str:
    data = event.data
    if event.type.startswith("quote."):
        return f"{data.get('number')} {data.get('state')} {data.get('total')} {data.get('currency')}"
    return f"{data.get('id')} ends {data.get('end_date')}, auto-renew {'on' if data.get('auto_renew') else 'off'}"


class WebhookSink:
    def __init__(
        self,
        folder: Path,
        secret: str,
        say: Callable[[str], None] | None = None,
        max_bytes: int = MAX_BODY_BYTES,
        body_seconds: float = BODY_SECONDS,
    ) -> None:
        if not secret.strip():
            raise ValueError("a webhook receiver needs a secret: with an empty one, anyone can sign")
        self.folder = folder
        self.secret = secret
        self.say = say
        self.max_bytes = max_bytes
        self.body_seconds = body_seconds
        self.arrivals: list[WebhookEvent] = []  # every delivery, a repeated one too
        folder.mkdir(parents=True, exist_ok=True)

    def app(self) -> FastAPI:
        app = FastAPI(title="renewal-quotes webhook receiver", docs_url=None, redoc_url=None, openapi_url=None)
        app.add_api_route(PATH, self.receive, methods=["POST"])
        return app

    async def receive(self, request: Request) -> JSONResponse:
        before = self._before_the_body(request)
        if before is not None:
            return before
        length = int(request.headers["content-length"])
        try:
            async with asyncio.timeout(self.body_seconds):
                body = await self._body(request, length)
        except TimeoutError:
            self._say(f"refused a delivery: its body did not arrive within {self.body_seconds:g} s")
            return refusal(408, "the body did not arrive in time")
        except ClientDisconnect:  # the sender left before its body was all there: nobody to answer
            return refusal(400, "the body ended before its Content-Length")
        if body is None:
            return refusal(413, f"a delivery is at most {self.max_bytes} bytes")
        if not verify(self.secret, request.headers.get(SIGNATURE_HEADER), body, int(time.time())):
            self._say(f"refused a delivery: no valid {SIGNATURE_HEADER} header")
            return JSONResponse({"error": "invalid signature"}, status_code=401)
        try:
            event = WebhookEvent.model_validate_json(body)
        except ValidationError as err:
            if any(e["loc"] == ("id",) for e in err.errors()):
                self._say("refused a delivery: its event id is not 1-100 letters, digits, _ or -")
                return JSONResponse(
                    {"error": "id: an event id is 1-100 letters, digits, _ or -; nothing was written"}, status_code=400
                )
            return JSONResponse({"error": "not a webhook event"}, status_code=400)
        path = self.folder / f"{event.id}.json"
        if path.resolve().parent != self.folder.resolve():  # the id's pattern already holds this; kept as a guard
            return JSONResponse({"error": "id: not a file name in the receiver's folder"}, status_code=400)
        self.arrivals.append(event)
        repeated = path.exists()
        if not repeated:
            staged = path.with_suffix(".part")
            staged.write_bytes(body)
            staged.replace(path)
        again = " (again; kept once)" if repeated else ""
        self._say(f"{event.created.isoformat()} {event.type:<33} {summary(event)}  {event.id}{again}")
        return JSONResponse({"received": event.id, "repeated": repeated})

    def _before_the_body(self, request: Request) -> JSONResponse | None:
        """A refusal from the headers alone (nothing of the body read), or None: the body may be read."""
        declared = request.headers.get("content-length")
        if declared is None or "transfer-encoding" in request.headers:
            self._say("refused a delivery: no Content-Length")
            return refusal(411, "a delivery says its length (Content-Length)")
        if not (declared.isascii() and declared.isdigit()) or len(declared) > 19:
            return refusal(400, "Content-Length is not a number")
        if int(declared) > self.max_bytes:
            self._say(f"refused a delivery: {declared} bytes, more than {self.max_bytes}")
            return refusal(413, f"a delivery is at most {self.max_bytes} bytes")
        timestamp = signed_at(request.headers.get(SIGNATURE_HEADER))
        if timestamp is None or abs(int(time.time()) - timestamp) > TOLERANCE_SECONDS:
            self._say(f"refused a delivery: no valid {SIGNATURE_HEADER} header")
            return refusal(401, "invalid signature")
        return None

    async def _body(self, request: Request, length: int) -> bytes | None:
        """The body, read up to its declared length (and the cap); None if more than that comes."""
        chunks: list[bytes] = []
        received = 0
        async for chunk in request.stream():
            received += len(chunk)
            if received > min(length, self.max_bytes):
                return None
            chunks.append(chunk)
        return b"".join(chunks)

    def _say(self, line: str) -> None:
        if self.say is not None:
            self.say(line)
