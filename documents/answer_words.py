"""R26: the words for a buyer's reasons to decline, shared by the quote page and the maker's email."""


def _(message: str) -> str:
    """Marks a text for the catalog (`make messages`); the reader's gettext translates it where it is shown."""
    return message


DECLINE_REASONS = {
    "price": _("The price"),
    "not-needed": _("No longer needed"),
    "other-supplier": _("Buying elsewhere"),
    "wrong-details": _("The details are wrong"),
    "other": _("Another reason"),
}
