"""RENEWALS_PAYMENTS=stripe: the PaymentGateway over Stripe's PaymentIntents (docs/payments.md).

A charge creates the quote's PaymentIntent under the key `quote-<number>` (Stripe keeps one per key), stores
its id, then confirms it with the buyer's PaymentMethod (`pm_...`, made by Stripe.js in the buyer's browser:
card details never reach this server). Whatever answer is lost is settled by retrieving that stored id (R20);
nothing depends on search. Only Stripe's own no (a card error) is a decline; a 5xx, a timeout or a lost
connection is an outage, or, once a confirm was sent, an outcome not known yet.
"""

import json
import logging
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

import stripe

from domain.money import from_minor, to_minor
from payments.gateway import (
    ActionRequired,
    Card,
    CardDeclined,
    Charge,
    ChargeRequest,
    OutcomeUnknown,
    PaymentPending,
    ProviderUnavailable,
)
from store import stripe_intents
from store.pool import Pool

log = logging.getLogger(__name__)

# Stripe's amounts are in each currency's smallest unit, by Stripe's own table (not ISO 4217's): these have
# none, these three (sent as a multiple of ten); every other currency has two.
ZERO_DECIMAL = frozenset("BIF CLP DJF GNF JPY KMF KRW MGA PYG RWF UGX VND VUV XAF XOF XPF".split())
THREE_DECIMAL = frozenset("BHD JOD KWD OMR TND".split())
# Stripe's states of an intent that has not decided yet, and the refunds that count as money going back.
UNDECIDED = frozenset({"processing", "requires_action", "requires_capture"})
REFUNDED = frozenset({"succeeded", "pending"})
TIMEOUT_SECONDS = 10.0
# How long a buyer sent to their bank's authentication page (3-D Secure) has to come back: after it the
# payment is cancelled at Stripe and the quote can be paid again.
AUTHENTICATION_WINDOW = timedelta(hours=1)


def exponent(currency: str) -> int:
    code = currency.upper()
    return 0 if code in ZERO_DECIMAL else 3 if code in THREE_DECIMAL else 2


def minor_amount(amount: Decimal, currency: str) -> int:
    return to_minor(amount, exponent(currency))


def quote_of(key: str) -> str:
    return key.removeprefix("quote-")


