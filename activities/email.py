"""send_quote_emails (R04, R13): one message per quote, purpose and recipient, whatever the retries.

The Message-ID is derived from quote number, purpose and recipient and written as 'sending'
before the SMTP call and 'sent' after it. A retry finds 'sent' and sends nothing; after a crash
between the two it sends again with the same Message-ID, which receivers that ignore duplicate
Message-IDs (the embedded sink, Mailpit) keep once.

One activity's messages (every recipient of one quote and purpose) go over one SMTP connection.
"""

import asyncio
import hashlib
import smtplib
import ssl
import threading
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from decimal import Decimal
from email.message import EmailMessage
from email.utils import formatdate, parseaddr
from typing import Literal

from jinja2 import Environment, PackageLoader, select_autoescape
from pydantic import BaseModel, SecretStr
from temporalio import activity
from temporalio.exceptions import ApplicationError

from contracts.failures import Failure, failure
from contracts.sign_in import SignInEmailInput, SignInEmailResult
from documents import invoice_pdf, quote_pdf
from documents.i18n import Writer, translations
from documents.quote_pdf import Vendor
from documents.tax_words import TAX_NOTES
from domain.buyer_words import may_name, quotes_named, unnamed
from domain.links import LinkSigner, signed_links
from domain.quotes import Quote, QuoteState
from domain.tax import percent
from store.accounts import sign_in_email
from store.invoices import invoice_of
from store.mail import claim_message, mark_refused, mark_sent
from store.pool import Pool
from store.quotes import get_quote

# `reminder`: a sent quote not yet accepted; `pay_reminder`: an accepted, unpaid one (R22); `transfer`: how to
# pay a quote the buyer chose to pay by bank transfer (R29).
Purpose = Literal["quote", "paid", "superseded", "reminder", "pay_reminder", "transfer"]
MAIL_REFUSED = Failure.MAIL_REFUSED.value
# In a MailRefused's details: one recipient the mail server will never accept (a 5xx for the address,
# or an address it cannot take). Recorded, never retried; the other recipients still get their message.
RECIPIENT = "recipient"


REMINDERS = ("reminder", "pay_reminder")


def recipient_refused(err: ApplicationError) -> bool:
    return err.type == MAIL_REFUSED and RECIPIENT in err.details


SubscriptionPurpose = Literal["renewed"]

_templates = Environment(
    loader=PackageLoader("activities", "templates"),
    autoescape=select_autoescape(["html.j2"]),
    keep_trailing_newline=True,
)


class SendQuoteEmailInput(BaseModel):
    quote: Quote
    recipient: str
    purpose: Purpose
    days_left: int | None = None  # a reminder's: its own message, once per quote, recipient and day (R22)
    resend: int | None = None  # the quote's n-th resend: its own message, once per quote, recipient and n


class SendQuoteEmailResult(BaseModel):
    message_id: str
    sent: bool
    refused: str | None = None


class SendQuoteEmailsInput(BaseModel):
    quote: Quote
    recipients: list[str]
    purpose: Purpose
    days_left: int | None = None
    resend: int | None = None


class SendQuoteEmailsResult(BaseModel):
    sent: list[SendQuoteEmailResult]


class SmtpSettings(BaseModel):
    """Where mail goes. Production servers usually want STARTTLS and a login; the embedded sink neither."""

    host: str
    port: int
    mail_from: str
    timeout: float = 10
    starttls: bool = False
    ca_file: str | None = None
    username: str | None = None
    password: SecretStr | None = None


def message_id(quote_number: str, purpose: str, recipient: str, domain: str) -> str:
    digest = hashlib.sha256(f"{quote_number}|{purpose}|{recipient.lower()}".encode()).hexdigest()[:16]
    return f"<{quote_number}.{purpose}.{digest}@{domain}>"


def _(message: str) -> str:
    """Marks a text for the catalog (`make messages`); a `Writer`'s gettext translates it where it is used."""
    return message


SUBJECTS: dict[str, str] = {
    "quote": _("Renewal quote %(number)s: %(total)s, valid until %(expires)s"),
    "paid": _("Paid: quote %(number)s, %(total)s"),
    "superseded": _("No longer valid: quote %(number)s"),
    "reminder": _("Reminder: quote %(number)s, %(total)s, expires on %(expires)s"),
    "pay_reminder": _("Reminder to pay: quote %(number)s, %(total)s, before %(expires)s"),
    "transfer": _("Pay by bank transfer: quote %(number)s, %(total)s, before %(expires)s"),
}
# The purposes whose message carries the quote PDF: the quote, its reminders, and the paid quote with its
# payment reference for the buyer's files. A superseded quote's message does not: that document is void.
WITH_PDF: frozenset[str] = frozenset({"quote", "reminder", "pay_reminder", "paid", "transfer"})


