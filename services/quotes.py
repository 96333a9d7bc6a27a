"""Quote operations as a backend system calls them: validate, start the workflow, send it updates."""

import hashlib
from datetime import UTC, date, datetime, time, timedelta
from decimal import Decimal
from typing import Any

from pydantic import BaseModel
from temporalio.client import Client, WorkflowFailureError, WorkflowHandle
from temporalio.common import TypedSearchAttributes, WorkflowIDConflictPolicy, WorkflowIDReusePolicy
from temporalio.exceptions import WorkflowAlreadyStartedError
from temporalio.service import RPCError, RPCStatusCode

from contracts import quote as contract
from contracts.quote import (
    PAYMENT_WAIT,
    REMINDER_DAYS,
    AcceptInput,
    AnswerInput,
    CancelInput,
    EditInput,
    ExtendInput,
    PayInput,
    PricedInput,
    QuoteInput,
    QuoteResult,
    ResendInput,
    SendInput,
    search_attributes,
)
from contracts.refusals import refused_update
from domain.bank_transfer import checked_reference, is_rf
from domain.errors import BadInput, KeyReused, NotFound, Refused, Stopped
from domain.quote_rules import QuoteRequest, build_quote
from domain.quotes import (
    DeclineReason,
    Origin,
    Quote,
    QuoteState,
    check_answer_message,
    check_purchase_order,
    is_quote_number,
)
from domain.revisions import Revision, check_revise, check_send_revision, co_term_anchors, revision_request
from store.auto_quotes import auto_quote_number
from store.catalog import get_customer, get_partner, subscriptions_by_id, subscriptions_of
from store.idempotency import claim_key, find_key
from store.pool import Pool
from store.quotes import (
    ended_quotes_of,
    get_quote,
    list_quotes,
    lock_revisions_of,
    next_quote_number,
    open_revisions,
)


