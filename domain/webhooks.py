"""Webhook events (what backend systems hear back) and their signatures.

Body `{"id", "type", "created", "data"}`; `id` is fixed per event, so a retried delivery carries the same
one and receivers can de-duplicate. Header `Renewals-Signature: t=<unix>,v1=<hex HMAC-SHA256 of "t.body">`.
"""

import hashlib
import hmac
from datetime import datetime
from typing import Any, Literal

from pydantic import BaseModel

EventType = Literal[
    "quote.sent",
    "quote.accepted",
    "quote.paid",
    "quote.expired",
    "quote.cancelled",
    "subscription.renewed",
    "subscription.auto_renew_changed",
    "subscription.lapsed",
]
SIGNATURE_HEADER = "Renewals-Signature"
TOLERANCE_SECONDS = 300


class WebhookEvent(BaseModel):
    id: str
    type: EventType
    created: datetime
    data: dict[str, Any]


def receiver_id(url: str) -> str:
    """How a workflow names a receiver: its URL (which may carry a token) stays out of histories."""
    return hashlib.sha256(url.encode()).hexdigest()[:12]


def signature(secret: str, timestamp: int, body: bytes) -> str:
    digest = hmac.new(secret.encode(), f"{timestamp}.".encode() + body, hashlib.sha256).hexdigest()
    return f"t={timestamp},v1={digest}"


def verify(secret: str, header: str | None, body: bytes, now: int, tolerance: int = TOLERANCE_SECONDS) -> bool:
    """The header signs this body with this secret, recently enough (no replays of old deliveries)."""
    parts = dict(part.split("=", 1) for part in (header or "").split(",") if "=" in part)
    if not parts.get("t", "").isdigit() or "v1" not in parts:
        return False
    timestamp = int(parts["t"])
    if abs(now - timestamp) > tolerance:
        return False
    return hmac.compare_digest(signature(secret, timestamp, body), f"t={timestamp},v1={parts['v1']}")
