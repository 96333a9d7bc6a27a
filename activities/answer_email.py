"""send_answer_email (R26): a buyer's answer to a quote, emailed once to the quote's maker.

The maker is sales for a sales quote; otherwise the quote's partner (the new one of a renewal that moves to
one, R25) when the data file lists its email, else sales (SALES_EMAIL, or MAIL_FROM's address). One message per quote and answer, whatever the retries: its
Message-ID is derived from both (activities/email.py's Mailer)."""

from email.message import EmailMessage
from email.utils import parseaddr

from pydantic import BaseModel
from temporalio import activity

from activities.email import Mailer, _templates, message_id
from documents.answer_words import DECLINE_REASONS
from documents.i18n import Writer, translations
from domain.models import Language
from domain.quotes import Origin, Quote
from store.catalog import get_partner


class SendAnswerEmailInput(BaseModel):
    quote: Quote
    answer: int  # 1-based: the quote's answers[answer - 1]


class SendAnswerEmailResult(BaseModel):
    recipient: str
    message_id: str
    sent: bool


def _(message: str) -> str:
    """Marks a text for the catalog (`make messages`)."""
    return message


SUBJECTS = {
    "changes_requested": _("Quote %(number)s: %(customer)s asks for changes"),
    "declined": _("Quote %(number)s: %(customer)s declines it"),
}


def render_answer(
    quote: Quote, number: int, language: Language, sender: str, recipient: str, msg_id: str, app_url: str
):
    """The maker's message, in `language`: who answered, how, and what to do next (revise or cancel)."""
    answer = quote.answers[number - 1]
    w = Writer(language)
    catalog = translations(w.language)
    context = {
        "_": catalog.gettext,
        "lang": w.language,
        "quote": quote,
        "answer": answer,
        "reason": catalog.gettext(DECLINE_REASONS[answer.reason.value]) if answer.reason else None,
        "total": w.money(quote.total, quote.currency),
        "at": w.moment(answer.at),
        "app_url": app_url.rstrip("/"),
    }
    message = EmailMessage()
    message["Subject"] = catalog.gettext(SUBJECTS[answer.kind]) % {
        "number": quote.number,
        "customer": quote.customer_name,
    }
    message["From"] = sender
    message["To"] = recipient
    message["Message-ID"] = msg_id
    message["X-Quote-Number"] = quote.number
    message.set_content(_templates.get_template("answer.txt.j2").render(context))
    message.add_alternative(_templates.get_template("answer.html.j2").render(context), subtype="html")
    message["Content-Language"] = w.language
    return message


class AnswerEmailActivities:
    def __init__(self, mailer: Mailer, sales_email: str | None, app_url: str) -> None:
        self.mailer = mailer
        self.sales_email = sales_email or parseaddr(mailer.smtp.mail_from)[1]
        self.app_url = app_url

    async def maker_of(self, quote: Quote) -> tuple[str, Language]:
        """Sales for a sales quote; else the partner of the quote, when known: the new partner of a renewal
        that moves to one (R25: it made the quote), or the subscriptions' partner."""
        csn = quote.new_partner_csn or quote.partner_csn
        if quote.origin is not Origin.SALES and csn:
            async with self.mailer.pool.connection() as conn:
                partner = await get_partner(conn, csn)
            if partner is not None:
                return str(partner.email), partner.language
        return self.sales_email, "en"

    @activity.defn
    async def send_answer_email(self, input: SendAnswerEmailInput) -> SendAnswerEmailResult:
        recipient, language = await self.maker_of(input.quote)
        msg_id = message_id(input.quote.number, f"answer-{input.answer}", recipient, self.mailer.domain)
        message = render_answer(
            input.quote, input.answer, language, self.mailer.smtp.mail_from, recipient, msg_id, self.app_url
        )
        sent = await self.mailer.send_once(message, f"answer-{input.answer}", quote_number=input.quote.number)
        activity.logger.info(
            "quote=%s answer=%d to=%s sent=%s message_id=%s", input.quote.number, input.answer, recipient, sent, msg_id
        )
        return SendAnswerEmailResult(recipient=recipient, message_id=msg_id, sent=sent)
