"""R16, R20: the charge step of a quote's payment (activities/payments.py) in an activity context, with an
in-memory gateway that keeps the PaymentGateway contract (one charge per idempotency key) and the store's
payment rows kept in a dict: what is charged, with which key, what is recorded, and how each failure ends
the step (retried, or not)."""

import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from decimal import Decimal

import pytest
from temporalio.exceptions import ApplicationError
from temporalio.testing import ActivityEnvironment

import activities.payments as payment_activities
from activities.payments import (
    FindPaymentInput,
    FindPaymentResult,
    PaymentActivities,
    RecordNotWritten,
    RefundNotConfirmed,
    RefundPaymentInput,
    RefundPaymentResult,
    TakePaymentInput,
    TakePaymentResult,
)
from payments.gateway import Card, CardDeclined, Charge, ChargeRequest, OutcomeUnknown, ProviderUnavailable
from store import payments as store_payments

AMOUNT = Decimal("359.95")


class Gateway:
    """A PaymentGateway in memory; a payment method named `declined`, `lost` or `down` fails that way."""

    def __init__(self) -> None:
        self.charges: dict[str, Charge] = {}
        self.requests: list[ChargeRequest] = []

    async def tokenize(self, card: Card) -> str:
        return "pm_card"

    async def charge(self, request: ChargeRequest) -> Charge:
        self.requests.append(request)
        if request.idempotency_key in self.charges:
            return self.charges[request.idempotency_key]
        if request.payment_method == "declined":
            raise CardDeclined("your card was declined")
        if request.payment_method == "lost":
            raise OutcomeUnknown("the provider's answer was lost")
        if request.payment_method == "down":
            raise ProviderUnavailable("the provider is down")
        charge = Charge(id=f"ch_{len(self.charges) + 1}", amount=request.amount, currency=request.currency)
        self.charges[request.idempotency_key] = charge
        return charge

    async def find(self, idempotency_key: str) -> Charge | None:
        return self.charges.get(idempotency_key)

    async def refund(self, idempotency_key: str) -> bool:
        charge = self.charges.get(idempotency_key)
        if charge is None or charge.refunded:
            return False
        self.charges[idempotency_key] = charge.model_copy(update={"refunded": True})
        return True


class Conn:
    """The one connection; a transaction on it is a no-op here (the store's is proved on PostgreSQL)."""

    @asynccontextmanager
    async def transaction(self) -> AsyncIterator[None]:
        yield


class Pool:
    """Hands out one connection object; the store functions below only check that it is the one."""

    conn = Conn()

    @asynccontextmanager
    async def connection(self) -> AsyncIterator[object]:
        yield self.conn


@pytest.fixture
def rows(monkeypatch: pytest.MonkeyPatch) -> dict[str, dict]:
    """The payments table: the first reference recorded for a quote is the one kept (store/payments.py)."""
    table: dict[str, dict] = {}

    async def record_payment(conn, quote_number, reference, amount, currency, method="offline", by=None) -> str:
        assert conn is Pool.conn
        row = table.setdefault(
            quote_number,
            {"reference": reference, "amount": amount, "currency": currency, "method": method, "refunded": False},
        )
        if by is not None:
            row.setdefault("by", by)
        return row["reference"]

    async def mark_refunded(conn, quote_number) -> None:
        assert conn is Pool.conn
        if quote_number in table:
            table[quote_number]["refunded"] = True

    async def payment_of(conn, quote_number) -> dict | None:
        assert conn is Pool.conn
        return table.get(quote_number)

    monkeypatch.setattr(store_payments, "record_payment", record_payment)
    monkeypatch.setattr(store_payments, "mark_refunded", mark_refunded)
    monkeypatch.setattr(store_payments, "payment_of", payment_of)

    async def no_invoice(conn, quote_number, kind="invoice") -> None:
        """These payments are given no quote, so none has an invoice (tests/workflows/test_invoices.py)."""
        assert conn is Pool.conn

    monkeypatch.setattr(payment_activities, "invoice_of_quote", no_invoice)
    return table


@pytest.fixture
def gateway() -> Gateway:
    return Gateway()


@pytest.fixture
def step(gateway: Gateway) -> PaymentActivities:
    return PaymentActivities(gateway, Pool())  # type: ignore[arg-type]


