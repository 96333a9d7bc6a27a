"""The quote PDF (docs/walkthrough-partners.md): one A4 document per quote, in the customer's language, that
procurement can file. A pure function of the quote: the same quote gives the same bytes (the creation date
is the quote's, the file id a hash of the content), so the email's attachment, the buyer's link and the API
give one document.

fpdf2 writes it with its built-in Helvetica in Windows-1252 (€ included): no font file, no system library.
A character that encoding lacks is written without its accent, or as `?`."""

import unicodedata
from dataclasses import dataclass
from datetime import UTC, datetime
from email.utils import parseaddr

from fpdf import FPDF
from fpdf.enums import XPos, YPos
from fpdf.fonts import FontFace
from stdnum import iban

from documents.i18n import Writer
from documents.tax_words import TAX_NOTES
from domain.bank_transfer import printed
from domain.quotes import Quote, QuoteState
from domain.tax import percent

ENCODING = "windows-1252"
# A fixed date for a quote that has none yet (a draft never saved): still the same bytes every time.
NO_DATE = datetime(2000, 1, 1, tzinfo=UTC)
GREY = (82, 96, 109)
GREEN = (11, 110, 79)
# Subscription, product, seats, term, unit price, amount, promotion, discount: 180 mm, the page less margins.
WIDTHS = (22, 26, 17, 19, 26, 27, 20, 23)
ALIGN = ("LEFT", "LEFT", "RIGHT", "LEFT", "RIGHT", "RIGHT", "LEFT", "RIGHT")


def _(message: str) -> str:
    """Marks a text for the catalog (`make messages`); `Writer.gettext` translates it where it is written."""
    return message


@dataclass(frozen=True)
class Vendor:
    """Who the quote is from: the sender of the quote emails, the buyer app where it is accepted, and the
    account a bank transfer pays into (R29)."""

    name: str
    email: str
    url: str
    iban: str | None = None
    bic: str | None = None

    @classmethod
    def of(cls, mail_from: str, app_url: str, account: tuple[str, str] | None = None) -> "Vendor":
        name, address = parseaddr(mail_from)
        iban, bic = account or (None, None)
        return cls(name=name or address, email=address, url=app_url.rstrip("/"), iban=iban, bic=bic)


def transfer_details(quote: Quote, vendor: Vendor | None) -> dict[str, str] | None:
    """R29: where a quote awaiting a bank transfer is paid (the vendor's IBAN and BIC, its RF reference, as a
    bank form asks for them), or None: not awaiting one, or no account configured."""
    if vendor is None or vendor.iban is None or not quote.awaits_transfer or quote.transfer_reference is None:
        return None
    return {
        "name": vendor.name,
        "iban": iban.format(vendor.iban),
        "bic": vendor.bic or "",
        "reference": printed(quote.transfer_reference),
    }


def filename(quote: Quote) -> str:
    return f"{quote.number}.pdf"


# Latin letters Unicode does not decompose into a base letter and an accent.
LETTERS = str.maketrans({"Ł": "L", "ł": "l", "Đ": "D", "đ": "d", "Ħ": "H", "ħ": "h", "ı": "i"})


def plain(text: str) -> str:
    """The text in Windows-1252: a character it lacks loses its accent (`ș` is written `s`, `ł` `l`), or is `?`."""
    out = []
    for char in text:
        try:
            char.encode(ENCODING)
            out.append(char)
        except UnicodeEncodeError:
            base = "".join(
                c for c in unicodedata.normalize("NFKD", char.translate(LETTERS)) if not unicodedata.combining(c)
            )
            try:
                base.encode(ENCODING)
                out.append(base or "?")
            except UnicodeEncodeError:
                out.append("?")
    return "".join(out)


class Page(FPDF):
    """An A4 page of ours: Windows-1252 Helvetica (accents kept where it has them), a numbered footer."""

    def __init__(self, footer_text: str) -> None:
        super().__init__(format="A4")
        self.core_fonts_encoding = ENCODING
        self.footer_text = footer_text
        self.set_margins(15, 15, 15)
        self.set_auto_page_break(True, margin=18)

    def normalize_text(self, text: str) -> str:
        return super().normalize_text(plain(text))

    def footer(self) -> None:
        self.set_y(-12)
        self.set_font("Helvetica", size=8)
        self.set_text_color(*GREY)
        self.cell(0, 5, f"{self.footer_text} · {self.page_no()}/{{nb}}", align="C")


