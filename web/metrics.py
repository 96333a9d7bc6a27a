"""`GET /metrics` (Prometheus text format) and the middleware that times each request by its route and counts
the Temporal calls made while serving it (runtime/metrics.py). Served to this machine only (a scraper on
localhost; never a request a proxy forwarded), or to anyone with `Authorization: Bearer
RENEWALS_METRICS_TOKEN` when that is set."""

import hmac
from time import perf_counter

from fastapi import APIRouter, Request
from fastapi.responses import PlainTextResponse, Response
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from runtime.metrics import Metrics, Tally

LOOPBACK = ("127.0.0.1", "::1", "::ffff:127.0.0.1", "localhost")
# Label values come from a fixed set: a made-up method never adds a series.
METHODS = ("GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS")
DRAIN_EVERY = 10.0  # seconds: the SDK's metric buffer is emptied this often even when nobody scrapes
router = APIRouter(include_in_schema=False)


class RequestMetrics:
    """Each request's latency (`renewals_http_request_seconds`) and Temporal calls
    (`renewals_http_temporal_calls_total`), by method and route template (`/quotes/{number}`, never the number)."""

    def __init__(self, app: ASGIApp, metrics: Metrics) -> None:
        self.app, self.metrics = app, metrics
        self.drained = perf_counter()

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        status = 500

        async def sending(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
            await send(message)

        started = perf_counter()
        with Tally() as calls:
            try:
                await self.app(scope, receive, sending)
            finally:
                ended = perf_counter()
                route = route_of(scope)
                method = scope["method"] if scope["method"] in METHODS else "OTHER"
                self.metrics.request_seconds.labels(method, route, str(status)).observe(ended - started)
                self.metrics.request_temporal_calls.labels(method, route).inc(sum(calls.values()))
                if self.metrics.sdk is not None and ended - self.drained > DRAIN_EVERY:
                    self.drained = ended
                    self.metrics.sdk.drain()


def route_of(scope: Scope) -> str:
    """The matched route's template, with its mount's prefix (`/api/v1/quotes/{number}`); `other` if none matched."""
    route = scope.get("route")
    path = getattr(route, "path", None)
    if path is None:
        return "other"
    return f"{scope.get('root_path', '')}{path}"


@router.get("/metrics", response_class=PlainTextResponse)
async def metrics(request: Request) -> Response:
    token = getattr(request.app.state, "metrics_token", None)
    given = request.headers.get("authorization", "").removeprefix("Bearer ").strip()
    # Through a proxy on this machine every visitor comes from 127.0.0.1: a forwarded request is never local.
    forwarded = "x-forwarded-for" in request.headers or "forwarded" in request.headers
    local = request.client is not None and request.client.host in LOOPBACK and not forwarded
    allowed = local or (token is not None and token != "" and hmac.compare_digest(given.encode(), token.encode()))
    if not allowed:
        return PlainTextResponse("metrics are served to this machine, or with the metrics token\n", status_code=403)
    registry = request.app.state.metrics.registry
    return Response(generate_latest(registry), media_type=CONTENT_TYPE_LATEST)
