"""SubscriptionWorkflow: one per subscription; its auto-renew switch, its pending quotes, its calendar.

Each run is one term: the window opens at -90 days, an auto quote may go out at -30 (R12),
auto-renew fires at the end date unless a pending quote holds it (R02), and the window closes
at +45 (lapsed if nothing renewed it). Quotes attach to it and detach from it, and claim the
renewal of the term; one workflow serialises all of it, so a term is renewed once (R03).
When the term is renewed, or the history grows long, it continues as new, carrying its state.
"""

from datetime import date, timedelta

from pydantic import BaseModel
from temporalio import workflow
from temporalio.exceptions import ApplicationError

with workflow.unsafe.imports_passed_through():
    from activities.calendar import (
        AutoRenewInput,
        CalendarActivities,
        CreateAutoQuoteInput,
        RecordLapseInput,
    )
    from domain.calendar import TermCalendar, auto_quote_wanted
    from domain.models import Subscription, Term

ACTIVITY_TIMEOUT = timedelta(minutes=1)


class SubscriptionInput(BaseModel):
    subscription: Subscription
    pending: dict[str, bool] = {}
    restore_to: bool | None = None
    version: int = 0
    claims: dict[str, str] = {}
    auto_quote: str | None = None


class AutoRenewState(BaseModel):
    subscription_id: str
    auto_renew: bool
    held_by: list[str]
    pending: list[str]
    version: int
    end_date: date
    next_event: str | None = None


class AttachInput(BaseModel):
    quote_number: str
    hold: bool


class DetachInput(BaseModel):
    quote_number: str
    paid: bool = False


class ClaimRenewalInput(BaseModel):
    claimant: str
    from_end_date: date
    to_end_date: date
    seats: int
    term: Term


class ClaimRenewalResult(BaseModel):
    granted: bool
    claimed_by: str | None
    from_end_date: date
    to_end_date: date | None


class SetAutoRenewInput(BaseModel):
    on: bool


class SyncInput(BaseModel):
    subscription: Subscription