def logged(caplog: pytest.LogCaptureFixture, line: str) -> bool:
    """The activity logger adds the activity's details after the message: ` ({...})`."""
    return any(r.getMessage() == line or r.getMessage().startswith(f"{line} (") for r in caplog.records)


async def take(step: PaymentActivities, method: str | None, **fields) -> TakePaymentResult:
    request = TakePaymentInput(quote_number="Q-000042", amount=AMOUNT, currency="EUR", payment_method=method, **fields)
    return await ActivityEnvironment().run(step.take_payment, request)


async def failure(step: PaymentActivities, method: str) -> ApplicationError:
    with pytest.raises(ApplicationError) as caught:
        await take(step, method)
    return caught.value


async def test_r16_a_card_is_charged_with_the_quotes_key_and_the_payment_recorded(step, gateway, rows, caplog) -> None:
    caplog.set_level(logging.INFO)
    assert await take(step, "pm_card") == TakePaymentResult(reference="ch_1", method="card")
    assert gateway.requests == [
        ChargeRequest(idempotency_key="quote-Q-000042", payment_method="pm_card", amount=AMOUNT, currency="EUR")
    ]
    assert rows == {
        "Q-000042": {"reference": "ch_1", "amount": AMOUNT, "currency": "EUR", "method": "card", "refunded": False}
    }
    assert logged(caplog, "quote=Q-000042 paid method=card reference=ch_1")


async def test_r16_paying_twice_charges_once(step, gateway, rows) -> None:
    first = await take(step, "pm_card")
    second = await take(step, "pm_other")
    assert first == second == TakePaymentResult(reference="ch_1", method="card")
    assert len(gateway.charges) == 1 and list(rows) == ["Q-000042"]


@pytest.mark.parametrize(("method", "reference", "kept"), [(None, None, "PAY-Q-000042"), ("", "WIRE-77", "WIRE-77")])
async def test_r16_without_a_card_an_offline_payment_is_recorded_and_nothing_charged(
    step, gateway, rows, method, reference, kept
) -> None:
    assert await take(step, method, reference=reference) == TakePaymentResult(reference=kept, method="offline")
    assert gateway.requests == []
    assert rows["Q-000042"] == {
        "reference": kept,
        "amount": AMOUNT,
        "currency": "EUR",
        "method": "offline",
        "refunded": False,
    }


async def test_an_offline_payment_records_who_recorded_it(step, gateway, rows) -> None:
    await take(step, None, reference="BANK-9", by="api:billing")
    assert (rows["Q-000042"]["reference"], rows["Q-000042"]["by"]) == ("BANK-9", "api:billing")


async def test_r16_a_declined_card_ends_the_step_for_good_with_nothing_recorded(step, rows) -> None:
    err = await failure(step, "declined")
    assert (err.message, err.type, err.non_retryable) == ("your card was declined", "PaymentDeclined", True)
    assert rows == {}


async def test_r20_a_lost_answer_ends_the_step_unknown_and_is_not_guessed_at(step, rows) -> None:
    err = await failure(step, "lost")
    assert (err.message, err.type, err.non_retryable) == ("the provider's answer was lost", "ChargeUnknown", True)
    assert rows == {}


async def test_r20_a_provider_outage_is_raised_as_is_for_the_activity_to_be_retried(step, rows) -> None:
    with pytest.raises(ProviderUnavailable):
        await take(step, "down")
    assert rows == {}


async def test_r20_a_key_whose_charge_was_refunded_pays_for_nothing_again(step, gateway, rows) -> None:
    await take(step, "pm_card")
    await gateway.refund("quote-Q-000042")
    rows.clear()
    err = await failure(step, "pm_card")
    assert err.message == "the earlier payment with quote-Q-000042 was refunded; this quote cannot be paid again"
    assert (err.type, err.non_retryable) == ("ChargeRefunded", True)
    assert rows == {}


async def find(step: PaymentActivities) -> FindPaymentResult:
    request = FindPaymentInput(quote_number="Q-000042", amount=AMOUNT, currency="EUR")
    return await ActivityEnvironment().run(step.find_payment, request)


async def test_r20_a_charge_found_by_key_is_recorded(step, gateway, rows) -> None:
    gateway.charges["quote-Q-000042"] = Charge(id="ch_9", amount=AMOUNT, currency="EUR")
    assert await find(step) == FindPaymentResult(charged=True, reference="ch_9")
    assert rows["Q-000042"] == {
        "reference": "ch_9",
        "amount": AMOUNT,
        "currency": "EUR",
        "method": "card",
        "refunded": False,
    }


