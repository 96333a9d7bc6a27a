"""The two ways a request is turned down, both shown to the caller with exit status 2."""


class Refused(Exception):
    """A request that a numbered rule of docs/rules.md forbids."""

    def __init__(self, rule: str, message: str) -> None:
        super().__init__(f"refused ({rule}): {message}")
        self.rule = rule
        self.message = message


class BadInput(Exception):
    """A request that no rule forbids but that cannot be carried out as given."""

    def __init__(self, message: str, details: list[str] | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.details = details or []


class PaymentDeclined(Refused):
    """R16: the charge failed (declined, or the provider could not be reached); nothing was charged,
    the quote stays accepted, and the buyer may try again."""

    def __init__(self, message: str) -> None:
        super().__init__("R16", message)


class NotFound(BadInput):
    """An unknown quote, subscription or customer (HTTP 404; exit status 2 like any bad input)."""


class KeyReused(Exception):
    """An Idempotency-Key sent again with another request body (HTTP 409)."""


class Stopped(Exception):
    """A quote (or calendar) that cannot go on: not a refusal of the request but a failure of the system
    (see `renewals ops stuck`). The API answers 503, the command line exits 1."""

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message
