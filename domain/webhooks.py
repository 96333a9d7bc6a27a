"""Webhook events (what backend systems hear back) and their signatures.

Body `{"id", "type", "created", "data"}`; `id` is fixed per event, so a retried delivery carries the same
one and receivers can de-duplicate. Header `Renewals-Signature: t=<unix>,v1=<hex HMAC-SHA256 of "t.body">`.
"""

import hashlib
import hmac
import re
from datetime import datetime
from typing import Annotated, Any, Literal

from pydantic import BaseModel, Field

EventType = Literal[
    "quote.sent",
    "quote.accepted",
    "quote.paid",
    "quote.expired",
    "quote.reminded",
    "quote.changes_requested",
    "quote.declined",
    "quote.cancelled",
    "subscription.renewed",
    "subscription.auto_renew_changed",
    "subscription.lapsed",
]
SIGNATURE_HEADER = "Renewals-Signature"
TOLERANCE_SECONDS = 300
# What an event id may be (ours are `evt_<32 hex>`): safe as a file name, a header or a log word anywhere.
EVENT_ID_PATTERN = r"^[A-Za-z0-9_-]{1,100}$"
_TIMESTAMP = re.compile(r"[0-9]{1,12}")
_DIGEST = re.compile(r"[0-9a-f]{64}")


class WebhookEvent(BaseModel):
    id: Annotated[str, Field(pattern=EVENT_ID_PATTERN)]
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
    """The header signs this body with this secret, recently enough (no replays of old deliveries).

    Whatever the header holds, the answer is True or False, never an exception: `t` is 1-12 ASCII digits
    and `v1` 64 lowercase hex digits, or the header is refused before any arithmetic or comparison."""
    parts = dict(part.split("=", 1) for part in (header or "").split(",") if "=" in part)
    timestamp, digest = parts.get("t", ""), parts.get("v1", "")
    if not (_TIMESTAMP.fullmatch(timestamp) and _DIGEST.fullmatch(digest)):
        return False
    if abs(now - int(timestamp)) > tolerance:
        return False
    expected = signature(secret, int(timestamp), body).encode()
    return hmac.compare_digest(expected, f"t={int(timestamp)},v1={digest}".encode())