class StripeGateway:
    def __init__(
        self,
        pool: Pool,
        api_key: str,
        *,
        buyer_app_url: str,
        api_base: str | None = None,
        http_client: stripe.HTTPClient | None = None,
    ) -> None:
        """`api_base`: another Stripe API (a local localstripe); `http_client`: the SDK's async httpx client
        (tests give one over a stubbed transport)."""
        self.pool = pool
        self.buyer_app_url = buyer_app_url.rstrip("/")
        self.client = stripe.StripeClient(
            api_key,
            http_client=http_client or stripe.HTTPXClient(timeout=TIMEOUT_SECONDS),
            base_addresses={"api": api_base.rstrip("/")} if api_base else {},
            max_network_retries=0,  # the quote's workflow retries, with the same keys
        )

    async def tokenize(self, card: Card) -> str:
        raise CardDeclined("with Stripe the card is entered in Stripe's own field; enter it there")

    async def charge(self, request: ChargeRequest) -> Charge:
        key = request.idempotency_key
        intent = await self._intent(request)
        if intent.status == "succeeded":
            return await self._charge(intent)
        if intent.status in UNDECIDED:
            raise _pending(intent, key)
        async with self.pool.connection() as conn:
            await stripe_intents.confirming(conn, intent.id)
            await conn.commit()
        try:
            intent = await self.client.v1.payment_intents.confirm_async(
                intent.id,
                {"payment_method": request.payment_method, "return_url": self.return_url(key)},
                {"idempotency_key": f"{key}-confirm-{request.payment_method}"},
            )
        except stripe.CardError as err:
            raise CardDeclined(_decline(err)) from None
        except stripe.StripeError as err:  # it may have charged: asked by the stored id (R20)
            raise OutcomeUnknown(
                f"Stripe's answer to confirming {intent.id} for {key} was lost: {_said(err)}"
            ) from None
        if intent.status == "succeeded":
            return await self._charge(intent)
        if intent.status in UNDECIDED:
            raise _pending(intent, key)
        error = intent.last_payment_error
        raise CardDeclined(_sentence(error.message if error and error.message else "your card was declined"))

    async def find(self, idempotency_key: str) -> Charge | None:
        intent = await self._stored(idempotency_key)
        if intent is not None and intent.status == "requires_action" and await self._abandoned(idempotency_key):
            intent = await self._cancel(intent)
        if intent is None or intent.status in ("requires_payment_method", "requires_confirmation", "canceled"):
            return None
        if intent.status in UNDECIDED:
            raise _pending(intent, idempotency_key)
        return await self._charge(intent)

    async def _abandoned(self, key: str) -> bool:
        """A buyer sent to authenticate (3-D Secure) who has not come back within AUTHENTICATION_WINDOW of the
        confirm will not."""
        async with self.pool.connection() as conn:
            record = await stripe_intents.record_of(conn, key)
        confirmed = record[1] if record else None
        return confirmed is not None and datetime.now(UTC) - confirmed > AUTHENTICATION_WINDOW

    async def _cancel(self, intent: Any) -> Any:
        """The abandoned authentication is cancelled, so nothing can charge it later (the quote's next payment
        gets an intent of its own); one that completed meanwhile refuses to be cancelled, and is what Stripe
        shows now."""
        try:
            return await self.client.v1.payment_intents.cancel_async(
                intent.id, {"cancellation_reason": "abandoned"}, {"idempotency_key": f"cancel-{intent.id}"}
            )
        except stripe.InvalidRequestError:
            return await self._retrieve(intent.id)
        except stripe.StripeError as err:
            raise ProviderUnavailable(f"Stripe did not cancel {intent.id}: {_said(err)}") from None

    async def refund(self, idempotency_key: str) -> bool:
        """The whole charge, once: under its own key, and not at all when Stripe shows it refunded already."""
        intent = await self._stored(idempotency_key)
        if intent is None or intent.status != "succeeded" or await self._refunded(intent):
            return False
        try:
            refund = await self.client.v1.refunds.create_async(
                {"payment_intent": intent.id, "metadata": {"quote": quote_of(idempotency_key)}},
                {"idempotency_key": f"refund-{idempotency_key}"},
            )
        except stripe.StripeError as err:
            raise ProviderUnavailable(f"Stripe did not refund {intent.id}: {_said(err)}") from None
        return refund.status in REFUNDED

    def return_url(self, key: str) -> str:
        """Where Stripe's authentication page (3-D Secure) sends the buyer back: their quote."""
        return f"{self.buyer_app_url}/quotes/{quote_of(key)}/authenticated"

    async def _intent(self, request: ChargeRequest) -> Any:
        """The key's intent: the stored one, else made now (Stripe keeps one per idempotency key) and stored
        before any confirm, so a lost answer always has an id to be asked by. A cancelled one (an authentication
        abandoned) can never charge: the next payment gets a new intent, made under a key naming the cancelled
        one, so a retry makes the same one."""
        key = request.idempotency_key
        stored = await self._stored(key)
        if stored is not None and stored.status != "canceled":
            return stored
        try:
            amount = minor_amount(request.amount, request.currency)
        except ValueError as err:
            raise CardDeclined(f"the amount cannot be charged: {err}") from None
        try:
            intent = await self.client.v1.payment_intents.create_async(
                {
                    "amount": amount,
                    "currency": request.currency.lower(),
                    "metadata": {"quote": quote_of(key)},
                },
                {"idempotency_key": key if stored is None else f"{key}-after-{stored.id}"},
            )
        except stripe.StripeError as err:  # a create charges nothing: retried under the same key
            raise ProviderUnavailable(f"Stripe did not create the payment for {key}: {_said(err)}") from None
        async with self.pool.connection() as conn:
            if stored is None:
                kept = await stripe_intents.remember(conn, key, intent.id)
            else:
                kept = await stripe_intents.replace(conn, key, stored.id, intent.id)
            await conn.commit()
        return intent if kept == intent.id else await self._retrieve(kept)

    async def _stored(self, key: str) -> Any | None:
        async with self.pool.connection() as conn:
            intent_id = await stripe_intents.intent_for(conn, key)
        return None if intent_id is None else await self._retrieve(intent_id)

    async def _retrieve(self, intent_id: str) -> Any:
        try:
            return await self.client.v1.payment_intents.retrieve_async(intent_id)
        except stripe.StripeError as err:
            raise ProviderUnavailable(f"Stripe did not answer for {intent_id}: {_said(err)}") from None

    async def _refunded(self, intent: Any) -> bool:
        """A refund counts once Stripe shows it succeeded or pending (the provider's answer confirms it)."""
        try:
            refunds = await self.client.v1.refunds.list_async({"payment_intent": intent.id})
        except stripe.StripeError as err:
            raise ProviderUnavailable(f"Stripe did not list the refunds of {intent.id}: {_said(err)}") from None
        return any(r.status in REFUNDED for r in refunds.data)

    async def _charge(self, intent: Any) -> Charge:
        currency = intent.currency.upper()
        return Charge(
            id=intent.id,
            amount=from_minor(intent.amount, exponent(currency)),
            currency=currency,
            refunded=await self._refunded(intent),
        )


# The events that decide a payment: the quote's workflow asks Stripe now (the webhook says which quote).
PAYMENT_EVENTS = frozenset({"payment_intent.succeeded", "payment_intent.payment_failed"})


def payment_event(payload: bytes, signature: str, secret: str) -> tuple[str, str | None]:
    """A webhook's event type and, for one that decides a payment, its quote (`metadata.quote`). Raises
    ValueError (or the SDK's SignatureVerificationError) unless Stripe signed it in the last 300 seconds."""
    stripe.Webhook.construct_event(payload, signature, secret)  # the default tolerance: 300 s
    event = json.loads(payload)
    kind = str(event.get("type", ""))
    if kind not in PAYMENT_EVENTS:
        return kind, None
    metadata = ((event.get("data") or {}).get("object") or {}).get("metadata") or {}
    quote = metadata.get("quote")
    return kind, quote if isinstance(quote, str) else None


def _pending(intent: Any, key: str) -> PaymentPending:
    redirect = getattr(intent.next_action, "redirect_to_url", None)
    url = getattr(redirect, "url", None)
    if url:
        return ActionRequired(f"the buyer authenticates the payment for {key} at Stripe", url)
    return PaymentPending(f"Stripe has not decided the payment {intent.id} for {key} ({intent.status})")


def _decline(err: stripe.CardError) -> str:
    """Stripe's message, for the buyer; its decline code goes to the log, not to them."""
    log.info("stripe declined: code=%s decline_code=%s", err.code, getattr(err.error, "decline_code", None))
    return _sentence(err.user_message or "your card was declined")


def _sentence(message: str) -> str:
    """`Your card was declined.` as the product words it: `your card was declined` (the page capitalises)."""
    text = message.strip().rstrip(".")
    return f"{text[:1].lower()}{text[1:]}"


def _said(err: stripe.StripeError) -> str:
    return f"{type(err).__name__} {err.http_status or ''}".strip()
