"""No control character gets in: one check at the edge for every route, the pages' and the API's, old and new.

- A path or a query string (its names and values, once decoded) holding any control character (C0, DEL,
  C1) or a lone surrogate is refused before any route runs.
- A form field or a JSON string (and a JSON object's names) holding one is refused when the route reads its
  body: tab, line feed and carriage return are allowed in a value (a free text may have lines), nothing
  else. The body is read only when the route asks for it, so the API's key check still comes before its
  body is read, and web/security.BodyLimit still counts it.

The API answers 422 in its error shape, `{"error": {"field": ..., "message": ...}}`; a buyer page answers 400
with a page that says what to do. Nothing reaches a service, the store (whose text cannot hold a NUL) or a
workflow (where a payment method with one would be asked about again and again).
"""

import json
import unicodedata
from collections.abc import Awaitable, Callable, Iterator
from urllib.parse import parse_qsl

from starlette.datastructures import UploadFile
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.types import ASGIApp, Message, Receive, Scope, Send

# The whitespace a typed value may hold.
TEXT_WHITESPACE = frozenset("\t\n\r")
JSON_TYPES = ("application/json",)
FORM_TYPES = ("application/x-www-form-urlencoded", "multipart/form-data")


def forbidden_in_url(c: str) -> bool:
    """Any control character (C0, DEL, C1) or surrogate."""
    return unicodedata.category(c) in ("Cc", "Cs")


def forbidden_in_text(c: str) -> bool:
    """As in a URL, but a tab, line feed or carriage return may stand in a value."""
    return c not in TEXT_WHITESPACE and forbidden_in_url(c)


def first_forbidden(text: str, forbidden: Callable[[str], bool] = forbidden_in_text) -> str | None:
    return next((c for c in text if forbidden(c)), None)


class ControlCharacter(BaseException):
    """Raised from a body's receive when a field holds a control character: a BaseException, so that no body
    parser's `except Exception` turns it into something else on its way back to InputGuard."""

    def __init__(self, field: str, char: str) -> None:
        super().__init__(field, char)
        self.field = field
        self.char = char

    @property
    def message(self) -> str:
        return f"contains a control character (U+{ord(self.char):04X}); only printable text is allowed"


def url_problem(scope: Scope) -> ControlCharacter | None:
    """The path's or the query's first control character, with where it is."""
    path = scope.get("path", "")
    char = first_forbidden(path, forbidden_in_url)
    if char is not None:
        return ControlCharacter("path", char)
    query = scope.get("query_string", b"").decode("latin-1")
    char = first_forbidden(query, forbidden_in_url)
    if char is not None:  # a raw byte the server let through
        return ControlCharacter("query", char)
    for name, value in parse_qsl(query, keep_blank_values=True, errors="replace"):
        char = first_forbidden(name, forbidden_in_url)
        if char is not None:
            return ControlCharacter("query", char)
        char = first_forbidden(value, forbidden_in_url)
        if char is not None:
            return ControlCharacter(name, char)
    return None


def json_problem(value: object, where: str = "") -> ControlCharacter | None:
    """The first JSON string (or object name) holding a control character; `where` as the API says a field:
    `recipients[1]`, `seats.SUB-1001`."""
    for at, text, is_name in _json_strings(value, where):
        char = first_forbidden(text, forbidden_in_url if is_name else forbidden_in_text)
        if char is not None:
            return ControlCharacter(at or "(body)", char)
    return None


def _json_strings(value: object, where: str) -> Iterator[tuple[str, str, bool]]:
    stack: list[tuple[str, object]] = [(where, value)]
    while stack:
        at, item = stack.pop()
        if isinstance(item, str):
            yield at, item, False
        elif isinstance(item, dict):
            for name, inner in item.items():
                yield at, str(name), True
                stack.append((f"{at}.{name}" if at else str(name), inner))
        elif isinstance(item, list):
            stack.extend((f"{at}[{i}]", inner) for i, inner in enumerate(item))


async def form_problem(scope: Scope, body: bytes) -> ControlCharacter | None:
    """The first form field (or uploaded file's name) holding a control character, parsed as the route will
    parse it (Starlette's form parser). A form that does not parse is left to the route."""

    async def replay() -> Message:
        return {"type": "http.request", "body": body, "more_body": False}

    request = Request({k: v for k, v in scope.items() if k != "app"}, replay)
    try:
        form = await request.form()
    except Exception:
        return None
    try:
        for name, value in form.multi_items():
            text = (value.filename or "") if isinstance(value, UploadFile) else value
            char = first_forbidden(name, forbidden_in_url) or first_forbidden(text)
            if char is not None:
                return ControlCharacter(name, char)
        return None
    finally:
        await form.close()


def media_type(scope: Scope) -> str:
    for name, value in scope.get("headers", []):
        if name.lower() == b"content-type":
            return value.decode("latin-1").split(";")[0].strip().lower()
    return ""


async def body_problem(scope: Scope, body: bytes, api: bool) -> ControlCharacter | None:
    kind = media_type(scope)
    if kind in FORM_TYPES:
        return await form_problem(scope, body)
    # The API reads a body without a content type as JSON, as FastAPI does.
    if kind in JSON_TYPES or kind.endswith("+json") or (api and not kind):
        try:
            parsed = json.loads(body)
        except (ValueError, RecursionError):
            return None  # not JSON: the route says so
        return json_problem(parsed)
    return None


Refusal = Callable[[Request, ControlCharacter], Awaitable[Response] | Response]


def api_refusal(_request: Request, problem: ControlCharacter) -> Response:
    return JSONResponse({"error": {"field": problem.field, "message": problem.message}}, status_code=422)


class InputGuard:
    """Refuses a request with a control character in its path, query, form field or JSON string: 422 on the
    API (`api_prefix`), `page(request, problem)` elsewhere (400, web/pages.py)."""

    def __init__(self, app: ASGIApp, page: Refusal, api_prefix: str = "/api/") -> None:
        self.app, self.page, self.api_prefix = app, page, api_prefix

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        api = scope["path"].startswith(self.api_prefix)
        problem = url_problem(scope)
        if problem is not None:
            await self._refuse(scope, receive, send, api, problem)
            return
        read = False
        started = False

        async def checked() -> Message:
            """The whole body at the first read, checked; later reads are the connection's own."""
            nonlocal read
            if read:
                return await receive()
            read = True
            chunks, message = [], await receive()
            while message["type"] == "http.request":
                chunks.append(message.get("body", b""))
                if not message.get("more_body", False):
                    break
                message = await receive()
            if message["type"] != "http.request":
                return message  # the client left
            body = b"".join(chunks)
            found = await body_problem(scope, body, api)
            if found is not None:
                raise found
            return {"type": "http.request", "body": body, "more_body": False}

        async def watched(message: Message) -> None:
            nonlocal started
            started = started or message["type"] == "http.response.start"
            await send(message)

        try:
            await self.app(scope, checked, watched)
        except ControlCharacter as found:
            if started:
                raise
            await self._refuse(scope, receive, send, api, found)

    async def _refuse(self, scope: Scope, receive: Receive, send: Send, api: bool, problem: ControlCharacter) -> None:
        request = Request(scope, receive)
        answer = api_refusal(request, problem) if api else self.page(request, problem)
        response = await answer if isinstance(answer, Awaitable) else answer
        await response(scope, receive, send)