def subject(quote: Quote, purpose: Purpose) -> str:
    """In the customer's language (`quote.language`)."""
    w = Writer(quote.language)
    return w.gettext(SUBJECTS[purpose]) % {
        "number": quote.number,
        "total": w.money(quote.amount_due, quote.currency),
        "expires": w.day(quote.expires_at),
    }


def purpose_tag(purpose: Purpose, days_left: int | None, resend: int | None = None) -> str:
    """What makes a message one of its own: a reminder's days before expiry tell -7 from -1; a resend's number
    tells the second sending from the third."""
    tag = purpose if days_left is None else f"{purpose}-{days_left}d"
    return tag if resend is None else f"{tag}-resend{resend}"


def render(
    quote: Quote,
    purpose: Purpose,
    link: str | None,
    sender: str,
    recipient: str,
    msg_id: str,
    quotes_page: str = "",
    pdf: bytes | None = None,
    vendor: Vendor | None = None,
    invoice: tuple[str, bytes] | None = None,
) -> EmailMessage:
    """The message in the customer's language, with the quote PDF attached when `pdf` is given; a quote
    awaiting a bank transfer says where to pay it (`vendor`'s account, the RF reference: R29)."""
    w = Writer(quote.language)
    catalog = translations(w.language)
    context = {
        "_": catalog.gettext,
        "ngettext": catalog.ngettext,
        "lang": w.language,
        "quote": quote,
        "purpose": purpose,
        "link": link,
        "quotes_page": quotes_page,
        "attached": quote_pdf.filename(quote) if pdf is not None else None,
        "expires": w.moment(quote.expires_at),
        "lines": [
            {
                **line.model_dump(),
                "term": line.term.value,
                "amount": w.money(line.amount or Decimal(0), quote.currency),
                "discount": w.money(line.discount, quote.currency),
                "new_end_date": w.day(line.new_end_date) if line.new_end_date else None,
            }
            for line in quote.lines
        ],
        "subtotal": w.money(quote.subtotal, quote.currency),
        "discount_total": w.money(quote.discount_total, quote.currency),
        "total": w.money(quote.total, quote.currency),
        "tax": [
            {
                "label": catalog.gettext("VAT %(rate)s%%") % {"rate": percent(t.rate)}
                + (f" ({catalog.gettext(TAX_NOTES[t.note])})" if t.note else ""),
                "amount": w.money(t.amount, quote.currency),
            }
            for t in quote.tax
        ],
        "total_due": w.money(quote.amount_due, quote.currency),
        "transfer": quote_pdf.transfer_details(quote, vendor),
    }
    message = EmailMessage()
    message["Subject"] = subject(quote, purpose)
    message["From"] = sender
    message["To"] = recipient
    message["Message-ID"] = msg_id
    message["X-Quote-Number"] = quote.number
    message.set_content(_templates.get_template("quote.txt.j2").render(context))
    message.add_alternative(_templates.get_template("quote.html.j2").render(context), subtype="html")
    if pdf is not None:
        message.add_attachment(pdf, maintype="application", subtype="pdf", filename=quote_pdf.filename(quote))
    if invoice is not None:  # R28: the paid quote's invoice, its Factur-X XML inside
        message.add_attachment(invoice[1], maintype="application", subtype="pdf", filename=invoice[0])
    message["Content-Language"] = w.language  # after the parts: setting content moves Content-* headers to them
    return message


