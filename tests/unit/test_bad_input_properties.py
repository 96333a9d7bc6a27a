"""Thousands of malformed data files and quote requests, generated (Hypothesis), in process: each is
loaded or refused with a field or a rule, never an unhandled exception, and a refusal writes nothing."""

import asyncio
import json
from datetime import UTC, date, datetime
from pathlib import Path

import psycopg
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from pydantic import ValidationError

from domain.errors import BadInput, Refused
from domain.models import QuoteKind
from domain.pricing import MissingPrice, price_lines
from domain.quote_rules import QuoteRequest, build_quote
from starters.quote_cli import new_line, pairs
from store.loader import load, parse_data_file, read_data_file
from workers.demo_data import demo_data

TODAY = date(2026, 11, 26)
NOW = datetime(2026, 11, 26, 12, tzinfo=UTC)
DEMO = demo_data(TODAY)
# A small file of each kind of record, to mutate.
BASE = {
    "customers": [c.model_dump(mode="json") for c in DEMO.customers[:1]],
    "subscriptions": [s.model_dump(mode="json") for s in DEMO.subscriptions[:2]],
    "prices": [p.model_dump(mode="json") for p in DEMO.prices[:2]],
    "promotions": [p.model_dump(mode="json") for p in DEMO.promotions[:1]],
}
MANY = settings(
    max_examples=1000,
    deadline=None,
    derandomize=True,
    database=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)

nasty_text = st.one_of(
    st.text(max_size=40),
    st.text(alphabet=st.characters(max_codepoint=0x1F), min_size=1, max_size=5),
    st.sampled_from(
        [
            "",
            " ",
            "\x00",
            "A\u0000B",
            "x" * 600,
            "9" * 40,
            "1e30",
            "-1",
            "NaN",
            "Infinity",
            "0.00001",
            "2026-02-30",
            "2026-13-01",
            "SUB 1",
            "ÄÖÜ",
            "\ud7ff",
            "🙂" * 60,
            "EURO",
            "eur",
        ]
    ),
)
nasty_value = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(min_value=-(2**80), max_value=2**80),
    st.floats(allow_nan=True, allow_infinity=True),
    nasty_text,
    st.lists(st.one_of(st.integers(), nasty_text), max_size=3),
    st.dictionaries(nasty_text, st.integers(), max_size=2),
)


printable = st.text(alphabet=st.characters(min_codepoint=32, exclude_categories=("Cs", "Cc")), min_size=1, max_size=200)
# Values at the very edge of what is allowed: these must load, and the store must take them.
extreme_value = {
    "seats": st.sampled_from([1, 1_000_000]),
    "unit_price": st.sampled_from(["0", "100000000", "99999999.9999", "0.0001"]),
    "amount_off": st.sampled_from(["0.0001", "100000000"]),
    "percent_off": st.sampled_from(["0.01", "100"]),
    "name": printable,
    "product": printable,
    "address": st.text(
        alphabet=st.characters(min_codepoint=32, exclude_categories=("Cs", "Cc")), min_size=1, max_size=500
    ),
}


@st.composite
def malformed_files(draw) -> bytes:
    doc = json.loads(json.dumps(BASE))
    if draw(st.integers(min_value=0, max_value=3)) == 0:
        # Valid at the edges: every bounded field set to a value at its bound.
        for table in doc.values():
            for record in table:
                for field in sorted(set(record) & set(extreme_value)):
                    if record[field] is not None:
                        record[field] = draw(extreme_value[field])
        return json.dumps(doc, ensure_ascii=draw(st.booleans())).encode()
    for _ in range(draw(st.integers(min_value=1, max_value=3))):
        table = draw(st.sampled_from(sorted(doc)))
        if not doc[table]:
            continue
        record = doc[table][draw(st.integers(min_value=0, max_value=len(doc[table]) - 1))]
        field = draw(st.sampled_from(sorted(record)))
        action = draw(st.sampled_from(["replace", "replace", "extreme", "extreme", "delete", "extra"]))
        if action == "extreme" and field in extreme_value:
            record[field] = draw(extreme_value[field])
        elif action in ("replace", "extreme"):
            record[field] = draw(nasty_value)
        elif action == "delete":
            del record[field]
        else:
            record[draw(nasty_text)] = draw(nasty_value)
    whole = draw(st.sampled_from(["object", "object", "object", "object", "other", "bytes", "truncated"]))
    if whole == "other":
        return json.dumps(draw(nasty_value)).encode()
    text = json.dumps(doc, ensure_ascii=draw(st.booleans())).encode()
    if whole == "bytes":
        at = draw(st.integers(min_value=0, max_value=len(text)))
        return text[:at] + draw(st.binary(min_size=1, max_size=4)) + text[at:]
    if whole == "truncated":
        return text[: draw(st.integers(min_value=0, max_value=len(text) - 1))]
    return text


