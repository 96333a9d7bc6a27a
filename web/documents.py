"""The quote PDF on the web (documents/quote_pdf.py), the same document the quote email carries:

- `/quotes/<number>.pdf?token=...` for the holder of a quote link, answered as the quote's page is (R19,
  `pages.open_quote`): a link that may not open the page may not open the PDF either (403), an unknown quote
  is a 404, and a quote that ended without being paid (expired, cancelled, superseded) is the page's 410
  saying how it ended, in the customer's language; a paid one's PDF opens as its receipt does.
- `GET /api/v1/quotes/{number}/pdf` for a backend system, with the API's keys (a `read` key may fetch it).
"""

from fastapi import APIRouter, Depends, Request
from fastapi.responses import Response
from starlette.concurrency import run_in_threadpool

from documents import invoice_pdf, quote_pdf
from documents.quote_pdf import Vendor
from domain.invoices import Invoice
from domain.links import LinkRefused
from domain.quotes import Quote, QuoteState
from runtime.settings import Settings
from services.invoices import InvoiceService
from web import pages
from web.api import ERRORS, authorized
from web.deps import Application, Quotes, Signer

MEDIA_TYPE = "application/pdf"


class PdfResponse(Response):
    media_type = MEDIA_TYPE


def vendor_of(settings: Settings) -> Vendor:
    """Who the PDF is from: the quote emails' sender, and the buyer app the quotes are accepted in."""
    return Vendor.of(settings.mail_from, settings.buyer_app_url, settings.bank_account())


# What `create_app` uses when it is given no vendor: the settings' defaults (a test's app, as its worker's).
DEFAULT_VENDOR = Vendor.of(
    str(Settings.model_fields["mail_from"].default),
    str(Settings.model_fields["buyer_app_url"].default),
    (str(Settings.model_fields["vendor_iban"].default), str(Settings.model_fields["vendor_bic"].default)),
)


async def pdf_response(quote: Quote, vendor: Vendor) -> PdfResponse:
    """Rendered in a thread: a long quote takes a while, and the app serves everyone from one event loop."""
    body = await run_in_threadpool(quote_pdf.render, quote, vendor)
    return PdfResponse(body, headers={"content-disposition": f'inline; filename="{quote_pdf.filename(quote)}"'})


router = APIRouter(include_in_schema=False)


@router.get("/quotes/{number}.pdf", response_class=PdfResponse)
async def quote_document(request: Request, number: str, quotes: Quotes, signer: Signer, token: str = "") -> Response:
    try:
        quote = await pages.open_quote(request, quotes, signer, number, token)
    except LinkRefused as err:
        return pages.forbidden(request, str(err))
    if quote.state.terminal and quote.state is not QuoteState.PAID:
        return pages.ended(request, quote, 410, token)
    return await pdf_response(quote, request.app.state.vendor)


@router.get("/quotes/{number}/invoice.pdf", response_class=PdfResponse)
async def invoice_document(request: Request, number: str, quotes: Quotes, signer: Signer, token: str = "") -> Response:
    """R28: a paid quote's invoice (with its Factur-X XML), under the quote link's rules (R19)."""
    try:
        quote = await pages.open_quote(request, quotes, signer, number, token)
    except LinkRefused as err:
        return pages.forbidden(request, str(err))
    invoice = await InvoiceService(quotes.pool).of_quote(quote.number) if quote.state is QuoteState.PAID else None
    if invoice is None:
        text = pages.tr(request, NO_INVOICE)
        return pages.message(request, 404, pages.tr(request, NO_INVOICE_TITLE), text)
    return await invoice_response(invoice)


async def invoice_response(invoice: Invoice) -> PdfResponse:
    body = await run_in_threadpool(invoice_pdf.render, invoice)
    return PdfResponse(body, headers={"content-disposition": f'inline; filename="{invoice_pdf.filename(invoice)}"'})


def _(message: str) -> str:
    """Marks a text for the catalog; the page translates it when it shows it."""
    return message


NO_INVOICE_TITLE = _("No invoice yet")
NO_INVOICE = _("A quote gets its invoice once it is paid.")


PDF = {"description": "The quote PDF", "content": {MEDIA_TYPE: {"schema": {"type": "string", "format": "binary"}}}}
# The API's errors, each declared as JSON: with a `model`, FastAPI would document them in the route's PDF type.
JSON_ERRORS: dict[int | str, dict] = {
    status: {
        "description": error["description"],
        "content": {"application/json": {"schema": {"$ref": "#/components/schemas/ErrorBody"}}},
        **({"headers": error["headers"]} if "headers" in error else {}),
    }
    for status, error in ERRORS.items()
}
api_router = APIRouter(dependencies=[Depends(authorized)])


@api_router.get("/quotes/{number}/pdf", response_class=PdfResponse, responses={200: PDF, **JSON_ERRORS})
async def api_quote_document(number: str, app: Application) -> Response:
    """The quote as a PDF in its customer's language: the document its emails carry."""
    return await pdf_response(await app.quotes.read(number), vendor_of(app.settings))
