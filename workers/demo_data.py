"""The demo data `renewals dev` loads: dates relative to today, so the walkthrough always works.

Acme BV (EUR) buys direct and through CADpartners; Bouwbedrijf De Vries (EUR, its emails and quote PDFs
in Dutch) buys through two partners; Sakura Design KK buys in JPY and EUR. Each term, each side of the renewal
window, a success plan and a value-based purchase, promotions that apply and ones that don't.
"""

from datetime import date, timedelta

from domain.models import DataFile

ACME = "5100000001"
DE_VRIES = "5100000002"
SAKURA = "5100000003"
CADPARTNERS = "5200000001"
NIHON_CAD = "5200000002"
BIM_PARTNERS = "5200000003"  # a partner no subscription has yet: a renewal may move to it (R25)
PARTNERS = [
    {"csn": CADPARTNERS, "name": "CADpartners BV", "email": "quotes@cadpartners.example", "language": "nl"},
    {"csn": NIHON_CAD, "name": "Nihon CAD KK", "email": "sales@nihoncad.example"},
    {"csn": BIM_PARTNERS, "name": "BIM Partners", "email": "desk@bimpartners.example"},
]

# product, term, currency, unit price
PRICE_BOOK = [
    ("AutoCAD", "monthly", "EUR", "255.00"),
    ("AutoCAD", "annual", "EUR", "2030.00"),
    ("AutoCAD", "3-year", "EUR", "5481.00"),
    ("AutoCAD", "annual", "JPY", "280500"),
    ("AutoCAD", "3-year", "JPY", "757350"),
    ("Revit", "annual", "EUR", "3040.00"),
    ("Revit", "3-year", "EUR", "8208.00"),
    ("Fusion", "monthly", "EUR", "79.99"),
    ("Fusion", "annual", "EUR", "637.00"),
    ("Inventor", "annual", "EUR", "2625.00"),
    ("Civil 3D", "annual", "EUR", "2850.00"),
    ("3ds Max", "3-year", "EUR", "5216.00"),
    ("3ds Max", "annual", "EUR", "1932.00"),
    ("Navisworks", "annual", "EUR", "2960.00"),
    ("Maya", "3-year", "JPY", "708000"),
    ("Maya", "annual", "JPY", "262200"),
    ("Maya", "annual", "EUR", "1932.00"),
]


SCHMIDT = "5100000004"  # a German business with a VAT number: reverse charge (R28)
COUNTRIES = {ACME: "NL", DE_VRIES: "NL", SAKURA: "JP"}


def with_tax(data: DataFile, today: date) -> DataFile:
    """R28 on the demo data: the vendor (in the Netherlands), its dated rates, each customer's country, and a
    German business with a VAT number and one subscription. `renewals dev` loads it; most tests leave it out,
    so that their amounts stay the quotes' totals."""
    customers = [c.model_copy(update={"country": COUNTRIES[c.csn]}) for c in data.customers]
    extra = DataFile.model_validate(
        {
            "customers": [
                {
                    "csn": SCHMIDT,
                    "name": "Baufirma Schmidt GmbH",
                    "email": "einkauf@schmidt.example",
                    "address": "Friedrichstrasse 10, 10117 Berlin",
                    "country": "DE",
                    "vat_number": "DE136695976",
                }
            ],
            "subscriptions": [
                {
                    "id": "SUB-4001",
                    "csn": SCHMIDT,
                    "product": "AutoCAD",
                    "seats": 4,
                    "term": "annual",
                    "currency": "EUR",
                    "purchase_method": "direct",
                    "partner_csn": None,
                    "start_date": (today - timedelta(days=330)).isoformat(),
                    "end_date": (today + timedelta(days=35)).isoformat(),
                    "auto_renew": True,
                }
            ],
            "vendor": VENDOR,
            "tax_rates": TAX_RATES,
        }
    )
    return data.model_copy(
        update={
            "customers": [*customers, *extra.customers],
            "subscriptions": [*data.subscriptions, *extra.subscriptions],
            "vendor": extra.vendor,
            "tax_rates": extra.tax_rates,
        }
    )


VENDOR = {
    "name": "Renewals Software BV",
    "country": "NL",
    "vat_number": "NL004495445B01",
    "address": "Damrak 1, 1012 LG Amsterdam",
    "iban": "NL91ABNA0417164300",
    "bic": "ABNANL2A",
}
# The vendor's country and the EU consumers' countries it sells to; a rate change shows how dates decide.
TAX_RATES = [
    {"country": "NL", "rate": "21", "valid_from": "2012-10-01"},
    {"country": "DE", "rate": "16", "valid_from": "2020-07-01", "valid_to": "2020-12-31"},
    {"country": "DE", "rate": "19", "valid_from": "2021-01-01"},
]


