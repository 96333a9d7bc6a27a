"""The six search attributes ops filter quotes by (docs/architecture.md): the one definition, from which the quote
workflow's values, the dev server's flags and the test servers' registrations all derive."""

from temporalio.api.enums.v1 import IndexedValueType
from temporalio.common import SearchAttributeKey

QUOTE_STATE = SearchAttributeKey.for_keyword("QuoteState")
CUSTOMER_CSN = SearchAttributeKey.for_keyword("CustomerCsn")
QUOTE_CURRENCY = SearchAttributeKey.for_keyword("QuoteCurrency")
QUOTE_ORIGIN = SearchAttributeKey.for_keyword("QuoteOrigin")
QUOTE_EXPIRES_AT = SearchAttributeKey.for_datetime("QuoteExpiresAt")
QUOTE_TOTAL = SearchAttributeKey.for_float("QuoteTotal")

ALL = (QUOTE_STATE, CUSTOMER_CSN, QUOTE_CURRENCY, QUOTE_ORIGIN, QUOTE_EXPIRES_AT, QUOTE_TOTAL)

# The names the `temporal` CLI and the UI use for each type.
TYPE_NAMES: dict[int, str] = {
    IndexedValueType.INDEXED_VALUE_TYPE_KEYWORD: "Keyword",
    IndexedValueType.INDEXED_VALUE_TYPE_DATETIME: "Datetime",
    IndexedValueType.INDEXED_VALUE_TYPE_DOUBLE: "Double",
}


def dev_server_flags() -> list[str]:
    """`temporal server start-dev` arguments that register them."""
    return [
        arg for key in ALL for arg in ("--search-attribute", f"{key.name}={TYPE_NAMES[int(key.indexed_value_type)]}")
    ]