async def test_r20_no_charge_or_a_refunded_one_found_by_key_is_no_payment(step, gateway, rows) -> None:
    gateway.charges["quote-Q-000043"] = Charge(id="ch_8", amount=AMOUNT, currency="EUR")
    assert await find(step) == FindPaymentResult(charged=False, reference=None)
    gateway.charges["quote-Q-000042"] = Charge(id="ch_9", amount=AMOUNT, currency="EUR", refunded=True)
    assert await find(step) == FindPaymentResult(charged=False, reference=None)
    assert rows == {}


async def test_r16_a_refund_goes_back_once_by_key_and_marks_the_payment_row(step, gateway, rows, caplog) -> None:
    caplog.set_level(logging.INFO)
    await take(step, "pm_card")
    refund = RefundPaymentInput(quote_number="Q-000042")
    assert await ActivityEnvironment().run(step.refund_payment, refund) == RefundPaymentResult(refunded=True)
    assert gateway.charges["quote-Q-000042"].refunded and rows["Q-000042"]["refunded"]
    assert logged(caplog, "quote=Q-000042 refunded charge=ch_1")
    assert await ActivityEnvironment().run(step.refund_payment, refund) == RefundPaymentResult(refunded=True)
    assert gateway.charges["quote-Q-000042"].refunded and rows["Q-000042"]["refunded"]


async def test_r20_a_refund_the_provider_does_not_show_is_asked_again_and_the_row_not_marked(
    step, gateway, rows
) -> None:
    """On 518b699 the payment row was marked refunded whatever the provider answered: the audit read clean
    while the money was kept."""
    await take(step, "pm_card")

    async def ignored(key: str) -> bool:
        return False

    gateway.refund = ignored  # type: ignore[method-assign]
    with pytest.raises(RefundNotConfirmed):
        await ActivityEnvironment().run(step.refund_payment, RefundPaymentInput(quote_number="Q-000042"))
    assert not gateway.charges["quote-Q-000042"].refunded and not rows["Q-000042"]["refunded"]


async def test_r20_an_offline_payment_is_not_marked_refunded_by_a_provider_that_never_had_it(step, rows) -> None:
    await take(step, None, reference="BANK-9")
    refunded = await ActivityEnvironment().run(step.refund_payment, RefundPaymentInput(quote_number="Q-000042"))
    assert refunded == RefundPaymentResult(refunded=False, offline=True)
    assert not rows["Q-000042"]["refunded"]


async def test_r20_no_charge_to_refund_marks_nothing(step, rows) -> None:
    refunded = await ActivityEnvironment().run(step.refund_payment, RefundPaymentInput(quote_number="Q-000042"))
    assert refunded == RefundPaymentResult(refunded=False) and rows == {}


async def test_r20_a_failure_recording_a_charge_taken_is_retried_never_nothing_was_charged(
    step, gateway, rows, monkeypatch
) -> None:
    """On 518b699 a data error after the charge became a non-retryable InvalidData, and the buyer was told
    nothing was charged although the card was."""
    import psycopg.errors

    async def broken(*args, **kwargs) -> str:
        raise psycopg.errors.DataError("invalid byte sequence")

    monkeypatch.setattr(store_payments, "record_payment", broken)
    with pytest.raises(RecordNotWritten, match="was charged"):
        await take(step, "pm_card")
    assert "quote-Q-000042" in gateway.charges


async def test_r20_a_key_only_refund_returns_a_late_card_charge_and_leaves_the_offline_payment(
    step, gateway, rows
) -> None:
    """A quote paid offline after a card charge was asked under its key: the card charge that landed late
    goes back; the offline payment stays recorded, not refunded."""
    await take(step, None, reference="BANK-9")
    gateway.charges["quote-Q-000042"] = Charge(id="ch_late", amount=AMOUNT, currency="EUR")
    refund = RefundPaymentInput(quote_number="Q-000042", key_only=True)
    assert await ActivityEnvironment().run(step.refund_payment, refund) == RefundPaymentResult(refunded=True)
    assert gateway.charges["quote-Q-000042"].refunded and not rows["Q-000042"]["refunded"]
