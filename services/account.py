"""The buyer's account (R24): a one-time sign-in link by email, a session bound to one customer, and what a
buyer does there (R05, R06, R14) through the same services as the API, so every rule applies alike."""

import hashlib
import secrets
from datetime import UTC, date, datetime, timedelta
from typing import Literal

from pydantic import BaseModel
from temporalio.client import Client
from temporalio.common import WorkflowIDReusePolicy

from contracts import sign_in as contract
from contracts.sign_in import SignInEmailInput
from domain.eligibility import Eligibility, eligibility, window_closes, window_opens
from domain.errors import NotFound, Refused
from domain.grouping import RenewalGroup, renewal_groups
from domain.links import LinkRefused, LinkSigner
from domain.models import Currency, Customer, Name, Price, QuoteKind, Seats, Subscription, Term
from domain.quote_rules import NewLine, QuoteRequest
from domain.quotes import Origin, Quote, QuoteState
from services.quotes import QuoteService
from services.subscriptions import SubscriptionService
from store import accounts
from store.catalog import offers, price_book
from store.pool import Pool

SIGN_IN_VALID = timedelta(minutes=15)
SESSION_VALID = timedelta(hours=8)
KEEP_ENDED = timedelta(days=1)
# Sign-in emails to one address (in any letter case): at most this many in each period, counted and made
# atomically in the store (more asks still read "check your email", and send nothing).
SIGN_IN_EMAILS_PER_ADDRESS: tuple[tuple[timedelta, int], ...] = ((timedelta(hours=1), 5), (timedelta(days=1), 20))


class Account(BaseModel):
    """A signed-in buyer: the contact's address, the customers it is the buyer of, the one picked."""

    session: str
    email: str
    customers: list[Customer]
    csn: str | None = None

    @property
    def customer(self) -> Customer:
        if self.csn is None:
            raise NotFound("no customer picked")
        return next(c for c in self.customers if c.csn == self.csn)


class SubscriptionRow(BaseModel):
    subscription: Subscription
    eligibility: Eligibility
    held_by: list[str]
    # Why not, for the page to say in its language: "opens" or "closed" (on `on`, R01), or the offering (R10).
    why_not: str | None = None
    on: date | None = None

    @classmethod
    def of(cls, sub: Subscription, today: date, held_by: list[str]) -> "SubscriptionRow":
        found = eligibility(sub, today)
        why, on = None, None
        if found.rule == "R01":
            opens = window_opens(sub.end_date)
            why, on = ("opens", opens) if today < opens else ("closed", window_closes(sub.end_date))
        elif found.rule == "R10":
            why = sub.offering.value
        return cls(subscription=sub, eligibility=found, held_by=held_by, why_not=why, on=on)


class NewPurchase(BaseModel):
    """The account's new-purchase form (R07): one product of the price list, its term, currency and seats."""

    product: Name
    term: Term
    currency: Currency
    seats: Seats
    recipients: list[str] = []
    key: str | None = None


class QuoteLines(BaseModel):
    """What the review's form sends: the subscriptions kept, each one's term and seats, the recipients; a
    co-term quote (R07) aligns them to the latest end date instead of renewing them."""

    kind: Literal[QuoteKind.RENEWAL, QuoteKind.CO_TERM] = QuoteKind.RENEWAL
    subscription_ids: list[str]
    terms: dict[str, Term] = {}
    seats: dict[str, int] = {}
    recipients: list[str] = []
    pause_auto_renew: bool = False
    # The review form's own key: "Send quote" clicked twice (or the form sent again) makes one quote.
    key: str | None = None


def session_hash(session: str) -> str:
    return hashlib.sha256(session.encode()).hexdigest()


