"""A reason or a refusal as a buyer may read it (R19, R21): the domain's words name who has a term ("superseded
by Q-000123", "SUB-1001 now belongs to customer 5100000002 (direct)") for partners, sales and the API; a buyer
reads them without another customer's CSN and without the quotes it may not see."""

import re

from domain.quotes import Quote

# A quote named in a reason or a refusal ("superseded by Q-000123", "held by quote Q-000123").
QUOTE_NAMED = re.compile(r"\b(?:quote )?(Q-[0-9]+)\b")
# A subscription's owner as calendar_aggregate.Owner says it: "customer 5100000002 (direct)", "customer
# 5100000002 (through partner 5200000001)"; or a customer named alone ("belongs to customer 5100000002").
OWNER_NAMED = re.compile(r"\bcustomer ([0-9]+)(?: \((?:direct|partner|through partner [0-9]+)\))?")
ANOTHER_QUOTE = "another quote"
ANOTHER_CUSTOMER = "another customer"


def quotes_named(text: str) -> list[str]:
    """The quote numbers `text` names, each once, in order."""
    return list(dict.fromkeys(QUOTE_NAMED.findall(text)))


def unnamed(text: str, csn: str, nameable: set[str] | frozenset[str] = frozenset()) -> str:
    """`text` for a buyer of customer `csn`: any other customer is "another customer", any quote not in
    `nameable` is "another quote"."""
    text = OWNER_NAMED.sub(lambda m: m.group() if m.group(1) == csn else ANOTHER_CUSTOMER, text)
    return QUOTE_NAMED.sub(lambda m: m.group() if m.group(1) in nameable else ANOTHER_QUOTE, text)


def sent_to(quote: Quote, recipient: str) -> bool:
    """R19: a link opens only a quote its holder was sent (the buyer is sent every quote)."""
    return recipient.lower() in {r.lower() for r in quote.all_recipients}


def may_name(quote: Quote, other: Quote | None, recipient: str | None) -> bool:
    """Words about `quote` name `other` only to a reader it was sent to as well (R19), and only if it is the
    same customer's (R21); a quote the store does not know is never named."""
    if other is not None and other.number == quote.number:
        return True
    return other is not None and recipient is not None and other.csn == quote.csn and sent_to(other, recipient)
