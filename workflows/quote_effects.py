"""How a quote's effects (domain/quote_effects.py) run: each as one typed activity call, its failure read in
one place (contracts/failures.py) and turned into the reply the aggregate decides on. An outage is waited
out (workflows/steps.py); a step that must be done once decided (a write, a release, a refund, the renewal
after a charge) is never given up on; a business failure the aggregate has no answer for stops the quote."""

import asyncio
from collections.abc import Callable
from datetime import timedelta

from temporalio import workflow
from temporalio.exceptions import ActivityError

with workflow.unsafe.imports_passed_through():
    from activities.answer_email import AnswerEmailActivities, SendAnswerEmailInput
    from activities.email import EmailActivities, SendQuoteEmailsInput
    from activities.payments import FindPaymentInput, PaymentActivities, RefundPaymentInput, TakePaymentInput
    from activities.pricing import PriceQuoteInput, PricingActivities
    from activities.quotes import QuoteMessageActivities, QuoteStoreActivities, ReplaceOriginalInput, SaveQuoteInput
    from activities.subscriptions import (
        AttachQuoteInput,
        CreateSubscriptionInput,
        DetachQuoteInput,
        RenewTermsInput,
        SubscriptionActivities,
        TermsInput,
    )
    from contracts.failures import Failure, action_url_of, classify, message_of
    from domain.calendar_aggregate import Owner, TermRefusal
    from domain.quote_effects import (
        ANNOUNCED,
        Attach,
        Charge,
        Charged,
        Created,
        CreateSubscriptions,
        Detach,
        Email,
        Find,
        Found,
        Pause,
        Paused,
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
        TellMaker,
    )
    from domain.quotes import Quote
    from workflows.steps import OUTAGE, settled, step
    from workflows.webhooks import Announcer

CHARGE_TIMEOUT = timedelta(seconds=30)


class StepFailed(Exception):
    """A business failure the quote has no answer for (a lapsed subscription, bad data): it stops, saying
    `InvalidData: why`, and its workflow fails with that failure."""

    def __init__(self, err: ActivityError) -> None:
        self.kind = classify(err) or Failure.INVALID_DATA
        self.message = message_of(err)
        super().__init__(f"{self.kind.value}: {self.message}")