class AccountService:
    def __init__(
        self,
        client: Client,
        pool: Pool,
        task_queue: str,
        quotes: QuoteService,
        subscriptions: SubscriptionService,
        links: LinkSigner,
        today: date | None = None,
    ) -> None:
        self.client = client
        self.pool = pool
        self.task_queue = task_queue
        self.quotes = quotes
        self.subscriptions = subscriptions
        self.links = links
        self.today = today

    def _today(self) -> date:
        return self.today or date.today()

    async def request_sign_in(self, email: str, now: datetime | None = None) -> bool:
        """Email a one-time link if the address is a customer's buyer contact. The caller answers the same
        either way (no account enumeration); True only says whether an email was started."""
        now = now or datetime.now(UTC)
        async with self.pool.connection() as conn:
            customers = await accounts.buyer_of(conn, email)
            if not customers:
                return False
            sign_in_id = secrets.token_urlsafe(18)
            # To the address as the customer's record has it, whatever the letter case typed; made only while
            # the address is under every limit (counted and made in one locked transaction).
            limits = [(now - period, most) for period, most in SIGN_IN_EMAILS_PER_ADDRESS]
            if not await accounts.create_sign_in(
                conn, sign_in_id, customers[0].email, now, now + SIGN_IN_VALID, limits
            ):
                return False
        try:
            await self.client.start_workflow(
                contract.WORKFLOW,
                SignInEmailInput(sign_in_id=sign_in_id),
                id=contract.workflow_id(sign_in_id),
                task_queue=self.task_queue,
                id_reuse_policy=WorkflowIDReusePolicy.REJECT_DUPLICATE,
            )
        except BaseException:
            async with self.pool.connection() as conn:
                await accounts.drop_sign_in(conn, sign_in_id)
            raise
        return True

    async def sign_in(self, token: str, now: datetime | None = None) -> str:
        """The new session's cookie value for a valid link, which is used up; LinkRefused otherwise."""
        now = now or datetime.now(UTC)
        sign_in_id = self.links.verify_sign_in(token)
        async with self.pool.connection() as conn:
            email = await accounts.use_sign_in(conn, sign_in_id, now)
            if email is None:
                raise LinkRefused("this sign-in link was used already or has expired")
            customers = await accounts.buyer_of(conn, email)
            if not customers:
                raise LinkRefused("this address is no longer a customer's buyer contact")
            session = secrets.token_urlsafe(32)
            csn = customers[0].csn if len(customers) == 1 else None
            await accounts.create_session(conn, session_hash(session), email, csn, now + SESSION_VALID)
            # What stopped working a day ago is of no more use, even as a record of a replayed link.
            await accounts.purge(conn, now - KEEP_ENDED)
        return session

    async def account(self, session: str | None, now: datetime | None = None) -> Account | None:
        """The session's account, while the session lasts and its address is still a buyer contact."""
        if not session:
            return None
        async with self.pool.connection() as conn:
            row = await accounts.get_session(conn, session_hash(session), now or datetime.now(UTC))
            if row is None:
                return None
            customers = await accounts.buyer_of(conn, row.email)
        if not customers:
            return None
        csn = row.csn if any(c.csn == row.csn for c in customers) else None
        return Account(session=session, email=row.email, customers=customers, csn=csn)

    async def pick(self, account: Account, csn: str) -> None:
        if not any(c.csn == csn for c in account.customers):
            raise NotFound(f"unknown customer CSN {csn[:20]}")
        async with self.pool.connection() as conn:
            await accounts.pick_customer(conn, session_hash(account.session), csn)

    async def sign_out(self, session: str) -> None:
        async with self.pool.connection() as conn:
            await accounts.end_session(conn, session_hash(session), datetime.now(UTC))

    async def subscription_rows(self, account: Account) -> list[SubscriptionRow]:
        subs, holds = await self.subscriptions.of_customer(account.customer.csn)
        today = self._today()
        return [
            SubscriptionRow.of(s, today, holds.get(s.id, [])) for s in sorted(subs, key=lambda s: (s.end_date, s.id))
        ]

    async def groups(self, account: Account) -> list[RenewalGroup]:
        """R05, R08: the customer's eligible subscriptions, one group per CSN, currency, purchase method and
        partner."""
        subs, _ = await self.subscriptions.of_customer(account.customer.csn)
        return renewal_groups(subs, self._today())

    async def own_subscriptions(self, account: Account, ids: list[str]) -> list[Subscription]:
        """These subscriptions, each of this account's customer; another customer's id is not found."""
        subs, _ = await self.subscriptions.of_customer(account.customer.csn)
        mine = {s.id: s for s in subs}
        missing = [i for i in ids if i not in mine]
        if missing or not ids:
            raise NotFound(f"unknown subscription {', '.join(missing)[:80]}")
        return [mine[i] for i in dict.fromkeys(ids)]

    async def priced_terms(self, subs: list[Subscription]) -> dict[str, list[Term]]:
        """The terms the catalogue prices for each subscription's product in its currency (its own term
        first): the review offers only those."""
        priced: set[tuple[str, str, Term]] = set()
        async with self.pool.connection() as conn:
            for currency in {s.currency for s in subs}:
                products = [s.product for s in subs if s.currency == currency]
                prices, _ = await price_book(conn, currency, products, self._today())
                priced |= {(p.product, p.currency, p.term) for p in prices}
        return {s.id: [t for t in Term if (s.product, s.currency, t) in priced or t == s.term] for s in subs}

    async def create_quote(self, account: Account, lines: QuoteLines) -> Quote:
        """A self-service quote for one group (R05) or one subscription (R06), sent at once: created by the
        quote service as an API call would, so R01, R04 and R07-R10 refuse alike and nothing is created."""
        chosen = await self.own_subscriptions(account, lines.subscription_ids)
        if len({(s.currency, s.purchase_method, s.partner_csn) for s in chosen}) > 1:
            raise Refused("R05", "these subscriptions are in different groups; make one quote per group")
        co_term = lines.kind is QuoteKind.CO_TERM  # aligned to one end date: no term or seats of its own
        request = QuoteRequest(
            csn=account.customer.csn,
            kind=lines.kind,
            subscription_ids=[s.id for s in chosen],
            terms={} if co_term else {k: v for k, v in lines.terms.items() if k in lines.subscription_ids},
            seats={} if co_term else {k: v for k, v in lines.seats.items() if k in lines.subscription_ids},
            recipients=lines.recipients,
            origin=Origin.SELF_SERVICE,
            pause_auto_renew=lines.pause_auto_renew,
        )
        return await self.quotes.create(
            request, send=True, idempotency_key=lines.key, client=f"account:{account.customer.csn}"
        )

    async def offers(self) -> list[Price]:
        """What the account may buy new: every product, term and currency of the price list."""
        async with self.pool.connection() as conn:
            return await offers(conn)

    async def create_new_purchase(self, account: Account, purchase: NewPurchase) -> Quote:
        """A self-service new-purchase quote (R07), sent at once; the same rules and refusals as the API's."""
        request = QuoteRequest(
            csn=account.customer.csn,
            kind=QuoteKind.NEW,
            currency=purchase.currency,
            new_lines=[NewLine(product=purchase.product, seats=purchase.seats, term=purchase.term)],
            recipients=purchase.recipients,
            origin=Origin.SELF_SERVICE,
        )
        return await self.quotes.create(
            request, send=True, idempotency_key=purchase.key, client=f"account:{account.customer.csn}"
        )

    async def quotes_of(self, account: Account) -> tuple[list[Quote], list[Quote]]:
        """R14: the customer's active quotes (the buyer sees all of them, R19), and the last ended ones, the
        last to end first."""
        found = await self.quotes.find(csn=account.customer.csn)
        active = [q for q in found if q.state in (QuoteState.SENT, QuoteState.ACCEPTED)]
        return active, await self.quotes.ended(account.customer.csn)

    async def quote_of(self, account: Account, number: str) -> Quote:
        quote = await self.quotes.read(number)
        if quote.csn != account.customer.csn:
            raise NotFound(f"unknown quote {number[:40]}")
        return quote