class SmtpSession:
    """One SMTP connection for the messages of one activity: opened at the first message that is really
    sent (a retry that finds everything sent opens none), reused for the next, closed by `Mailer.session`.
    Connecting, STARTTLS and login cost more than a message; a burst of quotes sends many.

    Its calls block, so they run in threads, one at a time (the lock): a close after a cancelled activity
    waits for the message still in flight instead of cutting it."""

    def __init__(self, smtp: SmtpSettings, tls: Callable[[], ssl.SSLContext]) -> None:
        self.smtp = smtp
        self._tls = tls
        self._client: smtplib.SMTP | None = None
        self._lock = threading.Lock()
        self.used = False

    async def deliver(self, message: EmailMessage) -> None:
        self.used = True
        await asyncio.to_thread(self._deliver, message)

    def _deliver(self, message: EmailMessage) -> None:
        """A permanent refusal (5xx) is not retried; a server that is down or busy (4xx) is."""
        with self._lock:
            try:
                self._send(message)
            except smtplib.SMTPRecipientsRefused as err:
                codes = [code for code, _ in err.recipients.values()]
                if all(code >= 500 for code in codes):
                    raise failure(
                        Failure.MAIL_REFUSED,
                        f"the mail server refused {message['To']}: {err.recipients}",
                        RECIPIENT,
                    ) from None
                raise
            except smtplib.SMTPAuthenticationError as err:
                raise failure(
                    Failure.MAIL_REFUSED,
                    f"the mail server refused the login of {self.smtp.username}: {err.smtp_code}",
                ) from None
            except smtplib.SMTPNotSupportedError as err:
                # A non-ASCII address on a server without SMTPUTF8: this recipient cannot be reached here.
                raise failure(
                    Failure.MAIL_REFUSED,
                    f"the mail server cannot deliver to {message['To']}: {err}",
                    RECIPIENT,
                ) from None
            except (smtplib.SMTPSenderRefused, smtplib.SMTPDataError) as err:
                if err.smtp_code >= 500:
                    raise failure(
                        Failure.MAIL_REFUSED,
                        f"the mail server refused the message to {message['To']}: {err.smtp_code} {err.smtp_error!r}",
                    ) from None
                raise

    def _send(self, message: EmailMessage) -> None:
        """On the open connection; one the server dropped since the last message is opened again, once."""
        try:
            if self._client is not None:
                try:
                    self._client.send_message(message)
                    return
                except smtplib.SMTPServerDisconnected:
                    self._drop()
            self._client = self._open()
            self._client.send_message(message)
        except (smtplib.SMTPResponseException, smtplib.SMTPRecipientsRefused, smtplib.SMTPNotSupportedError):
            raise  # the server answered: smtplib reset the transaction (or closed the connection on a 421)
        except BaseException:
            self._drop()  # a timeout or a broken socket: the next message starts on a new connection
            raise

    def _open(self) -> smtplib.SMTP:
        client = smtplib.SMTP(self.smtp.host, self.smtp.port, timeout=self.smtp.timeout)
        try:
            if self.smtp.starttls:
                client.starttls(context=self._tls())
            if self.smtp.username:
                client.login(self.smtp.username, self.smtp.password.get_secret_value() if self.smtp.password else "")
        except BaseException:
            client.close()
            raise
        return client

    def _drop(self) -> None:
        if self._client is not None:
            self._client.close()
            self._client = None

    def close(self) -> None:
        """QUIT, politely; a server that is gone already is simply let go."""
        with self._lock:
            if self._client is None:
                return
            try:
                self._client.quit()
            except (smtplib.SMTPException, OSError):
                pass
            finally:
                self._drop()


class Mailer:
    """Sends a message at most once per Message-ID, as far as the store and the receiver can tell."""

    def __init__(self, pool: Pool, smtp: SmtpSettings) -> None:
        self.pool = pool
        self.smtp = smtp
        self._tls_context: ssl.SSLContext | None = None

    @property
    def domain(self) -> str:
        return parseaddr(self.smtp.mail_from)[1].rpartition("@")[2] or "renewals.example"

    def tls_context(self) -> ssl.SSLContext:
        """Made once per worker: loading the CA bundle costs more than a message."""
        if self._tls_context is None:
            self._tls_context = ssl.create_default_context(cafile=self.smtp.ca_file)
        return self._tls_context

    @asynccontextmanager
    async def session(self) -> AsyncIterator[SmtpSession]:
        """One connection for the messages sent inside; closed at the end, also when one of them fails."""
        session = SmtpSession(self.smtp, self.tls_context)
        try:
            yield session
        finally:
            if session.used:
                await asyncio.to_thread(session.close)

    async def send_once(
        self,
        message: EmailMessage,
        purpose: str,
        *,
        quote_number: str | None = None,
        subscription_id: str | None = None,
        session: SmtpSession | None = None,
    ) -> bool:
        """False when an earlier attempt already sent this Message-ID. Without a `session`, on a connection
        of its own."""
        msg_id = message["Message-ID"]
        if not await self._claim(msg_id, message, purpose, quote_number, subscription_id):
            return False
        if "Date" not in message:  # RFC 5322: when it left, as mail clients sort and show it
            message["Date"] = formatdate(usegmt=True)
        try:
            if session is not None:
                await session.deliver(message)
            else:
                async with self.session() as own:
                    await own.deliver(message)
        except ApplicationError as err:
            if recipient_refused(err):
                async with self.pool.connection() as conn:
                    await mark_refused(conn, msg_id, err.message)
            raise
        await self._mark_sent(msg_id)
        return True

    async def _claim(
        self, msg_id: str, message: EmailMessage, purpose: str, quote_number: str | None, subscription_id: str | None
    ) -> bool:
        """Record the key before the SMTP call."""
        async with self.pool.connection() as conn:
            return await claim_message(
                conn, msg_id, quote_number, subscription_id, message["To"], purpose, message["Subject"]
            )

    async def _mark_sent(self, msg_id: str) -> None:
        async with self.pool.connection() as conn:
            await mark_sent(conn, msg_id)