def demo_data(today: date) -> DataFile:
    def day(offset: int) -> str:
        return (today + timedelta(days=offset)).isoformat()

    def sub(id, csn, product, seats, term, currency, end, *, partner=None, offering="standard", auto_renew=True):
        years = {"monthly": 0, "annual": 1, "3-year": 3}[term]
        start = today + timedelta(days=end - (30 if years == 0 else 365 * years) + 1)
        return {
            "id": id,
            "csn": csn,
            "product": product,
            "seats": seats,
            "term": term,
            "currency": currency,
            "purchase_method": "partner" if partner else "direct",
            "partner_csn": partner,
            "offering": offering,
            "start_date": start.isoformat(),
            "end_date": day(end),
            "auto_renew": auto_renew,
        }

    return DataFile.model_validate(
        {
            "customers": [
                {
                    "csn": ACME,
                    "name": "Acme BV",
                    "email": "buyer@acme.example",
                    "address": "Keizersgracht 1, 1015 CJ Amsterdam",
                },
                {
                    "csn": DE_VRIES,
                    "name": "Bouwbedrijf De Vries",
                    "email": "inkoop@devries.example",
                    "address": "Coolsingel 40, 3011 AD Rotterdam",
                    "language": "nl",
                },
                {
                    "csn": SAKURA,
                    "name": "Sakura Design KK",
                    "email": "kobai@sakura.example",
                    "address": "1-1 Marunouchi, Chiyoda-ku, Tokyo",
                },
            ],
            "subscriptions": [
                sub("SUB-1001", ACME, "AutoCAD", 5, "annual", "EUR", 20),
                sub("SUB-1002", ACME, "Revit", 3, "annual", "EUR", 45, auto_renew=False),
                sub("SUB-1003", ACME, "Fusion", 10, "monthly", "EUR", 12),
                sub("SUB-1004", ACME, "3ds Max", 2, "3-year", "EUR", 120),
                sub("SUB-1005", ACME, "Civil 3D", 4, "annual", "EUR", -60, auto_renew=False),
                sub("SUB-1006", ACME, "AutoCAD", 25, "annual", "EUR", 30, offering="success-plan"),
                sub("SUB-1007", ACME, "Inventor", 2, "annual", "EUR", -20, auto_renew=False),
                sub("SUB-1008", ACME, "AutoCAD", 3, "annual", "EUR", 40, partner=CADPARTNERS),
                sub("SUB-2001", DE_VRIES, "Revit", 8, "annual", "EUR", 25, partner=CADPARTNERS),
                sub("SUB-2002", DE_VRIES, "AutoCAD", 12, "annual", "EUR", 55, partner=CADPARTNERS),
                sub("SUB-2003", DE_VRIES, "AutoCAD", 4, "3-year", "EUR", 35, partner=NIHON_CAD),
                sub("SUB-2004", DE_VRIES, "Navisworks", 6, "annual", "EUR", 30, offering="value-based"),
                sub("SUB-3001", SAKURA, "AutoCAD", 10, "annual", "JPY", 15),
                sub("SUB-3002", SAKURA, "Maya", 2, "3-year", "JPY", 60, auto_renew=False),
                sub("SUB-3003", SAKURA, "Maya", 1, "annual", "EUR", 35),
                sub("SUB-3004", SAKURA, "AutoCAD", 5, "annual", "JPY", 50, partner=NIHON_CAD),
            ],
            "prices": price_book(),
            "partners": PARTNERS,
            "promotions": [
                {
                    "code": "RENEW10",
                    "name": "10% off renewals",
                    "percent_off": "10",
                    "amount_off": None,
                    "products": ["AutoCAD", "Revit"],
                    "terms": ["annual", "3-year"],
                    "currencies": ["EUR"],
                    "kinds": ["renewal"],
                    "starts": day(-60),
                    "ends": day(200),
                },
                {
                    "code": "REVIT3Y",
                    "name": "20% off Revit for 3 years",
                    "percent_off": "20",
                    "amount_off": None,
                    "products": ["Revit"],
                    "terms": ["3-year"],
                    "currencies": ["EUR"],
                    "kinds": ["renewal"],
                    "starts": day(-30),
                    "ends": day(90),
                },
                {
                    "code": "YEN5000",
                    "name": "JPY 5,000 off AutoCAD",
                    "percent_off": None,
                    "amount_off": "5000",
                    "products": ["AutoCAD"],
                    "terms": ["annual"],
                    "currencies": ["JPY"],
                    "kinds": ["renewal"],
                    "starts": day(-10),
                    "ends": day(120),
                },
                {
                    "code": "FUSION15",
                    "name": "15% off Fusion (ended)",
                    "percent_off": "15",
                    "amount_off": None,
                    "products": ["Fusion"],
                    "terms": ["monthly", "annual"],
                    "currencies": ["EUR"],
                    "kinds": ["renewal"],
                    "starts": day(-120),
                    "ends": day(-5),
                },
                {
                    "code": "MAYANEW",
                    "name": "25% off new Maya purchases",
                    "percent_off": "25",
                    "amount_off": None,
                    "products": ["Maya"],
                    "terms": ["annual", "3-year"],
                    "currencies": ["JPY", "EUR"],
                    "kinds": ["new"],
                    "starts": day(-30),
                    "ends": day(60),
                },
                {
                    "code": "SPRING5",
                    "name": "5% off in spring",
                    "percent_off": "5",
                    "amount_off": None,
                    "products": ["AutoCAD", "Inventor"],
                    "terms": ["annual"],
                    "currencies": ["EUR"],
                    "kinds": ["renewal"],
                    "starts": day(100),
                    "ends": day(190),
                },
            ],
        }
    )


def renewable_subscriptions(prefix: str, csn: str, count: int, today: date, ends_in: int = 20) -> list[dict]:
    """`count` annual AutoCAD subscriptions of one customer, each `ends_in` days from its end date (in its
    renewal window, auto-renew on): the load that `make bench`, the scale-out test and the fault suite drive
    (0: auto-renewal due today)."""
    return [
        {
            "id": f"{prefix}-{i:05d}",
            "csn": csn,
            "product": "AutoCAD",
            "seats": 1 + i % 5,
            "term": "annual",
            "currency": "EUR",
            "purchase_method": "direct",
            "partner_csn": None,
            "offering": "standard",
            "start_date": (today - timedelta(days=365 - ends_in)).isoformat(),
            "end_date": (today + timedelta(days=ends_in)).isoformat(),
            "auto_renew": True,
        }
        for i in range(count)
    ]


def price_book() -> list[dict]:
    return [{"product": p, "term": t, "currency": c, "unit_price": u} for p, t, c, u in PRICE_BOOK]
