"""`renewals quote ...`: create, send, accept, pay, cancel, edit, show and list quotes."""

from datetime import UTC, datetime
from decimal import Decimal, InvalidOperation

import click

from contracts.quote import EditInput
from domain.errors import BadInput, Refused
from domain.links import receipt_link, signed_links
from domain.models import Term
from domain.money import format_money
from domain.quote_rules import NewLine, QuoteRequest
from domain.quotes import DeclineReason, Origin, QuoteState
from domain.revisions import Revision
from runtime.app import App
from starters import output
from starters.base import cli, json_option, with_app


def run_with_service(action):
    """Run `action(quotes)` on the application's quote service, then close it."""
    return with_app(lambda app: action(app.quotes), pool_size=2)


def pairs(values: tuple[str, ...], option: str, convert) -> dict:
    parsed = {}
    for value in values:
        key, sep, raw = value.partition("=")
        if not sep or not key:
            raise BadInput(f"{option} takes ID=VALUE, not {value!r}")
        try:
            parsed[key] = convert(raw)
        except ValueError:
            raise BadInput(f"{option} {key}: {raw!r} is not valid") from None
    return parsed


def new_line(value: str) -> NewLine:
    product, _, rest = value.rpartition(":")
    product, _, seats = product.rpartition(":")
    try:
        return NewLine(product=product, seats=int(seats), term=Term(rest))
    except ValueError:
        raise BadInput(f"--new takes PRODUCT:SEATS:TERM (e.g. Maya:2:annual), not {value!r}") from None


PRINTABLE = {
    "number": lambda quote: quote.number,
    "state": lambda quote: quote.state.value,
    "total": lambda quote: format_money(quote.total, quote.currency) if quote.total is not None else "",
}


def print_option(f):
    """`--print number`: only that field, for scripts (`Q=$(renewals quote create ... --print number)`)."""
    return click.option(
        "--print",
        "print_field",
        type=click.Choice(list(PRINTABLE)),
        expose_value=False,
        callback=lambda ctx, _param, value: ctx.meta.__setitem__("print", value),
        help="Print only this field of the quote.",
    )(f)


def show_quote(as_json: bool, quote) -> None:
    field = click.get_current_context().meta.get("print")
    if field and not as_json:
        click.echo(PRINTABLE[field](quote))
        return
    output.emit(as_json, quote.json_view(), output.quote_text(quote))


@cli.group()
def quote() -> None:
    """Renewal quotes, each one a QuoteWorkflow (id quote-<number>)."""


@quote.command()
@click.option("--csn", required=True)
@click.option("--subscription", "subscriptions", multiple=True, help="Repeat for each subscription.")
@click.option("--exclude", multiple=True, help="Leave a subscription of the group out.")
@click.option("--seats", multiple=True, metavar="ID=N", help="New seat count for a subscription.")
@click.option("--term", "terms", multiple=True, metavar="ID=TERM", help="New term: monthly, annual, 3-year.")
@click.option("--recipient", "recipients", multiple=True, help="Extra recipient (at most four, R04).")
@click.option(
    "--origin", type=click.Choice(["self-service", "partner", "sales"]), default="self-service", show_default=True
)
@click.option(
    "--kind",
    type=click.Choice(["renewal", "co-term", "new"]),
    default="renewal",
    show_default=True,
    help="Kinds do not mix in one quote (R07).",
)
@click.option(
    "--new",
    "new_lines",
    multiple=True,
    metavar="PRODUCT:SEATS:TERM",
    help="A new purchase (with --kind new and --currency).",
)
@click.option("--pause-auto-renew", is_flag=True, help="Hold auto-renew while the quote is pending (R02).")
@click.option("--address", help="Billing address, if not the customer's.")
@click.option(
    "--currency", help="Quote in another currency: partner and sales only (R25; refused in self-service, R10)."
)
@click.option(
    "--start-date",
    type=click.DateTime(["%Y-%m-%d"]),
    help="A partner's or sales' new purchase starting later, at most 90 days ahead (R25).",
)
@click.option("--new-credit-line", is_flag=True, help="Open a new credit line (refused in self-service, R10).")
@click.option("--partner", "partner_csn", metavar="CSN", help="The partner of a new purchase made through one (R08).")
@click.option(
    "--new-partner",
    "new_partner_csn",
    metavar="CSN",
    help="A partner's or sales' renewal moves its subscriptions to this partner once paid (R25).",
)
@click.option("--send", is_flag=True, help="Send the quote to its recipients at once.")
@print_option
@json_option
def create(
    csn,
    subscriptions,
    exclude,
    seats,
    terms,
    recipients,
    origin,
    kind,
    new_lines,
    pause_auto_renew,
    address,
    currency,
    start_date,
    new_credit_line,
    partner_csn,
    new_partner_csn,
    send,
    as_json,
) -> None:
    """Make a renewal quote; every rule is checked before anything is created."""
    request = QuoteRequest(
        csn=csn,
        subscription_ids=list(subscriptions),
        exclude=list(exclude),
        seats=pairs(seats, "--seats", int),
        terms=pairs(terms, "--term", Term),
        recipients=list(recipients),
        origin=origin,
        kind=kind,
        new_lines=[new_line(value) for value in new_lines],
        pause_auto_renew=pause_auto_renew,
        address=address,
        currency=currency,
        start_date=start_date.date() if start_date else None,
        new_credit_line=new_credit_line,
        partner_csn=partner_csn,
        new_partner_csn=new_partner_csn,
    )
    show_quote(as_json, run_with_service(lambda s: s.create(request, send=send)))


