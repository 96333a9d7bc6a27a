"""POST /webhooks/stripe (RENEWALS_PAYMENTS=stripe, docs/payments.md): Stripe says a payment was decided, and
the quote's workflow asks Stripe now (R20) instead of at its next look. The event only nudges: what Stripe
answers by the stored intent decides, so a replayed, late or forged-but-signed event changes nothing twice.
Signed with STRIPE_WEBHOOK_SECRET; the body is capped before it is read (BodyLimit, FORM_MAX_BODY_BYTES).
Never a 500: a bad signature is 400, an outage 503 (Stripe delivers again), anything else 200."""

import logging

import stripe
from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse
from temporalio.service import RPCError

from domain.errors import BadInput
from payments.stripe import payment_event
from web.deps import Quotes

router = APIRouter()
log = logging.getLogger(__name__)


@router.post("/webhooks/stripe", include_in_schema=False)
async def stripe_event(request: Request, quotes: Quotes) -> JSONResponse:
    secret: str = request.app.state.stripe_webhook_secret
    try:
        kind, number = payment_event(await request.body(), request.headers.get("stripe-signature", ""), secret)
    except (ValueError, stripe.SignatureVerificationError):
        return JSONResponse({"error": "the signature is not Stripe's, or is too old"}, status_code=400)
    if number is None:
        return JSONResponse({"received": kind, "ignored": True})
    try:
        await quotes.check_payment(number)
    except BadInput:  # an unknown or ended quote: nothing pending to ask about
        return JSONResponse({"received": kind, "ignored": True})
    except RPCError as err:
        log.warning("stripe %s for %s: Temporal is not answering (%s)", kind, number, err)
        return JSONResponse({"error": "not available right now"}, status_code=503)
    log.info("stripe %s: quote %s asks Stripe now", kind, number)
    return JSONResponse({"received": kind, "quote": number})
