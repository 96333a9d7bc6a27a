"""The embedded webhook receiver: what a backend system would do with our webhooks, for `renewals dev`
and `renewals webhooks listen`. Each event's signature is checked (a bad or stale one gets 401), and
each event is kept once, as var/webhooks/<event id>.json: a delivery retried with the same id is
answered 200 and not written again. An id that is not a safe file name (`[A-Za-z0-9_-]`, at most 100) is
answered 400 and nothing is written: a sender never chooses where a file goes."""

import time
from collections.abc import Callable
from pathlib import Path

from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse
from pydantic import ValidationError

from domain.webhooks import SIGNATURE_HEADER, WebhookEvent, verify

PATH = "/webhooks"


def summary(event: WebhookEvent) -> str:
    data = event.data
    if event.type.startswith("quote."):
        return f"{data.get('number')} {data.get('state')} {data.get('total')} {data.get('currency')}"
    return f"{data.get('id')} ends {data.get('end_date')}, auto-renew {'on' if data.get('auto_renew') else 'off'}"


class WebhookSink:
    def __init__(self, folder: Path, secret: str, say: Callable[[str], None] | None = None) -> None:
        if not secret.strip():
            raise ValueError("a webhook receiver needs a secret: with an empty one, anyone can sign")
        self.folder = folder
        self.secret = secret
        self.say = say
        self.arrivals: list[WebhookEvent] = []  # every delivery, a repeated one too
        folder.mkdir(parents=True, exist_ok=True)

    def app(self) -> FastAPI:
        app = FastAPI(title="renewal-quotes webhook receiver", docs_url=None, redoc_url=None, openapi_url=None)
        app.add_api_route(PATH, self.receive, methods=["POST"])
        return app

    async def receive(self, request: Request) -> JSONResponse:
        body = await request.body()
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

    def _say(self, line: str) -> None:
        if self.say is not None:
            self.say(line)
