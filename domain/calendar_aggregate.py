"""A subscription's calendar as a pure aggregate (R01-R03, R12, R16-R18, R21): each change is a method of
`Calendar` that takes a command and the time and returns the new calendar with the effects to run (a quote
to supersede, a webhook, a renewal to confirm), or a refusal naming its rule. SubscriptionWorkflow holds
one, serialises the commands, runs the effects and feeds the replies back: a term is renewed once."""

from datetime import date, datetime
from decimal import Decimal
from typing import Literal

from pydantic import BaseModel

from domain.calendar import TermCalendar, auto_quote_due
from domain.decisions import Decision
from domain.eligibility import window_closes
from domain.errors import Refused
from domain.models import PurchaseMethod, Subscription, Term
from domain.webhooks import EventType, WebhookEvent

AUTO_RENEWER = "auto-renew"
ELSEWHERE = "the source system"


class Owner(BaseModel):
    """Whose a subscription is: its customer, and how it was bought (R21: a term is reserved only for a
    quote of its current owner)."""

    csn: str
    purchase_method: PurchaseMethod
    partner_csn: str | None = None

    @classmethod
    def of(cls, holder: object) -> "Owner":
        """A subscription's owner, or the customer and purchase method a quote is for."""
        return cls(
            csn=holder.csn,  # type: ignore[attr-defined]
            purchase_method=holder.purchase_method,  # type: ignore[attr-defined]
            partner_csn=holder.partner_csn,  # type: ignore[attr-defined]
        )

    def __str__(self) -> str:
        how = f"through partner {self.partner_csn}" if self.partner_csn else self.purchase_method.value
        return f"customer {self.csn} ({how})"


class Reservation(BaseModel):
    """A term being paid for (R16): nobody else may renew it, and auto-renew waits."""

    holder: str
    term_end: date
    since: datetime


class TermRefusal(BaseModel):
    """Why a holder cannot have a term: the rule, the reason, who has it, and whether to try again soon."""

    rule: str
    reason: str
    holder: str | None = None
    retry_later: bool = False


# The effects a calendar's decisions ask for.
class Supersede(BaseModel):
    """Tell a pending quote it ended: its term was renewed another way (R16) or moved owner (R21)."""

    kind: Literal["supersede"] = "supersede"
    quote: str
    reason: str
    detail: str


class Announce(BaseModel):
    """A webhook with the subscription as it was when it happened."""

    kind: Literal["announce"] = "announce"
    event: EventType
    subscription: Subscription
    held_by: list[str]


class ConfirmRenewal(BaseModel):
    """The auto-renewal's email to the buyer (never repeats or undoes the renewal)."""

    kind: Literal["confirm_renewal"] = "confirm_renewal"
    subscription: Subscription
    to_end_date: date
    amount: Decimal
    promotion: str | None = None


CalendarEffect = Supersede | Announce | ConfirmRenewal
NextStep = Literal["lapse", "wait_for_payment", "auto_renew", "auto_quote", "wait"]