def render(quote: Quote, vendor: Vendor) -> bytes:
    """The quote as a PDF in its customer's language (`quote.language`)."""
    w = Writer(quote.language)
    t = w.gettext
    title = t(_("Quote %(number)s")) % {"number": quote.number}
    pdf = Page(f"{vendor.name} · {title}")
    pdf.set_creation_date(quote.created_at or quote.sent_at or NO_DATE)
    pdf.set_title(title)
    pdf.set_author(vendor.name)
    pdf.set_subject(quote.customer_name)
    pdf.set_creator("renewal-quotes")
    pdf.set_lang(w.language)
    pdf.add_page()
    _header(pdf, quote, vendor, w, title)
    _facts(pdf, quote, w)
    _lines(pdf, quote, w)
    _totals(pdf, quote, w)
    _how_to_pay(pdf, quote, vendor, w)
    return bytes(pdf.output())


def _header(pdf: FPDF, quote: Quote, vendor: Vendor, w: Writer, title: str) -> None:
    pdf.set_font("Helvetica", "B", 16)
    pdf.cell(100, 8, vendor.name)
    pdf.set_text_color(*GREEN)
    pdf.cell(0, 8, title, align="R", new_x=XPos.LMARGIN, new_y=YPos.NEXT)
    pdf.set_text_color(*GREY)
    pdf.set_font("Helvetica", size=9)
    pdf.cell(100, 5, f"{vendor.email} · {vendor.url}")
    pdf.cell(0, 5, w.gettext(quote.state.value), align="R", new_x=XPos.LMARGIN, new_y=YPos.NEXT)
    pdf.set_text_color(0, 0, 0)
    pdf.ln(6)


def _facts(pdf: FPDF, quote: Quote, w: Writer) -> None:
    """Dates and payment on the left, the customer on the right; then the recipients."""
    t = w.gettext
    left = [
        (t(_("Quote number")), quote.number),
        (t(_("Created")), w.day(quote.created_at)),
        (t(_("Sent")), w.day(quote.sent_at)),
        (t(_("Valid until")), w.moment(quote.expires_at)),
    ]
    if quote.accepted_at:
        left.append((t(_("Accepted")), w.day(quote.accepted_at)))
    if quote.state is QuoteState.PAID:
        left.append((t(_("Paid")), w.day(quote.paid_at)))
    if quote.purchase_order:
        left.append((t(_("Purchase order")), quote.purchase_order))
    if quote.payment_reference:
        left.append((t(_("Payment reference")), quote.payment_reference))
    bought = t(_("through partner %(csn)s")) % {"csn": quote.partner_csn} if quote.partner_csn else t(_("direct"))
    right = [
        (t(_("Customer")), quote.customer_name),
        (t(_("Address")), quote.address),
        (t(_("Customer number (CSN)")), quote.csn),
        (t(_("Bought")), bought),
    ]
    if quote.new_partner_csn:  # R25
        right.append((t(_("From this renewal")), t(_("through partner %(csn)s")) % {"csn": quote.new_partner_csn}))
    if quote.start_date:
        left.append((t(_("Starts")), w.day(quote.start_date)))
    top = pdf.get_y()
    _pairs(pdf, left, x=15, label_width=32, value_width=55)
    below_left = pdf.get_y()
    pdf.set_y(top)
    _pairs(pdf, right, x=105, label_width=38, value_width=52)
    pdf.set_y(max(below_left, pdf.get_y()) + 3)
    _pairs(pdf, [(t(_("Recipients")), ", ".join(quote.all_recipients))], x=15, label_width=32, value_width=148)
    pdf.ln(5)


def _pairs(pdf: FPDF, pairs: list[tuple[str, str]], *, x: float, label_width: float, value_width: float) -> None:
    for label, value in pairs:
        pdf.set_x(x)
        pdf.set_font("Helvetica", size=9)
        pdf.set_text_color(*GREY)
        pdf.cell(label_width, 5, label)
        pdf.set_text_color(0, 0, 0)
        pdf.multi_cell(value_width, 5, value, align="L", new_x=XPos.LMARGIN, new_y=YPos.NEXT)


def _lines(pdf: FPDF, quote: Quote, w: Writer) -> None:
    t = w.gettext
    headings = [
        t(_("Subscription")),
        t(_("Product")),
        t(_("Seats")),
        t(_("Term")),
        t(_("Unit price")),
        t(_("Amount")),
        t(_("Promotion")),
        t(_("Discount")),
    ]
    pdf.set_font("Helvetica", size=8.5)
    with pdf.table(
        col_widths=WIDTHS,
        text_align=ALIGN,
        borders_layout="HORIZONTAL_LINES",
        headings_style=FontFace(emphasis="BOLD", color=GREY),
        line_height=5,
        padding=(1.2, 1, 1.2, 1),
        width=180,
    ) as table:
        table.row(headings)
        for line in quote.lines:
            table.row(
                [
                    line.subscription_id or t(_("new")),
                    line.product,
                    str(line.seats),
                    t(line.term.value),
                    w.money(line.unit_price, quote.currency),
                    w.money(line.amount, quote.currency),
                    line.promotion or "",
                    f"-{w.money(line.discount, quote.currency)}" if line.promotion else "",
                ]
            )
    pdf.ln(3)