class QuoteEffects:
    """Runs one quote's effects; emails and webhooks go in the background (the outbox)."""

    def __init__(self, quote: Quote, webhooks: list[str], saved: Callable[[], None]) -> None:
        self.quote = quote  # as the last decision left it: whose number and lines the steps are for
        self.announcer = Announcer(webhooks)
        self.saved = saved  # called after each write: the search attributes follow what was written
        self.outbox: list[asyncio.Task] = []
        self.news = False  # the provider said a payment was decided: a pause before asking it again ends now
        self.written = 0  # the revision of the quote last written to the store

    @property
    def number(self) -> str:
        return self.quote.number

    async def run(self, effect: object) -> Reply | None:
        """Run one effect; an asking effect's reply comes back."""
        match effect:
            case Save():
                await self._save(effect)
            case Attach():
                await self._attach(effect)
            case Detach():
                await asyncio.gather(
                    *(
                        settled(
                            SubscriptionActivities.detach_quote,
                            DetachQuoteInput(subscription_id=s, quote_number=self.number),
                        )
                        for s in effect.subscriptions
                    )
                )
            case Release():
                await settled(
                    SubscriptionActivities.release_terms, TermsInput(quote_number=self.number, terms=effect.terms)
                )
            case Email():
                self.outbox.append(self.send_emails(effect))
            case TellMaker():
                self.outbox.append(self.tell_maker(effect))
            case Pause():
                try:
                    await workflow.wait_condition(lambda: self.news, timeout=timedelta(seconds=effect.seconds))
                except TimeoutError:
                    pass
                self.news = False
                return Paused()
            case Price():
                return await self._price(effect)
            case Reserve():
                return await self._reserve(effect)
            case Charge():
                self.news = False  # a provider's word from before this charge is about an earlier one
                return await self._charge(effect)
            case Find():
                return await self._find(effect)
            case Refund():
                result = await settled(
                    PaymentActivities.refund_payment,
                    RefundPaymentInput(quote_number=self.number, key_only=effect.key_only),
                    timeout=CHARGE_TIMEOUT,
                )
                return Refunded(refunded=result.refunded, offline=result.offline)
            case Renew():
                return await self._renew(effect)
            case CreateSubscriptions():
                return await self._create(effect)
            case ReplaceOriginal():
                return await self._replace(effect)
        return None

    async def _save(self, effect: Save) -> None:
        """One write per step, with the steps taken since the last; then the webhooks of what was written."""
        *earlier, last = effect.steps
        await settled(
            QuoteStoreActivities.save_quote,
            SaveQuoteInput(
                quote=last.quote, event=last.event, detail=effect.detail, earlier_events=[s.event for s in earlier]
            ),
        )
        self.written = max(self.written, last.quote.revision)
        self.saved()
        announced = [(f"quote.{t.event}", t.quote.json_view()) for t in effect.steps if t.event in ANNOUNCED]
        delivery = self.announcer.announce_all(announced)  # type: ignore[arg-type]
        if delivery is not None:
            self.outbox.append(delivery)

    async def _attach(self, effect: Attach) -> None:
        """Every calendar's answer is awaited before a refusal stops the quote: a detach never overtakes an
        attach still on its way (the hold it took would stay)."""
        answers = await asyncio.gather(
            *(
                step(
                    SubscriptionActivities.attach_quote,
                    AttachQuoteInput(
                        subscription_id=sub, quote_number=self.number, hold=effect.hold, owner=Owner.of(self.quote)
                    ),
                )
                for sub in effect.subscriptions
            ),
            return_exceptions=True,
        )
        for answer in answers:
            if isinstance(answer, ActivityError):
                raise StepFailed(answer) from None
            if isinstance(answer, BaseException):
                raise answer

    async def _price(self, effect: Price) -> Priced | PriceMissing:
        try:
            priced = await step(
                PricingActivities.price_quote,
                PriceQuoteInput(
                    currency=effect.currency, kind=effect.quote_kind, lines=effect.lines, on=effect.on, csn=effect.csn
                ),
            )
        except ActivityError as err:
            if classify(err) is Failure.MISSING_PRICE:
                return PriceMissing(reason=message_of(err))
            raise StepFailed(err) from None
        return Priced(
            lines=priced.lines,
            subtotal=priced.subtotal,
            discount_total=priced.discount_total,
            total=priced.total,
            tax=priced.tax,
        )

    async def _reserve(self, effect: Reserve) -> Reserved:
        try:
            reserved = await step(
                SubscriptionActivities.reserve_terms,
                TermsInput(quote_number=self.number, terms=effect.terms, owner=effect.owner, hold=effect.hold),
            )
        except ActivityError as err:  # nothing may be charged for a term not granted
            return Reserved(refused=[TermRefusal(rule="R16", reason=message_of(err))])
        return Reserved(
            refused=[
                TermRefusal(rule=r.rule or "R16", reason=r.reason or "", holder=r.holder, retry_later=r.retry_later)
                for r in reserved.refused
            ]
        )

    async def _charge(self, effect: Charge) -> Charged:
        """Only the provider's own no is "nothing was charged"; any other failure is asked for by key (R20)."""
        try:
            taken = await step(
                PaymentActivities.take_payment,
                TakePaymentInput(
                    quote_number=self.number,
                    amount=effect.amount,
                    currency=effect.currency,
                    payment_method=effect.payment_method,
                    reference=effect.reference,
                    by=effect.by,
                    quote=self.quote,
                ),
                timeout=CHARGE_TIMEOUT,
            )
        except ActivityError as err:
            kind = classify(err)
            if kind is Failure.DECLINED:
                return Charged(outcome="declined", message=message_of(err))
            if kind is Failure.CHARGE_REFUNDED:
                return Charged(outcome="refunded", message=message_of(err))
            workflow.logger.info("quote %s: the charge's outcome is not known (%s)", self.number, message_of(err))
            return Charged(outcome="unknown", message=message_of(err), action_url=action_url_of(err))
        return Charged(outcome="charged", reference=taken.reference)

    async def _find(self, effect: Find) -> Found:
        try:
            found = await step(
                PaymentActivities.find_payment,
                FindPaymentInput(
                    quote_number=self.number, amount=effect.amount, currency=effect.currency, quote=self.quote
                ),
                timeout=CHARGE_TIMEOUT,
            )
        except ActivityError as err:
            workflow.logger.warning(
                "quote %s: the provider could not say whether it charged: %s", self.number, message_of(err)
            )
            return Found(charged=None)
        return Found(charged=found.charged, reference=found.reference)

    async def _renew(self, effect: Renew) -> RenewedTerms:
        """After the charge: renewed, waited for through any outage (R20). A business failure renewed nothing
        (the store records all terms or none, and the activity retries whatever comes after): money back."""
        if not effect.renewals:
            return RenewedTerms()
        try:
            renewed = await step(
                SubscriptionActivities.renew_terms, RenewTermsInput(quote_number=self.number, renewals=effect.renewals)
            )
        except ActivityError as err:
            return RenewedTerms(not_renewed={r.subscription_id: message_of(err) for r in effect.renewals})
        return RenewedTerms(renewed=renewed.renewed, not_renewed=renewed.not_renewed)

    async def _create(self, effect: CreateSubscriptions) -> Created:
        """A paid new purchase becomes subscriptions, each id fixed by quote and line."""
        quote, created = self.quote, {}
        for line_no, line in effect.lines.items():
            result = await settled(
                SubscriptionActivities.create_subscription,
                CreateSubscriptionInput(
                    quote_number=quote.number,
                    line_no=line_no,
                    csn=quote.csn,
                    product=line.product,
                    seats=line.seats,
                    term=line.term,
                    currency=quote.currency,
                    start_date=effect.start,
                    purchase_method=quote.purchase_method,
                    partner_csn=quote.partner_csn,
                ),
            )
            created[result.subscription_id] = result.end_date
        return Created(subscriptions=created)

    async def _replace(self, effect: ReplaceOriginal) -> Replaced:
        try:
            return await step(
                QuoteMessageActivities.replace_original,
                ReplaceOriginalInput(original=effect.original, revision=self.number),
            )
        except ActivityError as err:
            return Replaced(replaced=False, reason=message_of(err))

    def send_emails(self, effect: Email) -> "asyncio.Task[object]":
        """Every recipient's email of one purpose, by one regular activity: an SMTP outage never blocks the
        buyer's next step, and the email waits for the server to come back."""
        quote = effect.quote
        return asyncio.create_task(
            workflow.execute_activity_method(
                EmailActivities.send_quote_emails,
                SendQuoteEmailsInput(
                    quote=quote,
                    recipients=quote.all_recipients if effect.to is None else effect.to,
                    purpose=effect.purpose,
                    days_left=effect.days_left,
                    resend=effect.resend,
                ),
                start_to_close_timeout=timedelta(seconds=30),
                retry_policy=OUTAGE,
            )
        )

    def tell_maker(self, effect: TellMaker) -> "asyncio.Task[object]":
        """R26: the buyer's answer to the quote's maker, by a regular activity in the background, as an email."""
        return asyncio.create_task(
            workflow.execute_activity_method(
                AnswerEmailActivities.send_answer_email,
                SendAnswerEmailInput(quote=effect.quote, answer=effect.answer),
                start_to_close_timeout=timedelta(seconds=30),
                retry_policy=OUTAGE,
            )
        )

    async def drain(self) -> None:
        await asyncio.gather(*self.outbox, return_exceptions=True)