def names_a_place(err: BadInput) -> bool:
    """A refusal of a file says where: the record and field, or what is wrong with the file as a whole."""
    if err.details:
        return all(d.split(": ", 1)[0] and ": " in d for d in err.details)
    return any(s in err.message for s in ("not valid JSON", "not UTF-8", "holds a JSON", "duplicate"))


@pytest.fixture
def loop():
    loop = asyncio.new_event_loop()
    yield loop
    loop.close()


def test_bad_files_refused_naming_the_place_and_nothing_written(tmp_path: Path, database_url: str, loop) -> None:
    counts = {"loaded": 0, "refused": 0}
    conn = loop.run_until_complete(psycopg.AsyncConnection.connect(database_url))

    async def load_then_roll_back(data) -> None:
        async with conn.transaction(force_rollback=True):
            await load(conn, data)

    async def rows() -> int:
        cur = await conn.execute(
            "SELECT (SELECT count(*) FROM customers) + (SELECT count(*) FROM subscriptions)"
            " + (SELECT count(*) FROM prices) + (SELECT count(*) FROM promotions)"
        )
        return (await cur.fetchone())[0]

    @MANY
    @given(malformed_files())
    def check(content: bytes) -> None:
        path = tmp_path / "file.json"
        path.write_bytes(content)
        try:
            data = read_data_file(path)
        except BadInput as err:
            assert names_a_place(err), (err.message, err.details)
            counts["refused"] += 1
            return
        try:
            loop.run_until_complete(load_then_roll_back(data))
            counts["loaded"] += 1
        except BadInput as err:
            assert names_a_place(err), (err.message, err.details)
            counts["refused"] += 1
        assert loop.run_until_complete(rows()) == 0

    try:
        check()
    finally:
        loop.run_until_complete(conn.close())
    assert counts["refused"] + counts["loaded"] >= 1000 and counts["refused"] > 500 and counts["loaded"] > 50


SUBSCRIPTION_IDS = [s.id for s in DEMO.subscriptions]
CUSTOMERS = {c.csn: c for c in DEMO.customers}
SUBS = {s.id: s for s in DEMO.subscriptions}


@st.composite
def hostile_requests(draw) -> dict:
    some_id = st.one_of(st.sampled_from(SUBSCRIPTION_IDS), nasty_text)
    raw = {
        "csn": draw(st.one_of(st.sampled_from(sorted(CUSTOMERS)), nasty_text)),
        "subscription_ids": draw(st.lists(some_id, max_size=4)),
        "exclude": draw(st.lists(some_id, max_size=2)),
        "seats": draw(st.dictionaries(some_id, st.one_of(st.integers(-5, 2**40), nasty_value), max_size=2)),
        "terms": draw(st.dictionaries(some_id, nasty_value, max_size=2)),
        "recipients": draw(st.lists(st.one_of(st.emails(), nasty_text), max_size=6)),
        "origin": draw(nasty_text),
        "kind": draw(nasty_text),
        "new_lines": draw(st.lists(st.dictionaries(nasty_text, nasty_value, max_size=3), max_size=2)),
        "address": draw(nasty_value),
        "currency": draw(nasty_value),
        "partner_csn": draw(nasty_value),
    }
    return {k: v for k, v in raw.items() if draw(st.booleans()) or k == "csn"}