def _totals(pdf: FPDF, quote: Quote, w: Writer) -> None:
    """Subtotal, discounts, the total; with tax (R28) the total before tax, each rate's tax (a 0% one with its
    note) and the total including tax, which is what is paid."""
    t = w.gettext
    rows = [
        (t(_("Subtotal")), w.money(quote.subtotal, quote.currency), ""),
        (t(_("Discounts")), f"-{w.money(quote.discount_total, quote.currency)}", ""),
    ]
    if quote.tax:
        rows.append((t(_("Total before tax")), w.money(quote.total, quote.currency), ""))
        for tax in quote.tax:
            label = t(_("VAT %(rate)s%%")) % {"rate": percent(tax.rate)}
            if tax.note:
                label = f"{label} ({t(TAX_NOTES[tax.note])})"
            rows.append((label, w.money(tax.amount, quote.currency), ""))
        rows.append((t(_("Total including tax")), w.money(quote.amount_due, quote.currency), "B"))
    else:
        rows.append((t(_("Total")), w.money(quote.total, quote.currency), "B"))
    for label, amount, style in rows:
        pdf.set_x(95)
        pdf.set_font("Helvetica", style, 10 if style else 9)
        pdf.cell(55, 6, label)
        pdf.cell(45, 6, amount, align="R", new_x=XPos.LMARGIN, new_y=YPos.NEXT)
    if not quote.tax:
        pdf.set_x(105)
        pdf.set_font("Helvetica", size=8)
        pdf.set_text_color(*GREY)
        pdf.cell(90, 5, t(_("(tax not included)")), align="R", new_x=XPos.LMARGIN, new_y=YPos.NEXT)
        pdf.set_text_color(0, 0, 0)
    pdf.ln(6)


def _how_to_pay(pdf: FPDF, quote: Quote, vendor: Vendor, w: Writer) -> None:
    t = w.gettext
    pdf.set_font("Helvetica", "B", 11)
    heading = t(_("Payment")) if quote.state is QuoteState.PAID else t(_("How to accept and pay"))
    pdf.cell(0, 7, heading, new_x=XPos.LMARGIN, new_y=YPos.NEXT)
    pdf.set_font("Helvetica", size=9.5)
    for paragraph in how_to_pay(quote, vendor, w):
        pdf.multi_cell(0, 5, paragraph, align="L", new_x=XPos.LMARGIN, new_y=YPos.NEXT)
        pdf.ln(1.5)


def how_to_pay(quote: Quote, vendor: Vendor, w: Writer) -> list[str]:
    """What the reader does next, for the quote's state."""
    t = w.gettext
    account = f"{vendor.url}/account"
    if quote.state is QuoteState.PAID:
        return [
            t(_("Paid on %(day)s, payment reference %(reference)s."))
            % {
                "day": w.day(quote.paid_at),
                "reference": quote.payment_reference or "-",
            },
            t(_("The subscriptions on this quote are renewed; there is nothing more to do.")),
        ]
    if quote.state is QuoteState.EXPIRED:
        return [t(_("This quote has expired. Ask for a new quote."))]
    if quote.state is QuoteState.CANCELLED:
        if quote.cancel_reason:
            return [t(_("This quote is no longer valid: %(reason)s.")) % {"reason": quote.cancel_reason}]
        return [t(_("This quote was cancelled. Ask your partner or sales for a new one."))]
    if quote.payment == "pending":
        return [t(_("Your payment is being confirmed with the payment provider; please do not pay again."))]
    expires = {"expires": w.moment(quote.expires_at)}
    transfer = transfer_details(quote, vendor)
    if transfer is not None:
        return [
            t(_("This quote is accepted, to be paid by bank transfer before %(expires)s, when it expires.")) % expires,
            t(
                _(
                    "Transfer %(total)s to %(name)s, IBAN %(iban)s, BIC %(bic)s, with the payment reference %(reference)s."
                )
            )
            % {"total": w.money(quote.amount_due, quote.currency), **transfer},
            t(_("Give exactly this payment reference, so that your transfer is matched to the quote.")),
        ]
    if quote.state is QuoteState.ACCEPTED:
        first = [t(_("This quote is accepted. Pay it by card before %(expires)s, when it expires.")) % expires]
    else:  # a draft that has no expiry yet says nothing of one
        first = [t(_("Accept it before %(expires)s, when it expires.")) % expires] if quote.expires_at else []
    return [
        *first,
        t(
            _(
                "Open the link in your quote email: Accept and pay pays by card at once, Accept lets you pay later. "
                "The buyer contact (%(buyer)s) can also do this in the renewals account at %(account)s."
            )
        )
        % {"buyer": quote.buyer_email, "account": account},
        t(_("To pay by bank transfer instead, ask your partner or sales and give the quote number %(number)s."))
        % {"number": quote.number},
    ]