@quote.command()
@click.argument("number")
@print_option
@json_option
def send(number: str, as_json: bool) -> None:
    """Send a draft quote to the buyer and its recipients (R13); validity starts now (R15)."""
    show_quote(as_json, run_with_service(lambda s: s.send(number)))


@quote.command()
@click.argument("number")
@click.option("--pay", is_flag=True, help="Accept and pay, as one buyer action.")
@click.option(
    "--bank-transfer", is_flag=True, help="Accept, to be paid by bank transfer with the quote's RF reference (R29)."
)
@click.option("--reference", help="Payment reference (with --pay).")
@click.option("--po", "purchase_order", help="The buyer's purchase order number (R27): at most 35 characters.")
@print_option
@json_option
def accept(
    number: str, pay: bool, bank_transfer: bool, reference: str | None, purchase_order: str | None, as_json: bool
) -> None:
    """Accept a sent quote before it expires."""
    if pay and bank_transfer:
        raise BadInput("--pay and --bank-transfer: choose one")
    show_quote(
        as_json,
        run_with_service(
            lambda s: s.accept(
                number, pay=pay, reference=reference, bank_transfer=bank_transfer, purchase_order=purchase_order
            )
        ),
    )


@quote.command()
@click.argument("number")
@click.option("--reference", help="Payment reference; a bank transfer's is the quote's RF reference (R29).")
@click.option("--amount", help="What the bank transfer brought (default: the total including tax); another is refused.")
@print_option
@json_option
def pay(number: str, reference: str | None, amount: str | None, as_json: bool) -> None:
    """Pay an accepted quote: its subscriptions are renewed once each."""
    show_quote(as_json, run_with_service(lambda s: s.pay(number, reference, amount=_amount(amount))))


def _amount(value: str | None) -> Decimal | None:
    """`--amount 1234.56`: a plain decimal, more than zero."""
    if value is None:
        return None
    try:
        amount = Decimal(value)
    except InvalidOperation:
        raise BadInput(f"--amount: {value[:40]!r} is not an amount") from None
    if not amount.is_finite() or amount <= 0:
        raise BadInput(f"--amount: {value[:40]!r} is not an amount")
    return amount


@quote.command()
@click.argument("number")
@click.option("--request-changes", "kind", flag_value="changes_requested", help="Ask for changes (R26).")
@click.option("--decline", "kind", flag_value="declined", help="Decline, with --reason (R26).")
@click.option(
    "--reason",
    type=click.Choice([r.value for r in DeclineReason]),
    help="Why the buyer declines (with --decline).",
)
@click.option("--message", required=True, help="What should change, or why the buyer declines.")
@print_option
@json_option
def answer(number: str, kind: str | None, reason: str | None, message: str, as_json: bool) -> None:
    """As the buyer: ask for changes to a sent or accepted quote, or decline it (R26). The quote stays as it
    is; its maker (partner or sales) is emailed, and revises or cancels it."""
    if kind is None:
        raise BadInput("say how the buyer answers: --request-changes or --decline")
    show_quote(as_json, run_with_service(lambda s: s.answer(number, kind, message, reason)))


@quote.command()
@click.argument("number")
@click.option("--until", type=click.DateTime(["%Y-%m-%d"]), required=True, help="The last day it is valid (UTC).")
@print_option
@json_option
def extend(number: str, until, as_json: bool) -> None:
    """Give a sent or accepted quote more time, never past the renewal window's close (R15)."""
    show_quote(as_json, run_with_service(lambda s: s.extend(number, until.date())))


@quote.command()
@click.argument("number")
@click.option("--to", "to", multiple=True, metavar="ADDRESS", help="A recipient to send it to (repeat); default: all.")
@print_option
@json_option
def resend(number: str, to: tuple[str, ...], as_json: bool) -> None:
    """Send a sent or accepted quote's email again, to every recipient or the ones named."""
    show_quote(as_json, run_with_service(lambda s: s.resend(number, list(to))))


@quote.command()
@click.argument("number")
@click.option(
    "--origin", type=click.Choice(["partner", "sales"]), help="Who makes the clone (default: the original's)."
)
@print_option
@json_option
def clone(number: str, origin: str | None, as_json: bool) -> None:
    """A new draft from an ended quote (its lines, recipients and options), every rule checked again."""
    show_quote(as_json, run_with_service(lambda s: s.clone(number, Origin(origin) if origin else None)))


@quote.command()
@click.argument("number")
@click.option("--as", "by", type=click.Choice(["partner", "sales", "buyer"]), required=True)
@print_option
@json_option
def cancel(number: str, by: str, as_json: bool) -> None:
    """Cancel a pending quote (partner or sales only, R10)."""
    show_quote(as_json, run_with_service(lambda s: s.cancel(number, by)))


