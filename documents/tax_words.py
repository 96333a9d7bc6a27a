"""R28: the words a 0% tax line carries on the quote, its pages, emails, PDF and invoice, marked for the catalog."""


def _(message: str) -> str:
    """Marks a text for the catalog (`make messages`); the reader's gettext translates it where it is shown."""
    return message


TAX_NOTES = {
    "reverse-charge": _("VAT reverse charge"),
    "outside-eu": _("outside the scope of EU VAT"),
}