class EmailActivities:
    def __init__(
        self, mailer: Mailer, links: LinkSigner, app_url: str, bank_account: tuple[str, str] | None = None
    ) -> None:
        """`bank_account`: the vendor's IBAN and BIC, which a bank transfer's email and PDF show (R29)."""
        self.mailer = mailer
        self.links = links
        self.app_url = app_url
        self.vendor = Vendor.of(mailer.smtp.mail_from, app_url, bank_account)

    async def quote_pdf(self, quote: Quote, purpose: Purpose) -> bytes | None:
        """The PDF the message of this purpose carries (WITH_PDF), made from the quote the activity is given:
        the same document as /quotes/<number>.pdf and the API's for that quote. Made in a thread: a long
        quote takes a while, and the worker's other activities share this event loop."""
        if purpose not in WITH_PDF:
            return None
        return await asyncio.to_thread(quote_pdf.render, quote, self.vendor)

    @activity.defn
    async def send_quote_emails(self, input: SendQuoteEmailsInput) -> SendQuoteEmailsResult:
        """Every recipient's message of one purpose, in one activity. Each recipient on its own: one the mail
        server refuses for good is recorded (and shown by `renewals ops stuck`) and the others still get
        theirs; a server that is down is retried, and a retry sends only what is not sent yet."""
        sent: list[SendQuoteEmailResult] = []
        outage: Exception | None = None
        if input.purpose in REMINDERS and not await self._still_due(input.quote, input.purpose):
            activity.logger.info("quote=%s %s not sent: the quote changed since", input.quote.number, input.purpose)
            return SendQuoteEmailsResult(sent=[])
        pdf = await self.quote_pdf(input.quote, input.purpose)
        invoice = await self.invoice_document(input.quote) if input.purpose == "paid" else None
        async with self.mailer.session() as smtp:  # one connection for every recipient
            for recipient in input.recipients:
                job = SendQuoteEmailInput(
                    quote=input.quote,
                    recipient=recipient,
                    purpose=input.purpose,
                    days_left=input.days_left,
                    resend=input.resend,
                )
                try:
                    sent.append(await self.send_quote_email(job, pdf, smtp, invoice))
                except ApplicationError as err:
                    if not recipient_refused(err):
                        raise
                    sent.append(SendQuoteEmailResult(message_id="", sent=False, refused=err.message))
                except Exception as err:  # the server is down or busy: try the others, then retry
                    outage = outage or err
        if outage is not None:
            raise outage
        return SendQuoteEmailsResult(sent=sent)

    async def _still_due(self, quote: Quote, purpose: Purpose) -> bool:
        """R22: a reminder retried through a mail outage is never sent once the quote moved on (accepted,
        paid, ended, a payment being confirmed): the store's quote says so."""
        async with self.mailer.pool.connection() as conn:
            stored = await get_quote(conn, quote.number)
        if stored is None:
            return True
        wanted = QuoteState.SENT if purpose == "reminder" else QuoteState.ACCEPTED
        return stored.state is wanted and stored.payment is None

    @activity.defn
    async def send_sign_in_email(self, input: SignInEmailInput) -> SignInEmailResult:
        """The account's one-time link (R24), once per sign-in; none for a sign-in already used (the buyer
        was quicker than a retry). The link is made here from the sign-in's id, never logged."""
        async with self.mailer.pool.connection() as conn:
            found = await sign_in_email(conn, input.sign_in_id)
        if found is None:
            return SignInEmailResult(sent=False)
        email, expires_at = found
        link = f"{self.app_url.rstrip('/')}/account/sign-in/{self.links.sign_in_token(input.sign_in_id)}"
        msg_id = f"<sign-in.{input.sign_in_id}@{self.mailer.domain}>"
        message = render_sign_in(link, expires_at, self.mailer.smtp.mail_from, email, msg_id)
        sent = await self.mailer.send_once(message, "sign-in")
        activity.logger.info("sign-in email sent=%s message_id=%s", sent, msg_id)
        return SignInEmailResult(sent=sent)

    async def as_read_by(self, quote: Quote, recipient: str) -> Quote:
        """R19, R21: why a quote ended, as its recipient may read it: another customer's CSN and any quote
        not sent to this recipient too are left unnamed (domain/buyer_words.py), as on the buyer's pages."""
        reasons = {"cancel_reason": quote.cancel_reason, "superseded_because": quote.superseded_because}
        named = quotes_named(" ".join(text for text in reasons.values() if text))
        if not named and not any(reasons.values()):
            return quote
        async with self.mailer.pool.connection() as conn:
            others = {number: await get_quote(conn, number) for number in named}
        nameable = {n for n, other in others.items() if may_name(quote, other, recipient)}
        seen = {field: text and unnamed(text, quote.csn, nameable) for field, text in reasons.items()}
        return quote if seen == reasons else quote.model_copy(update=seen)

    async def invoice_document(self, quote: Quote) -> tuple[str, bytes] | None:
        """R28: the paid quote's invoice as a PDF (file name, bytes), made in a thread; None if it has none."""
        async with self.mailer.pool.connection() as conn:
            invoice = await invoice_of(conn, quote.number)
        if invoice is None:
            return None
        return invoice_pdf.filename(invoice), await asyncio.to_thread(invoice_pdf.render, invoice)

    async def send_quote_email(
        self,
        input: SendQuoteEmailInput,
        pdf: bytes | None = None,
        smtp: SmtpSession | None = None,
        invoice: tuple[str, bytes] | None = None,
    ) -> SendQuoteEmailResult:
        """One recipient's message: sent once per Message-ID. `pdf`: the quote's, when the caller made it already;
        `smtp`: the activity's connection, shared with its other recipients."""
        tag = purpose_tag(input.purpose, input.days_left, input.resend)
        msg_id = message_id(input.quote.number, tag, input.recipient, self.mailer.domain)
        link, quotes_page = signed_links(self.links, self.app_url, input.quote, input.recipient)
        if pdf is None:
            pdf = await self.quote_pdf(input.quote, input.purpose)
        quote = await self.as_read_by(input.quote, input.recipient)
        message = render(
            quote,
            input.purpose,
            link,
            self.mailer.smtp.mail_from,
            input.recipient,
            msg_id,
            quotes_page,
            pdf,
            self.vendor,
            invoice,
        )
        sent = await self.mailer.send_once(message, tag, quote_number=input.quote.number, session=smtp)
        activity.logger.info(
            "quote=%s email=%s recipient=%s sent=%s message_id=%s",
            input.quote.number,
            input.purpose,
            input.recipient,
            sent,
            msg_id,
        )
        return SendQuoteEmailResult(message_id=msg_id, sent=sent)