@quote.command()
@click.argument("number")
@click.option("--seats", multiple=True, metavar="ID=N")
@click.option("--term", "terms", multiple=True, metavar="ID=TERM")
@click.option("--exclude", multiple=True)
@click.option("--recipient", "recipients", multiple=True, help="Replaces the extra recipients.")
@click.option("--address")
@print_option
@json_option
def edit(number, seats, terms, exclude, recipients, address, as_json) -> None:
    """Change a draft: seats, term, lines, recipients, address (R04, R10)."""
    change = EditInput(
        seats=pairs(seats, "--seats", int),
        terms=pairs(terms, "--term", Term),
        exclude=list(exclude),
        recipients=list(recipients) if recipients else None,
        address=address,
    )
    show_quote(as_json, run_with_service(lambda s: s.edit(number, change)))


@quote.command()
@click.argument("number")
@click.option("--subscription", "subscriptions", multiple=True, help="A subscription to add to the revision.")
@click.option("--exclude", multiple=True, help="Leave a line of the original out.")
@click.option("--seats", multiple=True, metavar="ID=N", help="New seat count for a line.")
@click.option("--term", "terms", multiple=True, metavar="ID=TERM", help="New term: monthly, annual, 3-year.")
@click.option("--recipient", "recipients", multiple=True, help="Replaces the original's extra recipients (R04).")
@click.option(
    "--origin",
    type=click.Choice(["self-service", "partner", "sales"]),
    help="Who revises (default: the original's origin; a buyer cannot, R10).",
)
@click.option("--new", "new_lines", multiple=True, metavar="PRODUCT:SEATS:TERM", help="A new purchase to add.")
@click.option("--pause-auto-renew", is_flag=True, help="Hold auto-renew (a hold of the original passes on anyway).")
@click.option("--address", help="Billing address, if not the original's.")
@click.option("--start-date", type=click.DateTime(["%Y-%m-%d"]), help="Start other than the day after the end date.")
@click.option("--send", is_flag=True, help="Send the revision at once; that cancels the original.")
@print_option
@json_option
def revise(
    number,
    subscriptions,
    exclude,
    seats,
    terms,
    recipients,
    origin,
    new_lines,
    pause_auto_renew,
    address,
    start_date,
    send,
    as_json,
) -> None:
    """Revise a sent quote (R23): a new draft with its lines and recipients and these changes; sending the
    revision cancels the original, and the original's hold on auto-renew passes to it."""
    revision = Revision(
        subscription_ids=list(subscriptions),
        exclude=list(exclude),
        seats=pairs(seats, "--seats", int),
        terms=pairs(terms, "--term", Term),
        recipients=list(recipients) if recipients else None,
        origin=Origin(origin) if origin else None,
        new_lines=[new_line(value) for value in new_lines],
        pause_auto_renew=pause_auto_renew,
        address=address,
        start_date=start_date.date() if start_date else None,
    )
    show_quote(as_json, run_with_service(lambda s: s.revise(number, revision, send=send)))


@quote.command()
@click.argument("number")
@print_option
@json_option
def show(number: str, as_json: bool) -> None:
    """A quote as its workflow holds it now."""
    show_quote(as_json, run_with_service(lambda s: s.show(number)))


@quote.command(name="list")
@click.option("--csn")
@click.option("--state", type=click.Choice(["draft", "sent", "accepted", "paid", "expired", "cancelled"]))
@json_option
def list_(csn: str | None, state: str | None, as_json: bool) -> None:
    """Quotes, newest last, from the store."""
    quotes = run_with_service(lambda s: s.find(csn, state))
    output.emit(as_json, [q.json_view() for q in quotes], output.quotes_table(quotes))


@quote.command()
@click.argument("number")
@click.option("--recipient", help="The recipient the link is for (default: the buyer).")
@json_option
def link(number: str, recipient: str | None, as_json: bool) -> None:
    """The signed links a recipient opens: the quote (while it is pending; once paid, its receipt, for a day)
    and their quotes page (R19)."""

    async def show(app: App):
        return app, await app.quotes.show(number)

    app, quote = with_app(show, pool_size=1)
    recipient = recipient or quote.buyer_email
    if recipient.lower() not in {r.lower() for r in quote.all_recipients}:
        raise Refused(
            "R19", f"{recipient} is not a recipient of quote {number}; a link opens only a quote its holder was sent"
        )
    quote_link, quotes_page = signed_links(app.links, app.settings.buyer_app_url, quote, recipient)
    if quote.state is QuoteState.PAID:  # its receipt, for a day; the quotes page makes new ones (R14)
        quote_link = receipt_link(app.links, app.settings.buyer_app_url, quote, recipient, datetime.now(UTC))
    output.emit(
        as_json,
        {"quote": quote_link, "quotes_page": quotes_page},
        f"{quote_link or f'(none: quote {number} is {quote.state.value})'}\n{quotes_page}",
    )