class Calendar(BaseModel):
    """All a calendar knows, passed whole to its next run (continue-as-new) and given at its start."""

    subscription: Subscription
    # Pending quotes, each with whether it holds auto-renew (R02, R17), and whose each is, where it said (R21).
    pending: dict[str, bool] = {}
    owners: dict[str, Owner] = {}
    # The switch's value before the first hold, to go back to when the last hold ends (R03).
    restore_to: bool | None = None
    # Raised by every change, so the store's mirror keeps only the newest.
    version: int = 0
    # Who renewed each recent term (by its end date), and on which day.
    claims: dict[str, str] = {}
    renewed_on: dict[str, date] = {}
    # This term's auto quote (R12): its number, or why it was not sent.
    auto_quote: str | None = None
    reservation: Reservation | None = None
    auto_renew_error: str | None = None
    # This run's: the window closed and the lapse is being recorded; the term closed (the next run starts).
    lapsing: bool = False
    term_closed: bool = False
    # What the last run left undone (a receiver or the mail server down): done by this one, same ids.
    undelivered: list[WebhookEvent] = []
    unconfirmed: ConfirmRenewal | None = None

    @property
    def sub(self) -> Subscription:
        return self.subscription

    @property
    def held_by(self) -> list[str]:
        """The pending quotes that hold auto-renew (R02, R17)."""
        return [number for number, hold in self.pending.items() if hold]

    def details(self, upcoming: tuple[str, datetime] | None) -> str:
        """`SUB-1001 · ends 2026-12-19 · auto-renew on · next: auto-renew 2026-12-19`: the UI row."""
        sub = self.subscription
        switch = f"held by {', '.join(self.held_by)}" if self.held_by else ("on" if sub.auto_renew else "off")
        parts = [sub.id, f"ends {sub.end_date.isoformat()}", f"auto-renew {switch}"]
        if self.reservation:
            parts.append(f"being renewed by {self.reservation.holder}")
        if self.auto_renew_error:
            parts.append(f"auto-renew failed: {self.auto_renew_error}")
        if self.auto_quote and self.auto_quote.startswith("not sent"):
            parts.append(f"auto quote {self.auto_quote}")
        if upcoming:
            parts.append(f"next: {upcoming[0]} {upcoming[1].date().isoformat()}")
        return " · ".join(parts)

    def carried(self) -> "Calendar":
        """The whole state for the next run, with the claims of the six most recent terms."""
        recent = sorted(self.claims)[-6:]
        return self.model_copy(
            update={
                "claims": {k: self.claims[k] for k in recent},
                "renewed_on": {k: self.renewed_on[k] for k in recent if k in self.renewed_on},
                "lapsing": False,
                "term_closed": False,
                "undelivered": [],
                "unconfirmed": None,
            }
        )

    # What comes next on the calendar (R01, R12, R16).

    def next_step(self, now: datetime) -> tuple[NextStep, datetime | None]:
        """What the term's calendar does now, or the moment it next has something to do."""
        dates = TermCalendar.of(self.sub.end_date)
        if now >= dates.window_closes:
            return ("wait_for_payment", None) if self.reservation else ("lapse", None)
        if now >= dates.renewal_due and self.may_auto_renew:
            return "auto_renew", None
        if self.auto_quote is None and auto_quote_due(self.sub, now, len(self.pending)):
            return "auto_quote", None
        upcoming = dates.next_after(now)
        return "wait", upcoming[1] if upcoming else None

    @property
    def may_auto_renew(self) -> bool:
        return self.sub.auto_renew and not self.held_by and self.reservation is None and self.auto_renew_error is None

    # Quotes pending on the subscription (R02, R03, R17).

    def attach(self, quote: str, hold: bool, owner: Owner | None = None) -> Decision["Calendar"]:
        """A pending quote; one that holds (R02, R17) turns auto-renew off and keeps the value before. A quote
        of a former owner (made before a load moved the subscription) is not taken: it ends (R21). While a
        payment holds the term a load may wait to be taken: another owner's quote is taken, and stays only if
        that load makes it the owner's."""
        moved = owner is not None and owner != Owner.of(self.sub) and quote not in self.pending
        if moved and self.reservation is None:
            now_owner = Owner.of(self.sub)
            detail = f"{self.sub.id} now belongs to {now_owner}"
            return Decision(
                self, [Supersede(quote=quote, reason=f"the subscription moved to {now_owner}", detail=detail)]
            )
        new = self._copy()
        if owner is not None:
            new.owners[quote] = owner
        holds = new.pending.get(quote, False) or hold
        if holds and not new.held_by:
            new.restore_to = new.sub.auto_renew
        new.pending[quote] = holds
        effects = new._keep_held()
        new._touch()
        return Decision(new, effects)

    def detach(self, quote: str) -> Decision["Calendar"]:
        """R03 (amended): once no quote holds it, auto-renew returns to its value before the first hold,
        however the quotes ended; a quote that held nothing leaves it as it is."""
        if quote not in self.pending:
            return Decision(self)
        new, effects = self._copy(), []
        held = new.pending.pop(quote)
        new.owners.pop(quote, None)
        if held and not new.held_by:
            effects += new._restore()
        new._touch()
        return Decision(new, effects)

    def set_auto_renew(self, on: bool) -> Decision["Calendar"]:
        """The buyer's switch; refused while a quote holds it (R02) or auto-renew is running."""
        if self.held_by:
            return self._refused(
                "R02", f"auto-renew of {self.sub.id} is held by quote {', '.join(self.held_by)} until it ends"
            )
        if self.reservation is not None and self.reservation.holder == AUTO_RENEWER:
            return self._refused(
                "R02", f"{self.sub.id} is being auto-renewed right now; switch it for the next term in a moment"
            )
        new = self._copy()
        effects = new._switch(on)
        new.auto_renew_error = None
        new._touch()
        return Decision(new, effects)

    # The payment saga (R16, R21): reserve, then renew or release.

    def reserve(
        self, holder: str, term_end: date, owner: Owner | None, now: datetime, hold: bool = False
    ) -> Decision["Calendar"]:
        """The term is this holder's until it renews or releases it (answer: None), or a TermRefusal. With
        `hold` (a buyer's accepted quote, R17) it also holds auto-renew in the same step, so the commitment
        holds should the payment fail; the switch itself turns off only if the term is released unrenewed
        (nothing can auto-renew a reserved term), so a payment never flaps it. A term this holder already
        renewed is granted again: its payment, retried, goes on to paid (R20)."""
        if self.claims.get(term_end.isoformat()) == holder:
            return Decision(self)
        refusal = self._refusal(holder, term_end, owner, now)
        if refusal is not None:
            return Decision(self, answer=refusal)
        taking = hold and not self.pending.get(holder)
        if self.reservation is not None and not taking:
            return Decision(self)
        new = self._copy()
        if taking:
            if not new.held_by:
                new.restore_to = new.sub.auto_renew
            new.pending[holder] = True
        if new.reservation is None:
            new.reservation = Reservation(holder=holder, term_end=term_end, since=now)
        new._touch()
        return Decision(new)

    def release(self, holder: str, term_end: date) -> Decision["Calendar"]:
        """The payment did not happen: the term is open again (and auto-renew may run, unless a quote holds
        it: then it is off from now on)."""
        if not self._reserved_for(holder, term_end):
            return Decision(self)
        new = self._copy()
        new.reservation = None
        effects = new._keep_held()
        new._touch()
        return Decision(new, effects)

    def renew(
        self,
        holder: str,
        term_end: date,
        to_end_date: date,
        seats: int,
        term: Term,
        now: datetime,
        partner_csn: str | None = None,
        currency: str | None = None,
    ) -> Decision["Calendar"]:
        """The reserved term is paid: renewed once (answer None), every other pending quote on it superseded;
        or a TermRefusal when it was not this holder's to renew. R25: with `partner_csn`, the subscription
        belongs to that partner from now on (its former owner's quotes can no longer take it, R21); with
        `currency`, it is billed in that currency."""
        if self.claims.get(term_end.isoformat()) == holder:
            return Decision(self)
        refusal = self._refusal(holder, term_end, None, now)
        if refusal is not None:  # its reservation lost (a calendar restarted from the store) and the term taken
            return Decision(self, answer=refusal)
        moved: dict[str, object] = {}
        if partner_csn:
            moved |= {"partner_csn": partner_csn, "purchase_method": PurchaseMethod.PARTNER}
        if currency:
            moved["currency"] = currency
        return self._close_term(holder, to_end_date, seats, term, now, moved)

    # Auto-renew, the window's close, the auto quote (R01, R12, R16).

    def start_auto_renew(self, now: datetime) -> Decision["Calendar"]:
        """The end date came and nothing holds the term: it is reserved while the renewal is recorded."""
        new = self._copy()
        new.reservation = Reservation(holder=AUTO_RENEWER, term_end=new.sub.end_date, since=now)
        return Decision(new)

    def auto_renewed(
        self, to_end_date: date, amount: Decimal, promotion: str | None, now: datetime
    ) -> Decision["Calendar"]:
        """Recorded at the price-book price: the term closes, the buyer is told by email."""
        sub = self.sub
        closed = self._close_term(AUTO_RENEWER, to_end_date, sub.seats, sub.term, now)
        confirm = ConfirmRenewal(subscription=sub, to_end_date=to_end_date, amount=amount, promotion=promotion)
        return Decision(closed.state, [*closed.effects, confirm])

    def auto_renew_found_elsewhere(self, stored: Subscription, now: datetime) -> Decision["Calendar"]:
        """A load had already moved the end date (R18): renewed outside this system, nothing billed."""
        new = self._copy()
        new.reservation = None
        effects = new._renewed_elsewhere(stored.end_date, now)
        # The switch as it is once the superseded quotes' holds ended (R03), not as they held it.
        new.subscription = stored.model_copy(update={"auto_renew": new.sub.auto_renew})
        effects.append(new._announce("subscription.renewed"))
        new._touch()
        return Decision(new, effects)

    def auto_renew_failed(self, reason: str) -> Decision["Calendar"]:
        """A business failure (no price): nothing claimed, the reason shown until a load or the switch retries."""
        new = self._copy()
        new.reservation = None
        new.auto_renew_error = reason
        new._touch()
        return Decision(new)

    def start_lapse(self) -> Decision["Calendar"]:
        """R01: the window closed and nothing renewed the term; no quote can reserve it from now on."""
        return Decision(self.model_copy(update={"lapsing": True}))

    def lapsed(self) -> Decision["Calendar"]:
        """The lapse is recorded: backend systems hear of it."""
        return Decision(self, [self._announce("subscription.lapsed")])

    def auto_quote_started(self) -> Decision["Calendar"]:
        """R12: one auto quote per term; its number is fixed per term, so making it twice is harmless."""
        return Decision(self.model_copy(update={"auto_quote": "being made"}))

    def auto_quote_made(self, term_end: date, outcome: str) -> Decision["Calendar"]:
        """The auto quote's number, or `not sent: why` (never retried within the term). The quote's own word
        that it could not be sent stands against the number its making answered with, whichever came first."""
        if self.sub.end_date != term_end:
            return Decision(self)
        if self.auto_quote and self.auto_quote.startswith("not sent") and not outcome.startswith("not sent"):
            return Decision(self)
        new = self._copy()
        new.auto_quote = outcome
        new._touch()
        return Decision(new)

    # A load changed the subscription's row (R18, R21).

    def source_changed(
        self, incoming: Subscription, now: datetime, switch_from_source: bool = True
    ) -> Decision["Calendar"]:
        """Adopted, but the term never rolls back (R18), nor the switch while a quote holds it. A later end
        date was renewed elsewhere; a new owner ends the old owner's quotes (R21). Taken only while no
        payment holds the term (`reservation` is None)."""
        new, effects = self._copy(), []
        own, held = self.sub, bool(self.held_by)
        if Owner.of(incoming) != Owner.of(own):
            to = Owner.of(incoming)
            effects += new._end_pending(
                None, f"the subscription moved to {to}", f"{own.id} now belongs to {to}", keep=to
            )
        elsewhere = incoming.end_date > own.end_date
        if elsewhere:
            effects += new._renewed_elsewhere(incoming.end_date, now)
        if incoming.end_date < own.end_date:
            incoming = incoming.model_copy(update={"end_date": own.end_date, "seats": own.seats, "term": own.term})
        if held or not switch_from_source:  # the row's switch is the one this system held then, not the source's
            incoming = incoming.model_copy(update={"auto_renew": new.sub.auto_renew})
        new.auto_renew_error = None
        switched = incoming.auto_renew != new.sub.auto_renew
        new.subscription = incoming
        new._touch()
        if elsewhere:
            effects.append(new._announce("subscription.renewed"))
        if switched:
            effects.append(new._announce("subscription.auto_renew_changed"))
        return Decision(new, effects)

    # The parts the decisions share; each changes `self`, a copy made by the decision.

    def _refusal(self, holder: str, term_end: date, owner: Owner | None, now: datetime) -> TermRefusal | None:
        """Why this holder cannot have the term, or None: renewed, gone, closed, someone else's, or asked
        for by a quote of a customer who no longer owns it (R21)."""
        sub, key = self.sub.id, term_end.isoformat()
        if key in self.claims:
            by, on = self.claims[key], self.renewed_on.get(key)
            reason = f"{sub} was renewed by {by}" + (f" on {on.isoformat()}" if on else "")
            return TermRefusal(rule="R16", reason=reason, holder=by)
        if term_end != self.sub.end_date:
            return TermRefusal(
                rule="R16",
                reason=f"{sub} now runs until {self.sub.end_date.isoformat()}; its term ending {key} is no longer open",
            )
        if owner is not None and owner != Owner.of(self.sub):
            return TermRefusal(
                rule="R21",
                reason=f"{sub} now belongs to {Owner.of(self.sub)}; only a quote of its current owner can renew it",
            )
        if self._reserved_for(holder, term_end):
            return None
        if self.lapsing or now >= TermCalendar.of(term_end).window_closes:
            return TermRefusal(
                rule="R01", reason=f"the renewal window of {sub} closed on {window_closes(term_end).isoformat()}"
            )
        if self.reservation is not None:
            since = self.reservation.since.date().isoformat()
            by = self.reservation.holder
            return TermRefusal(
                rule="R16", reason=f"{sub} is being renewed by {by} (since {since})", holder=by, retry_later=True
            )
        return None

    def _reserved_for(self, holder: str, term_end: date) -> bool:
        held = self.reservation
        return held is not None and held.holder == holder and held.term_end == term_end

    def _close_term(
        self, winner: str, end_date: date, seats: int, term: Term, now: datetime, moved: dict | None = None
    ) -> Decision["Calendar"]:
        new = self._copy()
        key, today = new.sub.end_date.isoformat(), now.date()
        new.claims[key] = winner
        new.renewed_on[key] = today
        new.reservation = None
        effects = new._end_pending(
            winner, f"superseded by {winner}", f"{new.sub.id} was renewed by {winner} on {today}"
        )
        changes = {"end_date": end_date, "seats": seats, "term": term, **(moved or {})}
        new.subscription = new.sub.model_copy(update=changes)
        new.auto_quote = None
        new.term_closed = True
        effects.append(new._announce("subscription.renewed"))
        new._touch()
        return Decision(new, effects)

    def _renewed_elsewhere(self, end_date: date, now: datetime) -> list[CalendarEffect]:
        """A load says the term was renewed outside this system (R18): claimed by the source system, the
        pending quotes superseded, and the next term begins."""
        key = self.sub.end_date.isoformat()
        self.claims[key] = ELSEWHERE
        self.renewed_on[key] = now.date()
        effects = self._end_pending(
            None,
            "superseded: renewed outside this system",
            f"{self.sub.id} was renewed outside this system; it now runs until {end_date.isoformat()}",
        )
        self.auto_quote = None
        self.term_closed = True
        return effects

    def _end_pending(
        self, winner: str | None, reason: str, detail: str, keep: Owner | None = None
    ) -> list[CalendarEffect]:
        """The term is renewed (or moved): the winner leaves, every other pending quote is superseded (but, on a
        move, those of the new owner, `keep`), and once none holds, auto-renew returns to its value before the
        holds (R03, amended)."""
        won_held = self.pending.pop(winner, False) if winner else False
        staying = {q: h for q, h in self.pending.items() if keep is not None and self.owners.get(q) == keep}
        losers = {q: h for q, h in self.pending.items() if q not in staying}
        self.pending = staying
        self.owners = {q: o for q, o in self.owners.items() if q in staying}
        effects: list[CalendarEffect] = []
        if (won_held or any(losers.values())) and not self.held_by:
            effects += self._restore()
        effects += [Supersede(quote=number, reason=reason, detail=detail) for number in losers]
        return effects

    def _keep_held(self) -> list[CalendarEffect]:
        """Held means off (R02, R17), except while the only holder is the payment that reserved the term."""
        paying = self.reservation is not None and self.held_by == [self.reservation.holder]
        return self._switch(False) if self.held_by and self.sub.auto_renew and not paying else []

    def _restore(self) -> list[CalendarEffect]:
        effects = self._switch(bool(self.restore_to))
        self.restore_to = None
        return effects

    def _switch(self, value: bool) -> list[CalendarEffect]:
        changed = value != self.sub.auto_renew
        self.subscription = self.sub.model_copy(update={"auto_renew": value})
        return [self._announce("subscription.auto_renew_changed")] if changed else []

    def _announce(self, event: EventType) -> Announce:
        return Announce(event=event, subscription=self.sub, held_by=self.held_by)

    def _refused(self, rule: str, message: str) -> Decision["Calendar"]:
        return Decision(self, refusal=Refused(rule, message))

    def _copy(self) -> "Calendar":
        return self.model_copy(deep=True)

    def _touch(self) -> None:
        """Every change gets a new version, so the store's mirror keeps only the newest state."""
        self.version += 1