def render_sign_in(link: str, expires_at, sender: str, recipient: str, msg_id: str) -> EmailMessage:
    context = {"link": link, "expires": expires_at.strftime("%Y-%m-%d %H:%M UTC")}
    message = EmailMessage()
    message["Subject"] = "Your sign-in link for your renewals account"
    message["From"] = sender
    message["To"] = recipient
    message["Message-ID"] = msg_id
    message.set_content(_templates.get_template("sign_in.txt.j2").render(context))
    message.add_alternative(_templates.get_template("sign_in.html.j2").render(context), subtype="html")
    return message


def render_renewal(
    customer, sub, to_end_date, amount: str, promotion: str | None, sender: str, msg_id: str
) -> EmailMessage:
    context = {
        "customer": customer,
        "sub": {**sub.model_dump(), "term": sub.term.value},
        "to_end_date": to_end_date.isoformat(),
        "amount": amount,
        "promotion": promotion,
    }
    message = EmailMessage()
    message["Subject"] = f"Renewed: {sub.product} ({sub.id}) until {to_end_date.isoformat()}, {amount}"
    message["From"] = sender
    message["To"] = customer.email
    message["Message-ID"] = msg_id
    message.set_content(_templates.get_template("renewed.txt.j2").render(context))
    message.add_alternative(_templates.get_template("renewed.html.j2").render(context), subtype="html")
    return message
