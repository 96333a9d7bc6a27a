"""One quote as a pure aggregate (Lifecycle, R01-R04, R10, R15-R17, R20, R22, R23): each change is a method
of `QuoteAggregate` that takes a command (or an effect's reply) and the time, and returns the new state with
the effects to run (domain/quote_effects.py), or a refusal naming its rule. QuoteWorkflow holds the lock,
runs the effects and feeds the replies back through `on`; nothing else changes state.

Money (R16, R20): a payment reserves its terms, charges once under the quote's key, and renews; `payment`
says how far it got, and while it is set no other payment is taken and nothing ends the quote. Whatever
ends the quote settles it (`_settle`): its holds are detached, its reservations released, and money asked
for under its key without a renewal is refunded, as the provider confirms."""

from collections.abc import Callable
from datetime import date, datetime, timedelta
from decimal import Decimal
from typing import Literal

from pydantic import BaseModel

from domain import quote_lifecycle as lifecycle
from domain.bank_transfer import check_transfer, rf_reference
from domain.calendar_aggregate import Owner
from domain.decisions import Decision
from domain.errors import BadInput, PaymentDeclined, Refused
from domain.quote_effects import (
    Attach,
    Charge,
    Charged,
    Created,
    CreateSubscriptions,
    Detach,
    Email,
    EmailPurpose,
    Find,
    Found,
    Pause,
    Price,
    Priced,
    PriceMissing,
    Refund,
    Refunded,
    Release,
    Renew,
    RenewedTerms,
    Replaced,
    ReplaceOriginal,
    Reply,
    Reserve,
    Reserved,
    Save,
    Step,
    TellMaker,
    TermRef,
    TermRenewal,
)
from domain.quote_rules import DraftEdit, apply_line_changes, check_recipients
from domain.quotes import BuyerAnswer, DeclineReason, Quote, QuoteState, check_purchase_order

# R20: how long to wait before asking a provider again that could not say whether it charged.
ASK_AGAIN_SECONDS = 300

Effects = list


class PaymentAttempt(BaseModel):
    """A payment going on (R16, R20): what pays, who asked, and how far it got."""

    payment_method: str | None = None
    reference: str | None = None
    by: str | None = None
    amount: Decimal | None = None
    currency: str | None = None
    received_on: date | None = None
    stage: Literal["clearing", "reserving", "charging", "confirming", "renewing", "creating", "refunding"]
    charged: str | None = None  # the provider's reference, once the money is taken
    announced: bool = False  # "payment pending" was written: the buyer stopped waiting
    not_renewed: str | None = None  # why the terms did not renew: the money goes back


class PayCommand(BaseModel):
    """A card's token, or an offline payment's reference; a bank transfer (R29) also says what arrived."""

    payment_method: str | None = None
    reference: str | None = None
    by: str | None = None
    amount: Decimal | None = None  # R29: what the transfer brought; paid only if it is the total
    currency: str | None = None
    received_on: date | None = None  # the day on the bank statement
    purchase_order: str | None = None  # R27: given with "accept and pay"