class QuoteService:
    def __init__(
        self,
        client: Client,
        pool: Pool,
        task_queue: str,
        today: date | None = None,
        webhooks: list[str] | None = None,
        payment_wait: timedelta = PAYMENT_WAIT,
        reminder_days: tuple[int, ...] = REMINDER_DAYS,
    ) -> None:
        """`webhooks`: the receiver ids (WEBHOOK_URLS) a new quote announces its steps to; `payment_wait`: how
        long a buyer waits for a payment before hearing it is pending (R20); `reminder_days`: how many days
        before it expires a new quote reminds its recipients (R22)."""
        self.client = client
        self.pool = pool
        self.task_queue = task_queue
        self.today = today
        self.webhooks = list(webhooks or [])
        self.payment_wait = payment_wait
        self.reminder_days = reminder_days

    async def create(
        self, request: QuoteRequest, *, send: bool = False, idempotency_key: str | None = None, client: str = "default"
    ) -> Quote:
        """Every rule checked before anything exists: a refused quote leaves no row and no workflow. With an
        idempotency key (the `client`'s own, for 24 hours), the same request again gives the same quote,
        starts nothing new and takes no new number; the key with another request is refused (KeyReused)."""
        async with self.pool.connection() as conn:
            if idempotency_key is None:
                draft = await self._draft(conn, request)
                number = await next_quote_number(conn)
            else:
                scoped = f"{client}:{idempotency_key}"
                fingerprint = hashlib.sha256(f"{request.model_dump_json()}|send={send}".encode()).hexdigest()
                earlier = await find_key(conn, scoped)
                if earlier is not None and earlier.fingerprint != fingerprint:
                    raise KeyReused(f"Idempotency-Key {idempotency_key!r} was used for another request")
                if earlier is not None and (made := await self._made(earlier.quote_number)) is not None:
                    # A repeat answers with the quote the first made, whatever happened to it since (paid,
                    # revised): its rules held when it was made, and need not hold now.
                    return made
                draft = await self._draft(conn, request)
                keyed = earlier or await claim_key(conn, scoped, fingerprint, await next_quote_number(conn))
                if keyed.fingerprint != fingerprint:
                    raise KeyReused(f"Idempotency-Key {idempotency_key!r} was used for another request")
                # The first request and its repeats alike: whichever reaches the workflow first starts
                # (and sends) it, the others find it.
                return await self._keyed(draft.model_copy(update={"number": keyed.quote_number}), send)
        return await self._start(draft.model_copy(update={"number": number}), send)

    async def _draft(self, conn, request: QuoteRequest) -> Quote:
        """The quote a request makes, every rule checked, not yet numbered."""
        customer = await get_customer(conn, request.csn)
        if customer is None:
            raise NotFound(f"unknown customer CSN {request.csn}")
        ids = list(dict.fromkeys(request.subscription_ids))
        found = await subscriptions_by_id(conn, ids)
        missing = [i for i in ids if i not in found]
        if missing:
            raise NotFound(f"unknown subscription {', '.join(missing)}")
        if request.new_partner_csn and await get_partner(conn, request.new_partner_csn) is None:
            raise Refused("R25", f"unknown partner {request.new_partner_csn}: the data file's partners list them")
        today = self.today or date.today()
        return build_quote("Q-000000", request, customer, [found[i] for i in ids], today, datetime.now(UTC))

    async def revise(self, number: str, revision: Revision, send: bool = False) -> Quote:
        """R23: a new draft (sent at once with `send`) with the original's lines and recipients and the
        changes given, `revises` the original. Every rule of creation is checked again; one open revision
        per quote, even when two are asked for at once."""
        async with self.pool.connection() as conn, conn.transaction():
            await lock_revisions_of(conn, number)
            original = await self.show(number)
            customer = await get_customer(conn, original.csn)
            if customer is None:
                raise NotFound(f"unknown customer CSN {original.csn}")
            check_revise(original, revision.origin or original.origin, await open_revisions(conn, number))
            anchors = co_term_anchors(original, await subscriptions_of(conn, original.csn))
            request = revision_request(original, revision, customer.address, anchors)
            request = request.model_copy(update={"start_date": self._not_past(request.start_date)})
            draft = await self._draft(conn, request)
            numbered = draft.model_copy(update={"number": await next_quote_number(conn), "revises": original.number})
            # Started, and priced or sent, before the lock goes: its row is then there for the next check.
            return await self._start(numbered, send)

    async def clone(
        self,
        number: str,
        origin: Origin | None = None,
        idempotency_key: str | None = None,
        client: str = "default",
    ) -> Quote:
        """An ended quote's lines, recipients and options in a new draft, `cloned_from` it, made by `origin`
        (partner or sales; the original's unless given, sales for an auto quote): every rule of creation is
        checked again (its subscriptions as they are now). A pending quote is revised instead. With an
        idempotency key, a retry gives the same draft."""
        original = await self.read(number)
        if not original.state.terminal:
            raise Refused(
                "lifecycle",
                f"quote {number} is {original.state.value}; only an ended quote is cloned (revise a pending one, R23)",
            )
        async with self.pool.connection() as conn:
            customer = await get_customer(conn, original.csn)
            if customer is None:
                raise NotFound(f"unknown customer CSN {original.csn}")
            anchors = co_term_anchors(original, await subscriptions_of(conn, original.csn))
        who = origin or (Origin.SALES if original.origin is Origin.AUTO else None)
        request = revision_request(original, Revision(origin=who), customer.address, anchors)
        # Its own pause, not the hold the original had, and no start date that has passed (it starts when paid).
        request = request.model_copy(
            update={
                "cloned_from": number,
                "pause_auto_renew": original.pause_auto_renew,
                "start_date": self._not_past(request.start_date),
            }
        )
        return await self.create(request, idempotency_key=idempotency_key, client=client)

    def _not_past(self, day: date | None) -> date | None:
        return day if day is not None and day >= (self.today or date.today()) else None

    async def extend(self, number: str, until: date, actor: str | None = None) -> Quote:
        """A sent or accepted quote valid until the end of `until` (UTC), never past its window's close (R15)."""
        if until > (self.today or date.today()) + timedelta(days=366):
            raise Refused("R15", f"{until.isoformat()} is more than a year ahead; a quote is valid for weeks")
        end = datetime.combine(until + timedelta(days=1), time(0), tzinfo=UTC)
        return await self._update(self._handle(number), contract.EXTEND, ExtendInput(until=end, by=actor), "extended")

    async def resend(self, number: str, to: list[str] | None = None, actor: str | None = None) -> Quote:
        """The quote's email again, to every recipient, or to the ones in `to` (each a recipient of it)."""
        return await self._update(
            self._handle(number), contract.RESEND, ResendInput(to=to or None, by=actor), "sent again"
        )

    async def _made(self, number: str) -> Quote | None:
        """The quote `number` if it was made (its workflow started), else None."""
        try:
            return await self.show(number)
        except NotFound:
            return None

    async def _keyed(self, quote: Quote, send: bool) -> Quote:
        """A request with an idempotency key: the quote its key names (started now if no request got that
        far), never a second one, never sent twice."""
        try:
            return await self._start(quote, send)
        except WorkflowAlreadyStartedError:
            return await self.show(quote.number)
        except Refused as err:
            if err.rule != "lifecycle":
                raise
            return await self.show(quote.number)

    async def create_auto(self, subscription_id: str, term_end: date, today: date) -> str:
        """R12: the auto quote of one subscription term. Its number is allocated once per term, so the
        workflow id is fixed: asking twice finds the same quote and starts nothing new."""
        async with self.pool.connection() as conn:
            number = await auto_quote_number(conn, subscription_id, term_end, await next_quote_number(conn))
            sub = (await subscriptions_by_id(conn, [subscription_id]))[subscription_id]
            customer = await get_customer(conn, sub.csn)
        if customer is None:
            raise NotFound(f"unknown customer CSN {sub.csn}")
        request = QuoteRequest(csn=sub.csn, subscription_ids=[sub.id], origin=Origin.AUTO)
        quote = build_quote(number, request, customer, [sub], today, datetime.now(UTC))
        # One call: the workflow sends itself once priced, and tells the calendar if it cannot (R12). A term's
        # quote made before (its number is fixed per term) is found, running or ended: never a second one.
        try:
            await self.client.start_workflow(
                contract.WORKFLOW,
                self._input(quote, send=True),
                id=contract.workflow_id(quote.number),
                task_queue=self.task_queue,
                id_conflict_policy=WorkflowIDConflictPolicy.USE_EXISTING,
                id_reuse_policy=WorkflowIDReusePolicy.REJECT_DUPLICATE,
                search_attributes=TypedSearchAttributes(search_attributes(quote)),
                static_summary=_summary(quote),
            )
        except WorkflowAlreadyStartedError:
            pass
        return number

    async def _start(self, quote: Quote, send: bool) -> Quote:
        handle = await self.client.start_workflow(
            contract.WORKFLOW,
            self._input(quote),
            id=contract.workflow_id(quote.number),
            task_queue=self.task_queue,
            result_type=QuoteResult,
            id_conflict_policy=WorkflowIDConflictPolicy.USE_EXISTING,
            id_reuse_policy=WorkflowIDReusePolicy.REJECT_DUPLICATE,
            search_attributes=TypedSearchAttributes(search_attributes(quote)),
            static_summary=_summary(quote),
        )
        try:
            if send:  # `send` waits for the first pricing: one round trip, not two
                return await self._update(handle, contract.SEND, SendInput())
            return await self._update(handle, contract.PRICED, PricedInput())
        except NotFound:
            # It stopped before the update reached it (its first step failed at once): say why.
            try:
                await handle.result()
            except WorkflowFailureError as err:
                reason = getattr(err.cause, "cause", None) or err.cause
                raise Stopped(f"quote {quote.number} cannot go on: {reason}") from err
            raise

    def _input(self, quote: Quote, send: bool = False) -> QuoteInput:
        return QuoteInput(
            quote=quote,
            webhooks=self.webhooks,
            payment_wait=self.payment_wait,
            reminder_days=self.reminder_days,
            send=send,
        )

    async def send(self, number: str, actor: str | None = None) -> Quote:
        """`actor`, here and below: who asked (`api:<key name>`), recorded on the quote's event. A revision
        is sent only while the quote it revises is still sent (R23)."""
        handle = self._handle(number)
        if is_quote_number(number):
            draft = await self.show(number)
            if draft.revises and draft.state is QuoteState.DRAFT:
                check_send_revision(draft, await self.show(draft.revises))
        return await self._update(handle, contract.SEND, SendInput(by=actor))

    async def accept(
        self,
        number: str,
        pay: bool = False,
        reference: str | None = None,
        payment_method: str | None = None,
        actor: str | None = None,
        bank_transfer: bool = False,
        purchase_order: str | None = None,
    ) -> Quote:
        """With `pay`: accept and pay. A card pays by its gateway token; without one, `reference` records
        an offline payment. Either way the quote's terms are reserved before any money moves (R16). With
        `bank_transfer` (R29): accepted, awaiting a transfer with the quote's RF reference. A purchase order
        number (R27) is kept on the quote."""
        if pay and bank_transfer:
            raise BadInput("choose one: pay now, or pay by bank transfer")
        purchase_order = check_purchase_order(purchase_order)
        return await self._update(
            self._handle(number),
            contract.ACCEPT,
            AcceptInput(
                pay=pay,
                payment_reference=_reference(reference),
                payment_method=payment_method,
                by=actor,
                bank_transfer=bank_transfer,
                purchase_order=purchase_order,
            ),
            "paid" if pay else "accepted",
        )

    async def pay(
        self,
        number: str,
        reference: str | None = None,
        payment_method: str | None = None,
        actor: str | None = None,
        amount: Decimal | None = None,
        currency: str | None = None,
        received_on: date | None = None,
    ) -> Quote:
        """A payment of an accepted quote. A bank transfer (R29) comes with its RF reference and, from a bank
        statement, what arrived (`amount`, `currency`, `received_on`): refused unless it is the total."""
        return await self._update(
            self._handle(number),
            contract.PAY,
            PayInput(
                payment_reference=_reference(reference),
                payment_method=payment_method,
                by=actor,
                amount=amount,
                currency=currency,
                received_on=received_on,
            ),
            "paid",
        )

    async def check_payment(self, number: str) -> None:
        """The provider says this quote's payment was decided: its workflow asks it now (R20). A quote that
        has ended, or was never started, has nothing to ask: NotFound."""
        try:
            await self._handle(number).signal(contract.CHECK_PAYMENT)
        except RPCError as err:
            if err.status is RPCStatusCode.NOT_FOUND:
                raise NotFound(f"quote {number} has no running workflow") from None
            raise

    async def answer(
        self, number: str, kind: str, message: str, reason: str | None = None, actor: str | None = None
    ) -> Quote:
        """R26: as the buyer, ask for changes (`changes_requested`) or decline (`declined`, with a reason)."""
        if kind not in ("changes_requested", "declined"):
            raise BadInput("answer with changes_requested or declined")
        declined = None
        if reason:
            try:
                declined = DeclineReason(reason)
            except ValueError:
                choices = ", ".join(r.value for r in DeclineReason)
                raise Refused("R26", f"a decline's reason is one of {choices}; not {reason[:40]!r}") from None
        checked = check_answer_message(message)
        return await self._update(
            self._handle(number),
            contract.ANSWER,
            AnswerInput(kind=kind, message=checked, reason=declined, by=actor),
            "answered",
        )

    async def cancel(self, number: str, by: str, actor: str | None = None) -> Quote:
        return await self._update(self._handle(number), contract.CANCEL, CancelInput(by=by, actor=actor))

    async def edit(self, number: str, edit: EditInput) -> Quote:
        return await self._update(self._handle(number), contract.EDIT, edit)

    async def show(self, number: str) -> Quote:
        """The quote as its workflow holds it this moment (a query), else as stored: for ops and the command
        line, which may look at a quote in the middle of a step. Pages and the API `read` instead."""
        handle = self._handle(number)
        try:
            return await handle.query(contract.STATE, result_type=Quote)
        except RPCError:
            return await self.read(number)

    async def read(self, number: str) -> Quote:
        """The quote as its workflow last wrote it to the store: no Temporal call. Every step the quote takes
        is written before the update that took it answers, so a page read after an action shows that action;
        what only the update knows (a payment gone to the bank) comes back in its result."""
        if not is_quote_number(number):
            raise NotFound(f"unknown quote {number[:40]!r}")
        stored = await self._stored(number)
        if stored is None:
            raise NotFound(f"unknown quote {number}")
        return stored

    async def find(
        self,
        csn: str | None = None,
        state: str | None = None,
        limit: int | None = None,
        starting_after: str | None = None,
    ) -> list[Quote]:
        """The stored quotes, newest last, of a customer and in a state if given; `limit` of them after the
        quote `starting_after`."""
        async with self.pool.connection() as conn:
            return await list_quotes(conn, csn, state, limit, starting_after)

    async def ended(self, csn: str, recipient: str | None = None, limit: int = 20) -> list[Quote]:
        """A customer's last `limit` paid, expired and cancelled quotes, the last to end first; with a
        `recipient`, only those that address was sent (R19)."""
        async with self.pool.connection() as conn:
            return await ended_quotes_of(conn, csn, recipient, limit)

    def _handle(self, number: str) -> WorkflowHandle[Any, QuoteResult]:
        if not is_quote_number(number):
            raise NotFound(f"unknown quote {number[:40]!r}")
        return self.client.get_workflow_handle(contract.workflow_id(number), result_type=QuoteResult)

    async def _stored(self, number: str) -> Quote | None:
        async with self.pool.connection() as conn:
            return await get_quote(conn, number)

    async def _update(self, handle: WorkflowHandle, update: str, arg: BaseModel, action: str = "changed") -> Quote:
        """An update's refusal becomes Refused/BadInput; a quote that has ended is refused by its state."""
        number = handle.id.removeprefix("quote-")
        try:
            async with refused_update():
                return await handle.execute_update(update, arg, result_type=Quote)
        except RPCError as err:
            if err.status != RPCStatusCode.NOT_FOUND:
                raise
            stored = await self._stored(number)
            if stored is None:
                raise NotFound(f"unknown quote {number}") from None
            if stored.state.terminal or stored.state is not QuoteState.DRAFT:
                raise Refused(*stored.ended_refusal(action)) from None
            raise


def _summary(quote: Quote) -> str:
    """The line the Temporal UI shows under the workflow's id."""
    return (
        f"{quote.kind.value.capitalize()} quote {quote.number} for {quote.customer_name} ({quote.csn}): "
        f"{len(quote.lines)} subscription(s), {quote.origin.value}"
    )


def _reference(reference: str | None) -> str | None:
    """R29: a reference meant as a creditor reference (RF..) must pass the ISO 11649 check; kept compact."""
    if reference is not None and is_rf(reference):
        return checked_reference(reference)
    return reference