@st.composite
def plausible_requests(draw) -> dict:
    """Well-formed requests with any mix of subscriptions, changes and options: the rules decide."""
    csn = draw(st.sampled_from(sorted(CUSTOMERS)))
    kind = draw(st.sampled_from(["renewal", "renewal", "co-term", "new"]))
    ids = (
        []
        if kind == "new"
        else draw(
            st.lists(
                st.sampled_from(
                    [s.id for s in DEMO.subscriptions if s.csn == csn] if draw(st.booleans()) else SUBSCRIPTION_IDS
                ),
                min_size=1,
                max_size=3,
                unique=True,
            )
        )
    )
    return {
        "csn": csn,
        "subscription_ids": ids,
        "exclude": draw(st.lists(st.sampled_from(ids), max_size=1)) if ids else [],
        "seats": draw(st.dictionaries(st.sampled_from(ids), st.sampled_from([1, 2, 3, 1_000_000]), max_size=1))
        if ids and draw(st.booleans())
        else {},
        "terms": draw(
            st.dictionaries(st.sampled_from(ids), st.sampled_from(["monthly", "annual", "3-year"]), max_size=1)
        )
        if ids and draw(st.booleans())
        else {},
        "recipients": draw(
            st.lists(
                st.sampled_from(
                    [
                        "cfo@acme.example",
                        "CFO@acme.example",
                        "it@acme.example",
                        "buyer@acme.example",
                        "a@b.example",
                        "c@d.example",
                        "not an address",
                    ]
                ),
                max_size=5,
            )
        ),
        "origin": draw(st.sampled_from(["self-service", "partner", "sales"])),
        "kind": kind,
        "new_lines": []
        if kind != "new" or draw(st.integers(0, 9)) == 0
        else draw(
            st.lists(
                st.fixed_dictionaries(
                    {
                        "product": st.sampled_from(["Maya", "AutoCAD", "Unknown"]),
                        "seats": st.integers(1, 1_000_000),
                        "term": st.sampled_from(["annual", "3-year", "monthly"]),
                    }
                ),
                max_size=2,
            )
        ),
        "currency": draw(st.sampled_from([None, None, "EUR", "JPY"])),
        "partner_csn": draw(st.sampled_from([None, None, "5200000001", "5200000002"])),
        "pause_auto_renew": draw(st.booleans()),
        "new_credit_line": draw(st.sampled_from([False, False, False, True])),
        "start_date": draw(st.sampled_from([None, None, None, "2027-01-01"])),
    }


@MANY
@given(st.one_of(hostile_requests(), plausible_requests()))
def test_bad_quote_requests_refused_with_a_field_or_rule(raw: dict) -> None:
    try:
        request = QuoteRequest.model_validate(raw)
    except ValidationError as err:
        assert all(e["loc"] for e in err.errors()), err
        return
    customer = CUSTOMERS.get(request.csn)
    subs = [SUBS[i] for i in dict.fromkeys(request.subscription_ids) if i in SUBS]
    if customer is None or len(subs) != len(set(request.subscription_ids)):
        return  # the service refuses these before the rules: unknown customer or subscription
    try:
        quote = build_quote("Q-000001", request, customer, subs, TODAY, NOW)
    except Refused as err:
        assert err.rule and err.message
        return
    except BadInput as err:
        assert err.message
        return
    try:
        priced = price_lines(
            quote.lines, DEMO.prices, DEMO.promotions, quote.currency, quote.kind or QuoteKind.RENEWAL, TODAY
        )
    except MissingPrice:
        return
    assert priced.total >= 0 and priced.total == priced.subtotal - priced.discount_total


@MANY
@given(st.lists(nasty_text, max_size=3), nasty_text)
def test_bad_command_line_pairs_and_new_lines_refused(values: list[str], line: str) -> None:
    try:
        pairs(tuple(values), "--seats", int)
    except BadInput as err:
        assert err.message.startswith("--seats")
    try:
        new_line(line)
    except BadInput as err:
        assert "PRODUCT:SEATS:TERM" in err.message
    with pytest.raises(BadInput):
        parse_data_file(json.dumps(values))
