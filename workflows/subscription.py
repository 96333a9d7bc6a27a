"""SubscriptionWorkflow: one per subscription; it owns the auto-renew switch and its holds (R02, R03).

Quotes ask it, through activities, to hold auto-renew, to release the hold, and to claim the
renewal of a term. One workflow serialises these, so a term is claimed once.
"""

from datetime import date

from pydantic import BaseModel
from temporalio import workflow

with workflow.unsafe.imports_passed_through():
    from domain.models import Subscription, Term


class SubscriptionInput(BaseModel):
    subscription: Subscription
    held_by: list[str] = []
    restore_to: bool | None = None
    version: int = 0
    claims: dict[str, str] = {}


class AutoRenewState(BaseModel):
    subscription_id: str
    auto_renew: bool
    held_by: list[str]
    version: int
    end_date: date


class HoldInput(BaseModel):
    quote_number: str


class ReleaseInput(BaseModel):
    quote_number: str
    paid: bool = False


class ClaimRenewalInput(BaseModel):
    claimant: str
    from_end_date: date
    seats: int
    term: Term


class ClaimRenewalResult(BaseModel):
    granted: bool
    claimed_by: str | None
    from_end_date: date
    to_end_date: date | None


@workflow.defn
class SubscriptionWorkflow:
    @workflow.init
    def __init__(self, input: SubscriptionInput) -> None:
        self.sub = input.subscription
        self.held_by = list(input.held_by)
        self.restore_to = input.restore_to
        self.version = input.version
        self.claims = dict(input.claims)

    @workflow.run
    async def run(self, input: SubscriptionInput) -> None:
        await workflow.wait_condition(lambda: workflow.info().is_continue_as_new_suggested())
        await workflow.wait_condition(workflow.all_handlers_finished)
        workflow.continue_as_new(self._carry())

    @workflow.update
    def hold(self, input: HoldInput) -> AutoRenewState:
        """R02: auto-renew is off while the quote is pending; the value before is kept for R03."""
        if input.quote_number not in self.held_by:
            if not self.held_by:
                self.restore_to = self.sub.auto_renew
            self.held_by.append(input.quote_number)
            self._set_auto_renew(False)
        return self.state()

    @workflow.update
    def release(self, input: ReleaseInput) -> AutoRenewState:
        """R03: paid turns auto-renew on; expired or cancelled restores it once no quote holds it."""
        if input.quote_number in self.held_by:
            self.held_by.remove(input.quote_number)
            if input.paid:
                self.restore_to = True
            if not self.held_by:
                self._set_auto_renew(bool(self.restore_to))
                self.restore_to = None
            else:
                self.version += 1
        return self.state()

    @workflow.update
    def claim_renewal(self, input: ClaimRenewalInput) -> ClaimRenewalResult:
        """The first claimant of a term renews it; asking again gives the same answer."""
        key = input.from_end_date.isoformat()
        if key in self.claims:
            return self._claim_result(input, self.claims[key])
        if input.from_end_date != self.sub.end_date:
            return ClaimRenewalResult(
                granted=False, claimed_by=None, from_end_date=input.from_end_date, to_end_date=None
            )
        self.claims[key] = input.claimant
        self.sub = self.sub.model_copy(
            update={
                "end_date": input.term.next_end_date(self.sub.end_date),
                "seats": input.seats,
                "term": input.term,
            }
        )
        return self._claim_result(input, input.claimant)

    @workflow.query
    def state(self) -> AutoRenewState:
        return AutoRenewState(
            subscription_id=self.sub.id,
            auto_renew=self.sub.auto_renew,
            held_by=list(self.held_by),
            version=self.version,
            end_date=self.sub.end_date,
        )

    def _claim_result(self, input: ClaimRenewalInput, claimant: str) -> ClaimRenewalResult:
        return ClaimRenewalResult(
            granted=claimant == input.claimant,
            claimed_by=claimant,
            from_end_date=input.from_end_date,
            to_end_date=input.term.next_end_date(input.from_end_date) if claimant == input.claimant else None,
        )

    def _set_auto_renew(self, value: bool) -> None:
        self.sub = self.sub.model_copy(update={"auto_renew": value})
        self.version += 1

    def _carry(self) -> SubscriptionInput:
        recent = dict(sorted(self.claims.items())[-6:])
        return SubscriptionInput(
            subscription=self.sub,
            held_by=self.held_by,
            restore_to=self.restore_to,
            version=self.version,
            claims=recent,
        )