class QuoteAggregate(BaseModel):
    """The quote, and what was done about it beside the quote itself."""

    quote: Quote
    priced: bool = False  # the first pricing is done (or failed for a missing price)
    attached: dict[str, bool] = {}  # subscription -> whether this quote holds its auto-renew
    renewed: dict[str, str] = {}  # subscription -> its new end date
    payment: PaymentAttempt | None = None
    reserved: list[TermRef] = []  # terms this quote holds reserved now
    charge_asked: bool = False  # a charge was asked for under the quote's key: an unpaid ending refunds by it
    money_held: bool = False  # charged, and neither renewed for nor refunded yet
    refund_done: bool = False  # the unpaid ending's refund was answered
    sending_by: str | None = None  # who sends the revision whose original is being replaced (R23)
    stopped: str | None = None  # why the quote cannot go on
    reminders_due: list[int] = []  # R22: days before expiry still to remind on
    unwritten: list[Step] = []  # steps taken but not yet written: the creation, an accept paid at once

    @classmethod
    def new(cls, quote: Quote, reminder_days: tuple[int, ...]) -> "QuoteAggregate":
        return cls(
            quote=quote,
            reminders_due=sorted(reminder_days, reverse=True),
            unwritten=[Step(event="created", quote=quote)],
        )

    # The lifecycle.

    def start(self, now: datetime) -> Decision["QuoteAggregate"]:
        """The quote's workflow began: validity fixed (R15), pending on its subscriptions."""
        new = self._copy()
        if new.quote.expires_at is None:
            new.quote = new.quote.model_copy(update={"expires_at": new.quote.expiry_for(now)})
        return Decision(new, new._attach())

    def price_first(self, now: datetime) -> Decision["QuoteAggregate"]:
        """The first pricing; a quote cancelled while it was attaching is never priced."""
        if self.quote.state.terminal or self.stopped is not None:
            return Decision(self.model_copy(update={"priced": True}))
        return Decision(self, [self._price(now)])

    def send(self, now: datetime, by: str | None = None) -> Decision["QuoteAggregate"]:
        """Sent, its validity counted from now (R15); a revision first replaces its original (R23)."""
        refused = _check(lifecycle.check_send, self.quote, now)
        if refused:
            return Decision(self, refusal=refused)
        if self.quote.revises and self.sending_by is None:
            new = self.model_copy(update={"sending_by": by or ""})
            return Decision(new, [ReplaceOriginal(original=self.quote.revises)])
        new = self._copy()
        new.sending_by = None
        new._change(state=QuoteState.SENT, sent_at=now, expires_at=new.quote.expiry_for(now))
        detail = {"recipients": new.quote.all_recipients, **_by(by)}
        return Decision(new, [new._save("sent", detail), new._email("quote")])

    def accept(
        self, now: datetime, by: str | None = None, bank_transfer: bool = False, purchase_order: str | None = None
    ) -> Decision["QuoteAggregate"]:
        """The buyer's commitment: it holds auto-renew (R17) before the buyer hears it is accepted; with the
        buyer's purchase order number, if they give one (R27)."""
        refused = _check(check_purchase_order, purchase_order)
        if refused:
            return Decision(self, refusal=refused)
        if bank_transfer:
            return self._accept_by_transfer(now, by, purchase_order)
        refused = _check(lifecycle.check_accept, self.quote, now, False)
        if refused:
            return Decision(self, refusal=refused)
        new = self._copy()
        new._change(state=QuoteState.ACCEPTED, accepted_at=now, purchase_order=purchase_order)
        return Decision(new, [*new._attach(), new._save("accepted", {**_by(by), **_po(purchase_order)})])

    def _accept_by_transfer(
        self, now: datetime, by: str | None, purchase_order: str | None
    ) -> Decision["QuoteAggregate"]:
        """R29: accepted (a sent quote) and awaiting a bank transfer with its RF reference, holding auto-renew
        (R17); the buyer is emailed the IBAN and the reference. Chosen again, nothing changes."""
        refused = _check(lifecycle.check_accept, self.quote, now, True)
        if refused:
            return Decision(self, refusal=refused)
        if self.quote.awaits_transfer:
            return Decision(self)
        new = self._copy()
        reference = rf_reference(new.quote.number)
        event = "accepted" if new.quote.state is QuoteState.SENT else "bank transfer chosen"
        new._change(
            state=QuoteState.ACCEPTED,
            accepted_at=new.quote.accepted_at or now,
            transfer_reference=reference,
            purchase_order=purchase_order or new.quote.purchase_order,
        )
        detail = {"payment": "bank_transfer", "reference": reference, **_by(by), **_po(purchase_order)}
        return Decision(new, [*new._attach(), new._save(event, detail), new._email("transfer")])

    def answer(
        self, now: datetime, kind: str, message: str, reason: DeclineReason | None = None, by: str | None = None
    ) -> Decision["QuoteAggregate"]:
        """R26: the buyer asks for changes or declines. The quote stays as it is (a buyer cannot cancel, R10);
        the answer is kept on it, written, announced, and emailed to its maker, who revises or cancels."""
        try:
            checked = lifecycle.check_answer(self.quote, now, kind, reason, message)
        except Refused as err:
            return Decision(self, refusal=err)
        last = self.quote.answers[-1] if self.quote.answers else None
        if last is not None and (last.kind, last.reason, last.message, last.by) == (kind, reason, checked, by):
            return Decision(self)  # the same answer again (a double click, a retry): said once, emailed once
        new = self._copy()
        answer = BuyerAnswer(kind=kind, reason=reason, message=checked, by=by, at=now)
        new._change(answers=[*new.quote.answers, answer])
        detail = {"reason": reason.value if reason else None, **_by(by)}
        number = len(new.quote.answers)
        return Decision(new, [new._save(kind, detail), TellMaker(quote=new.quote, answer=number)])

    def extend(self, now: datetime, until: datetime, by: str | None = None) -> Decision["QuoteAggregate"]:
        """Partner, sales or ops give a sent or accepted quote more time (R15: never past the window close);
        the expiry's timer and the reminders follow the new date."""
        refused = _check(lifecycle.check_extend, self.quote, now, until)
        if refused:
            return Decision(self, refusal=refused)
        new = self._copy()
        before = new.quote.expires_at
        assert before is not None
        new._change(expires_at=until)
        detail = {"from": before.isoformat(), "until": until.isoformat(), **_by(by)}
        return Decision(new, [new._save("extended", detail)])

    def resend(self, now: datetime, to: list[str] | None = None, by: str | None = None) -> Decision["QuoteAggregate"]:
        """Its email again, to every recipient or the ones named (each once more, as a message of its own)."""
        try:
            recipients = lifecycle.check_resend(self.quote, now, to)
        except Refused as err:
            return Decision(self, refusal=err)
        new = self._copy()
        new._change(resent=new.quote.resent + 1)
        email = Email(purpose="quote", quote=new.quote, to=recipients, resend=new.quote.resent)
        return Decision(new, [new._save("resent", {"to": recipients, **_by(by)}), email])

    def cancel(self, now: datetime, by: str, actor: str | None = None) -> Decision["QuoteAggregate"]:
        """R10: partners and sales cancel; a buyer lets a quote expire."""
        refused = _check(lifecycle.check_cancel, self.quote, by)
        if refused:
            return Decision(self, refusal=refused)
        new = self._copy()
        new._change(state=QuoteState.CANCELLED, cancelled_by=by, ended_at=now)
        return Decision(new, [new._save("cancelled", {"by": by, **_by(actor, "actor")}), *new._settle()])

    def expire(self, now: datetime) -> Decision["QuoteAggregate"]:
        """R15: the expiry came before the quote ended."""
        if self.quote.state.terminal:
            return Decision(self)
        new = self._copy()
        new._change(state=QuoteState.EXPIRED, ended_at=now)
        return Decision(new, [new._save("expired"), *new._settle()])

    def supersede(self, now: datetime, reason: str, detail: str) -> Decision["QuoteAggregate"]:
        """A term of this quote was renewed another way (R16), or moved owner (R21): cancelled by the system,
        its recipients told."""
        if self.quote.state.terminal:
            return Decision(self)
        new = self._copy()
        new._change(
            state=QuoteState.CANCELLED,
            cancelled_by="system",
            cancel_reason=reason,
            superseded_because=detail,
            ended_at=now,
        )
        effects: Effects = [new._save("cancelled", {"by": "system", "reason": reason, "detail": detail})]
        if new.quote.sent_at is not None:
            effects.append(new._email("superseded"))
        return Decision(new, [*effects, *new._settle()])

    def replace(self, now: datetime, revision: str) -> Decision["QuoteAggregate"]:
        """R23: its revision is being sent. A sent quote is cancelled by the system, its holds passing to the
        revision (which holds since it began); one the buyer accepted, or that ended, stands (answer: Replaced)."""
        quote = self.quote
        if quote.revised_by == revision:
            return Decision(self, answer=Replaced(replaced=True))
        if quote.state is not QuoteState.SENT or quote.payment:
            reason = (
                f"quote {quote.number}, which {revision} revises, is {quote.state.value} now; "
                f"cancel {revision}, or cancel {quote.number} first"
            )
            return Decision(self, answer=Replaced(replaced=False, reason=reason))
        new = self._copy()
        reason = f"revised by {revision}"
        new._change(
            state=QuoteState.CANCELLED,
            cancelled_by="system",
            cancel_reason=reason,
            superseded_because=f"Quote {revision} replaces it",
            revised_by=revision,
            ended_at=now,
        )
        detail = {"by": "system", "reason": reason, "detail": new.quote.superseded_because, "revised_by": revision}
        effects = [new._save("cancelled", detail), new._email("superseded"), *new._settle()]
        return Decision(new, effects, answer=Replaced(replaced=True))

    def edit(self, now: datetime, edit: DraftEdit) -> Decision["QuoteAggregate"]:
        """Draft edits: seats, term, a line left out, recipients, address; then priced again."""
        try:
            kept = lifecycle.check_edit(self.quote, now, edit)
            recipients = (
                self.quote.recipients
                if edit.recipients is None
                else check_recipients(edit.recipients, self.quote.buyer_email)
            )
        except (Refused, BadInput) as err:
            return Decision(self, refusal=err)
        new = self._copy()
        new._change(
            lines=apply_line_changes(kept, edit.seats, edit.terms),
            recipients=recipients,
            address=edit.address or new.quote.address,
        )
        effects: Effects = [new._save("edited", edit.model_dump(mode="json", exclude_defaults=True))]
        dropped = [sub for sub in new.attached if sub in edit.exclude]
        if dropped:
            effects.append(Detach(subscriptions=dropped))
            new.attached = {sub: hold for sub, hold in new.attached.items() if sub not in dropped}
        return Decision(new, [*effects, *new._attach(), new._price(now)])

    # R22: reminders.

    def next_reminder(self) -> tuple[datetime, int] | None:
        """When the next reminder is due, and its days before expiry: only a sent or accepted quote is
        reminded, and only of days after it was sent."""
        quote = self.quote
        if quote.state not in (QuoteState.SENT, QuoteState.ACCEPTED) or quote.sent_at is None:
            return None
        assert quote.expires_at is not None
        for days in self.reminders_due:
            at = quote.expires_at - timedelta(days=days)
            if at >= quote.sent_at and days not in quote.reminded:
                return at, days
        return None

    def reminder_due(self, days: int) -> Decision["QuoteAggregate"]:
        """The reminder of `days` goes out now: it and every earlier one are off the list."""
        return Decision(self.model_copy(update={"reminders_due": [d for d in self.reminders_due if d < days]}))

    def remind(self, days: int) -> Decision["QuoteAggregate"]:
        """One reminder to every recipient, once: to accept a sent quote, to pay an accepted one; none while a
        payment is being confirmed (R20), none once the quote moved on."""
        quote = self.quote
        if quote.state not in (QuoteState.SENT, QuoteState.ACCEPTED) or quote.payment or days in quote.reminded:
            return Decision(self)
        purpose: EmailPurpose = "reminder" if quote.state is QuoteState.SENT else "pay_reminder"
        new = self._copy()
        new._change(reminded=[*quote.reminded, days])
        detail = {"days": days, "purpose": purpose, "recipients": quote.all_recipients}
        return Decision(new, [new._save("reminded", detail), new._email(purpose, days)])

    def unremind(self, days: int) -> Decision["QuoteAggregate"]:
        """A reminder dropped before it was written (it would come too late): the quote never says it was sent."""
        new = self._copy()
        new._change(reminded=[d for d in new.quote.reminded if d != days])
        return Decision(new)

    # The payment saga (R16, R20).

    def pay(self, now: datetime, command: PayCommand, accepting: bool) -> Decision["QuoteAggregate"]:
        """Pay (with `accepting`: accept and pay, one buyer action). The terms are reserved before any money
        moves; a quote without terms to renew is charged at once."""
        if accepting:
            refused = _check(lifecycle.check_accept, self.quote, now, True)
        else:
            refused = _check(lifecycle.check_pay, self.quote, now)
        if refused is None:
            refused = _check(check_transfer, self.quote, command.reference, command.amount, command.currency)
        if refused is None:
            refused = _check(check_purchase_order, command.purchase_order)
        if refused:
            return Decision(self, refusal=refused)
        new = self._copy()
        if accepting and new.quote.state is QuoteState.SENT:
            new._change(state=QuoteState.ACCEPTED, accepted_at=now, purchase_order=command.purchase_order)
            new.unwritten.append(Step(event="accepted", quote=new.quote))
        elif accepting and command.purchase_order:  # accepted before: the number given when paying (R27)
            new._change(purchase_order=command.purchase_order)
            new.unwritten.append(Step(event="purchase order given", quote=new.quote))
        new._change(payment="pending")
        new.payment = PaymentAttempt(**command.model_dump(exclude={"purchase_order"}), stage="clearing")
        if command.payment_method is None and new.charge_asked and not new.refund_done:
            # R20: a card charge asked for under the key earlier (the provider said it took none) may land yet;
            # it goes back before an offline payment is taken, so the quote is never paid twice.
            return Decision(new, [Refund(key_only=True)])
        return Decision(new, new._begin())

    def payment_overdue(self) -> Decision["QuoteAggregate"]:
        """The buyer stopped waiting: the quote says its payment is being confirmed (R20)."""
        if self.payment is None or self.payment.announced:
            return Decision(self)
        new = self._copy()
        assert new.payment is not None
        new.payment.announced = True
        return Decision(new, [new._save("payment pending")])

    def on(self, reply: Reply, now: datetime) -> Decision["QuoteAggregate"]:
        """An asking effect's reply: what comes next."""
        match reply:
            case Priced() | PriceMissing():
                return self._priced(reply)
            case Reserved():
                return self._reserved(reply, now)
            case Charged():
                return self._charged(reply, now)
            case Found():
                return self._found(reply, now)
            case RenewedTerms():
                return self._renewed(reply, now)
            case Created():
                new = self._copy()
                new.renewed.update({sub: end.isoformat() for sub, end in reply.subscriptions.items()})
                return new._paid(now)
            case Refunded():
                return self._refunded(reply, now)
            case Replaced():
                if not reply.replaced:
                    return Decision(
                        self.model_copy(update={"sending_by": None}), refusal=Refused("R23", reply.reason or "")
                    )
                return self.send(now, self.sending_by or None)
        return Decision(self)  # a pause is over: the last effect is asked again

    def stop(self, reason: str) -> Decision["QuoteAggregate"]:
        """It cannot go on (a business failure nothing decides about): settled as any ending, and it says why."""
        new = self._copy()
        new.stopped = reason
        new.payment = None
        if new.quote.payment:  # it never says "payment being confirmed" again (R20)
            new._change(payment=None)
        if new.quote.state is QuoteState.ACCEPTED:
            # A failed payment holds again before it releases: a hold that failed left its terms reserved. Each
            # is let go (a release of a term it does not hold changes nothing).
            new.reserved = new._terms()
        return Decision(new, new._settle())

    def _priced(self, reply: Priced | PriceMissing) -> Decision["QuoteAggregate"]:
        new = self._copy()
        new.priced = True
        if isinstance(reply, PriceMissing):
            new._change(pricing_error=reply.reason)
            return Decision(new, [new._save("pricing failed", {"reason": reply.reason})])
        new._change(
            lines=reply.lines,
            subtotal=reply.subtotal,
            discount_total=reply.discount_total,
            total=reply.total,
            tax=reply.tax,
            tax_total=sum((t.amount for t in reply.tax), Decimal(0)),
            pricing_error=None,
        )
        return Decision(new, [new._save("priced", {"total": str(reply.total)})])

    def _begin(self) -> Effects:
        """The terms are reserved before any money moves; a quote without terms to renew is charged at once."""
        assert self.payment is not None
        terms = self._terms()
        if terms:
            self.payment.stage = "reserving"
            return [Reserve(terms=terms, owner=Owner.of(self.quote), hold=self.quote.holds_auto_renew)]
        return [self._charge()]

    def _reserved(self, reply: Reserved, now: datetime) -> Decision["QuoteAggregate"]:
        """Each term granted: charge. Any refused: nothing is charged, the payment refused with who has it; a
        subscription that belongs to another owner now ends the quote (R21)."""
        new = self._copy()
        terms = new._terms()
        moved = next((r for r in reply.refused if r.rule == "R21"), None)
        if moved is not None:
            return new._moved_away(moved.reason, terms, now)
        if reply.refused:
            first = reply.refused[0]
            ending = "try again in a moment" if first.retry_later else "this quote can no longer be paid"
            return new._payment_ended(Refused(first.rule or "R16", f"{first.reason}; {ending}"), [Release(terms=terms)])
        new.reserved = terms
        if new.quote.holds_auto_renew:  # each calendar took the hold with the reservation (R17)
            new.attached.update({t.subscription_id: True for t in terms})
        return Decision(new, [new._charge()])

    def _charged(self, reply: Charged, now: datetime) -> Decision["QuoteAggregate"]:
        if reply.outcome == "charged":
            return self._money_taken(reply.reference or "", now)
        if reply.outcome == "unknown" and reply.action_url:  # the buyer authenticates at their bank first
            new = self._copy()
            assert new.payment is not None
            new.payment.stage = "confirming"
            new.payment.announced = True
            new._change(payment_action_url=reply.action_url)
            find = Find(amount=new.quote.amount_due, currency=new.quote.currency)
            return Decision(new, [new._save("payment pending"), Pause(seconds=ASK_AGAIN_SECONDS), find])
        if reply.outcome == "unknown":  # asked by the key until the provider says (R20)
            new = self._copy()
            assert new.payment is not None
            new.payment.stage = "confirming"
            return Decision(new, [Find(amount=new.quote.amount_due, currency=new.quote.currency)])
        new = self._copy()
        release = new._release()
        if reply.outcome == "refunded":
            return new._payment_ended(Refused("R20", reply.message), release)
        return new._payment_ended(PaymentDeclined(f"{reply.message}; nothing was charged"), release)

    def _found(self, reply: Found, now: datetime) -> Decision["QuoteAggregate"]:
        if reply.charged:
            return self._money_taken(reply.reference or "", now)
        if reply.charged is None:  # the provider cannot say yet: asked again later, the payment still pending
            return Decision(
                self,
                [Pause(seconds=ASK_AGAIN_SECONDS), Find(amount=self.quote.amount_due, currency=self.quote.currency)],
            )
        new = self._copy()
        message = (
            "the payment could not be completed (the provider confirmed that nothing was charged; "
            "please pay again); nothing was charged"
        )
        return new._payment_ended(PaymentDeclined(message), new._release())

    def _money_taken(self, reference: str, now: datetime) -> Decision["QuoteAggregate"]:
        """Charged: from here the quote ends paid, or its money goes back; never "nothing was charged"."""
        new = self._copy()
        assert new.payment is not None
        new.money_held = True
        new.payment.charged = reference
        if new.reserved:
            new.payment.stage = "renewing"
            return Decision(new, [Renew(renewals=new._renewals())])
        return new._create_or_pay(now)

    def _renewed(self, reply: RenewedTerms, now: datetime) -> Decision["QuoteAggregate"]:
        new = self._copy()
        assert new.payment is not None
        for sub, end in reply.renewed.items():
            new.renewed[sub] = end.isoformat()
            new.attached.pop(sub, None)  # the calendar's renewal ended this quote's pending there
        if reply.not_renewed:  # the money goes back and the quote ends: never paid for nothing
            new.payment.stage = "refunding"
            new.payment.not_renewed = "; ".join(reply.not_renewed.values())
            return Decision(new, [*new._release(), Refund()])
        new.reserved = []
        return new._create_or_pay(now)

    def _create_or_pay(self, now: datetime) -> Decision["QuoteAggregate"]:
        new_lines = {no: line for no, line in enumerate(self.quote.lines, start=1) if line.subscription_id is None}
        if not new_lines:
            return self._paid(now)
        new = self._copy()
        assert new.payment is not None
        new.payment.stage = "creating"
        start = max(new.quote.start_date or now.date(), now.date())  # R25: a later start, if one was chosen
        return Decision(new, [CreateSubscriptions(lines=new_lines, start=start)])

    def _paid(self, now: datetime) -> Decision["QuoteAggregate"]:
        new = self._copy()
        assert new.payment is not None
        payment = new.payment
        new._change(state=QuoteState.PAID, paid_at=now, payment_reference=payment.charged, ended_at=now, payment=None)
        new.payment, new.money_held = None, False
        detail = {"reference": payment.charged, "renewed": new.renewed, **_by(payment.by)}
        if payment.received_on is not None:  # R29: the day the transfer reached the bank
            detail["received_on"] = payment.received_on.isoformat()
        effects = [new._save("paid", detail), new._email("paid"), *new._settle()]
        if payment.payment_method is None and new.charge_asked and not new.refund_done:
            effects.append(Refund(key_only=True))  # paid offline: a card charge that lands late goes back (R20)
        return Decision(new, effects)

    def _refunded(self, reply: Refunded, now: datetime) -> Decision["QuoteAggregate"]:
        new = self._copy()
        new.money_held = new.money_held and reply.offline
        if new.payment is not None and new.payment.stage == "clearing":  # the key holds nothing: pay offline
            return Decision(new, new._begin())
        if new.payment is None or new.payment.stage != "refunding":  # an unpaid ending's refund
            new.refund_done = True
            return Decision(new)
        why = new.payment.not_renewed or "a term did not renew"
        back = "it will be returned to you" if reply.offline else "the payment was refunded"
        new.refund_done = True
        new._change(
            state=QuoteState.CANCELLED,
            cancelled_by="system",
            cancel_reason=f"not renewed: {why}; {back}",
            ended_at=now,
            payment=None,
        )
        new.payment = None
        saved = new._save("cancelled", {"by": "system", "reason": new.quote.cancel_reason})
        return Decision(new, [saved, *new._settle()], refusal=Refused("R16", f"{why}; {back}"))

    def _moved_away(self, reason: str, terms: list[TermRef], now: datetime) -> Decision["QuoteAggregate"]:
        """R21: a load gave a subscription of this quote to another owner (its calendar may not know yet): the
        quote ends, cancelled by the system, and lets go of every hold and reservation it took."""
        self.payment, self.reserved = None, terms
        self._change(
            state=QuoteState.CANCELLED,
            cancelled_by="system",
            cancel_reason=reason,
            superseded_because=reason,
            ended_at=now,
            payment=None,
        )
        effects: Effects = [self._save("cancelled", {"by": "system", "reason": reason})]
        if self.quote.sent_at is not None:
            effects.append(self._email("superseded"))
        return Decision(
            self, [*effects, *self._settle()], refusal=Refused("R21", f"{reason}; this quote can no longer be paid")
        )

    def _payment_ended(self, refusal: Refused, effects: Effects) -> Decision["QuoteAggregate"]:
        """Refused, declined or not charged: an accepted quote stays accepted and holds auto-renew (R17)."""
        assert self.payment is not None
        announced = self.payment.announced
        self.payment = None
        self.reserved = []
        self._change(payment=None)
        effects = [*self._attach(), *effects]  # held before the terms are released: auto-renew never slips in
        if self.unwritten or announced:
            effects.append(self._save("payment failed", {"reason": refusal.message}))
        return Decision(self, effects, refusal=refusal)

    # The parts the decisions share; each changes `self`, a copy made by the decision.

    def _settle(self) -> Effects:
        """Whatever ended the quote: holds detached (R03), reservations released (R16), and money asked for
        under its key without a renewal refunded, once (R20)."""
        effects: Effects = []
        if self.attached:
            effects.append(Detach(subscriptions=list(self.attached)))
            self.attached = {}
        effects += self._release()
        if self.quote.state is not QuoteState.PAID and self.charge_asked and not self.refund_done:
            effects.append(Refund(key_only=True))
        return effects

    def _attach(self) -> Effects:
        """Pending on each subscription, holding auto-renew if the quote changes them or was accepted."""
        if self.quote.state.terminal:
            return []
        hold = self.quote.holds_auto_renew
        todo = [
            line.subscription_id
            for line in self.quote.lines
            if line.subscription_id
            and (line.subscription_id not in self.attached or (hold and not self.attached[line.subscription_id]))
        ]
        self.attached.update({sub: hold for sub in todo})
        return [Attach(subscriptions=todo, hold=hold)] if todo else []

    def _release(self) -> Effects:
        terms, self.reserved = self.reserved, []
        return [Release(terms=terms)] if terms else []

    def _charge(self) -> Charge:
        assert self.payment is not None
        self.payment.stage = "charging"
        self.charge_asked = self.charge_asked or self.payment.payment_method is not None
        return Charge(
            amount=self.quote.amount_due,
            currency=self.quote.currency,
            payment_method=self.payment.payment_method,
            reference=self.payment.reference,
            by=self.payment.by,
        )

    def _terms(self) -> list[TermRef]:
        return [
            TermRef(subscription_id=line.subscription_id, term_end=line.end_date)
            for line in self.quote.renewal_lines
            if line.subscription_id and line.end_date
        ]

    def _renewals(self) -> list[TermRenewal]:
        return [
            TermRenewal(
                subscription_id=line.subscription_id,
                term_end=line.end_date,
                to_end_date=line.new_end_date,
                seats=line.seats,
                term=line.term,
                partner_csn=self.quote.new_partner_csn,
                currency=self.quote.currency if self.quote.from_currency else None,
            )
            for line in self.quote.renewal_lines
            if line.subscription_id and line.end_date and line.new_end_date
        ]

    def _price(self, now: datetime) -> Price:
        return Price(
            currency=self.quote.currency,
            quote_kind=self.quote.kind,
            lines=self.quote.lines,
            on=now.date(),
            csn=self.quote.csn,
        )

    def _save(self, event: str, detail: dict | None = None) -> Save:
        steps, self.unwritten = [*self.unwritten, Step(event=event, quote=self.quote)], []
        return Save(steps=steps, detail=detail or {})

    def _email(self, purpose: EmailPurpose, days: int | None = None) -> Email:
        return Email(purpose=purpose, quote=self.quote, days_left=days)

    def _change(self, **changes: object) -> None:
        """The quote after a change, validated whole, one revision on."""
        changed = {**dict(self.quote), **changes, "revision": self.quote.revision + 1}
        if changed["payment"] is None:  # no payment going on: nowhere to authenticate one
            changed["payment_action_url"] = None
        self.quote = Quote.model_validate(changed)

    def _copy(self) -> "QuoteAggregate":
        return self.model_copy(deep=True)


def _check(check: Callable[..., object], *args: object) -> Refused | BadInput | None:
    """A lifecycle check's refusal, or None."""
    try:
        check(*args)
    except (Refused, BadInput) as err:
        return err
    return None


def _po(purchase_order: str | None) -> dict[str, str]:
    """R27: the purchase order number in an event's detail, when the buyer gave one."""
    return {"purchase_order": purchase_order} if purchase_order else {}


def _by(actor: str | None, key: str = "by") -> dict[str, str]:
    """Who asked, in an event's detail, when it is known."""
    return {key: actor} if actor else {}