@workflow.defn
class SubscriptionWorkflow:
    @workflow.init
    def __init__(self, input: SubscriptionInput) -> None:
        self.sub = input.subscription
        self.pending = dict(input.pending)
        self.restore_to = input.restore_to
        self.version = input.version
        self.claims = dict(input.claims)
        self.auto_quote = input.auto_quote
        self.renewed = False
        self.changed = False

    @workflow.run
    async def run(self, input: SubscriptionInput) -> AutoRenewState:
        while not self.renewed and not workflow.info().is_continue_as_new_suggested():
            calendar = TermCalendar.of(self.sub.end_date)
            now = workflow.now()
            if now >= calendar.window_closes:
                await workflow.execute_activity_method(
                    CalendarActivities.record_lapse,
                    RecordLapseInput(subscription_id=self.sub.id, end_date=self.sub.end_date),
                    start_to_close_timeout=ACTIVITY_TIMEOUT,
                )
                await workflow.wait_condition(workflow.all_handlers_finished)
                return self.state()
            if now >= calendar.renewal_due and self.sub.auto_renew and not self.held_by:
                await self._auto_renew()
                continue
            if calendar.auto_quote <= now < calendar.renewal_due and self.auto_quote is None:
                if auto_quote_wanted(self.sub, len(self.pending)):
                    await self._send_auto_quote()
                    continue
            upcoming = calendar.next_after(now)
            workflow.set_current_details(self._details(upcoming))
            self.changed = False
            try:
                await workflow.wait_condition(
                    lambda: self.changed or self.renewed or workflow.info().is_continue_as_new_suggested(),
                    timeout=upcoming[1] - now if upcoming else None,
                )
            except TimeoutError:
                pass
        await workflow.wait_condition(workflow.all_handlers_finished)
        workflow.continue_as_new(self._carry())

    @property
    def held_by(self) -> list[str]:
        return [number for number, hold in self.pending.items() if hold]

    @workflow.query
    def state(self) -> AutoRenewState:
        upcoming = TermCalendar.of(self.sub.end_date).next_after(workflow.now())
        return AutoRenewState(
            subscription_id=self.sub.id,
            auto_renew=self.sub.auto_renew,
            held_by=self.held_by,
            pending=list(self.pending),
            version=self.version,
            end_date=self.sub.end_date,
            next_event=f"{upcoming[0]} {upcoming[1].date().isoformat()}" if upcoming else None,
        )

    @workflow.update
    def attach(self, input: AttachInput) -> AutoRenewState:
        """A pending quote; one that holds (R02) turns auto-renew off and keeps the value before."""
        holds = self.pending.get(input.quote_number, False) or input.hold
        if holds and not self.held_by:
            self.restore_to = self.sub.auto_renew
            self._set_auto_renew(False)
        self.pending[input.quote_number] = holds
        self._touch()
        return self.state()

    @workflow.update
    def detach(self, input: DetachInput) -> AutoRenewState:
        """R03: paid turns auto-renew on; otherwise it returns to the value before, once no quote holds it."""
        if input.quote_number in self.pending:
            held = self.pending.pop(input.quote_number)
            if held and input.paid:
                self.restore_to = True
            if held and not self.held_by:
                self._set_auto_renew(bool(self.restore_to))
                self.restore_to = None
            self._touch()
        return self.state()

    @workflow.update
    def claim_renewal(self, input: ClaimRenewalInput) -> ClaimRenewalResult:
        """The first claimant of a term renews it; asking again gives the same answer."""
        key = input.from_end_date.isoformat()
        if key not in self.claims and input.from_end_date == self.sub.end_date and not self.renewed:
            self.claims[key] = input.claimant
            self._next_term(input.to_end_date, input.seats, input.term)
        claimant = self.claims.get(key)
        granted = claimant == input.claimant
        return ClaimRenewalResult(
            granted=granted,
            claimed_by=claimant,
            from_end_date=input.from_end_date,
            to_end_date=input.to_end_date if granted else None,
        )

    @workflow.update
    def set_auto_renew(self, input: SetAutoRenewInput) -> AutoRenewState:
        self._set_auto_renew(input.on)
        self._touch()
        return self.state()

    @set_auto_renew.validator
    def _validate_set_auto_renew(self, input: SetAutoRenewInput) -> None:
        if self.held_by:
            raise ApplicationError(
                f"auto-renew of {self.sub.id} is held by quote {', '.join(self.held_by)} until it ends",
                "R02",
                type="Refused",
                non_retryable=True,
            )

    @workflow.update
    def sync(self, input: SyncInput) -> AutoRenewState:
        """The store has new data for this subscription (`renewals load`): adopt it."""
        incoming = input.subscription
        if self.held_by:
            self.restore_to = incoming.auto_renew
            incoming = incoming.model_copy(update={"auto_renew": False})
        if incoming != self.sub:
            self.sub = incoming
            self._touch()
        return self.state()

    async def _auto_renew(self) -> None:
        """Renew for the same seats and term at the price-book price, unless a quote claimed the term."""
        key = self.sub.end_date.isoformat()
        self.claims[key] = "auto-renew"
        renewal = await workflow.execute_activity_method(
            CalendarActivities.auto_renew,
            AutoRenewInput(subscription=self.sub),
            start_to_close_timeout=ACTIVITY_TIMEOUT,
        )
        self._next_term(renewal.to_end_date, self.sub.seats, self.sub.term)

    async def _send_auto_quote(self) -> None:
        """R12: one auto quote per term; its number is fixed per term, so running this twice is harmless."""
        created = await workflow.execute_activity_method(
            CalendarActivities.create_auto_quote,
            CreateAutoQuoteInput(subscription_id=self.sub.id, term_end=self.sub.end_date, today=workflow.now().date()),
            start_to_close_timeout=ACTIVITY_TIMEOUT,
        )
        self.auto_quote = created.quote_number

    def _next_term(self, end_date: date, seats: int, term: Term) -> None:
        self.sub = self.sub.model_copy(update={"end_date": end_date, "seats": seats, "term": term})
        self.auto_quote = None
        self.renewed = True

    def _set_auto_renew(self, value: bool) -> None:
        self.sub = self.sub.model_copy(update={"auto_renew": value})

    def _touch(self) -> None:
        """Every change gets a new version, so the store's mirror keeps only the newest state."""
        self.version += 1
        self.changed = True

    def _details(self, upcoming) -> str:
        switch = f"held by {', '.join(self.held_by)}" if self.held_by else ("on" if self.sub.auto_renew else "off")
        parts = [self.sub.id, f"ends {self.sub.end_date.isoformat()}", f"auto-renew {switch}"]
        if upcoming:
            parts.append(f"next: {upcoming[0]} {upcoming[1].date().isoformat()}")
        return " · ".join(parts)

    def _carry(self) -> SubscriptionInput:
        return SubscriptionInput(
            subscription=self.sub,
            pending=self.pending,
            restore_to=self.restore_to,
            version=self.version,
            claims=dict(sorted(self.claims.items())[-6:]),
            auto_quote=self.auto_quote,
        )
