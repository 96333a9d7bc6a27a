"""`renewals load`: validate a data file whole, then upsert it in one transaction."""

import json
from collections import Counter
from datetime import date
from pathlib import Path

from pydantic import BaseModel, ValidationError

from domain.errors import BadInput
from domain.models import DataFile, Subscription
from domain.source_data import merge_from_source
from domain.tax import tax_data_problems
from store.catalog import (
    TABLES,
    Outcome,
    from_row,
    get_vendor,
    known_csns,
    mark_source_changed,
    retell_failed_auto_renewals,
    stored_subscriptions,
    tax_rates,
    upsert,
    upsert_vendor,
)
from store.pool import Conn


class KeptRow(BaseModel):
    """A subscription whose stored term a load kept (R18): the file's is older. `changed`: its other fields
    were updated from the file."""

    id: str
    reason: str
    changed: bool = False


class LoadResult(BaseModel):
    counts: dict[str, dict[str, int]]
    warnings: list[str] = []
    subscriptions: list[str] = []
    changed_subscriptions: list[str] = []
    kept: list[KeptRow] = []

    def total(self, outcome: Outcome) -> int:
        return sum(c.get(outcome, 0) for c in self.counts.values())


def location(loc: tuple) -> str:
    """('subscriptions', 3, 'seats') -> 'subscriptions[3].seats'."""
    text = ""
    for part in loc:
        if isinstance(part, int):
            text += f"[{part}]"
        elif not text:
            text = str(part)
        elif part not in ("function-after",) and not str(part).startswith("function-"):
            text += f".{part}"
    return text or "(file)"


# A data file is four lists of flat records (the deepest value, a promotion's product, is 4 levels down) and
# its numbers are seats and prices: anything far beyond is refused with its place before it is validated.
MAX_DEPTH = 32
MAX_NUMBER_LENGTH = 50


class _TooLong:
    """A JSON number of more than MAX_NUMBER_LENGTH characters, kept as found to be named by its place."""

    def __init__(self, text: str) -> None:
        self.text = text


class _Parsing:
    """json.loads hooks that keep what JSON would lose: a key given twice in one object, an overlong number."""

    def __init__(self) -> None:
        # id(object) -> the object (kept, so that no other object takes its id) and its keys given twice
        self.repeated: dict[int, tuple[dict, list[str]]] = {}

    def pairs(self, pairs: list[tuple[str, object]]) -> dict[str, object]:
        obj: dict[str, object] = {}
        repeated: list[str] = []
        for key, value in pairs:
            if key in obj and key not in repeated:
                repeated.append(key)
            obj[key] = value
        if repeated:
            self.repeated[id(obj)] = (obj, repeated)
        return obj

    @staticmethod
    def integer(text: str) -> int | _TooLong:
        return int(text) if len(text) <= MAX_NUMBER_LENGTH else _TooLong(text)

    @staticmethod
    def real(text: str) -> float | _TooLong:
        return float(text) if len(text) <= MAX_NUMBER_LENGTH else _TooLong(text)

    def problems(self, raw: object) -> list[str]:
        """Each repeated key, overlong number and too deep a value, by its place; walked without recursion."""
        found: list[str] = []
        stack: list[tuple[tuple, object]] = [((), raw)]
        while stack:
            path, value = stack.pop()
            if isinstance(value, _TooLong):
                found.append(
                    f"{location(path)}: a number of {len(value.text)} characters (at most {MAX_NUMBER_LENGTH})"
                )
            elif len(path) >= MAX_DEPTH and isinstance(value, dict | list):
                found.append(f"{location(path)}: nested deeper than {MAX_DEPTH} levels")
            elif isinstance(value, dict):
                found += [
                    f"{location((*path, key))}: the key is given more than once in one object"
                    for key in self.repeated.get(id(value), (value, []))[1]
                ]
                stack += [((*path, key), item) for key, item in reversed(value.items())]
            elif isinstance(value, list):
                stack += [((*path, i), item) for i, item in reversed(list(enumerate(value)))]
        return found


def parse_data_file(text: str, source: str = "file") -> DataFile:
    parsing = _Parsing()
    try:
        raw = json.loads(text, object_pairs_hook=parsing.pairs, parse_int=parsing.integer, parse_float=parsing.real)
    except json.JSONDecodeError as err:
        raise BadInput(f"{source} is not valid JSON: {err.msg} at line {err.lineno} column {err.colno}") from None
    except RecursionError:
        line, column = _too_deep_at(text)
        raise BadInput(
            f"{source} has 1 error(s); nothing was loaded",
            [f"line {line} column {column}: nested deeper than {MAX_DEPTH} levels"],
        ) from None
    problems = parsing.problems(raw)
    if problems:
        raise BadInput(f"{source} has {len(problems)} error(s); nothing was loaded", problems)
    if not isinstance(raw, dict):
        raise BadInput(
            f"{source} holds a JSON {type(raw).__name__}, not an object with customers, subscriptions, "
            "prices and promotions; nothing was loaded"
        )
    try:
        data = DataFile.model_validate(raw)
    except ValidationError as err:
        details = [f"{location(e['loc'])}: {e['msg']}" for e in err.errors(include_url=False)]
        raise BadInput(f"{source} has {len(details)} error(s); nothing was loaded", details) from None
    _check_unique(data)
    return data


def _too_deep_at(text: str) -> tuple[int, int]:
    """Where the text first opens more than MAX_DEPTH arrays or objects (strings skipped): line, column."""
    depth, in_string, escaped = 0, False, False
    for at, c in enumerate(text):
        if in_string:
            if escaped:
                escaped = False
            elif c == "\\":
                escaped = True
            elif c == '"':
                in_string = False
        elif c == '"':
            in_string = True
        elif c in "[{":
            depth += 1
            if depth > MAX_DEPTH:
                line = text.count("\n", 0, at) + 1
                return line, at - (text.rfind("\n", 0, at) + 1) + 1
        elif c in "]}":
            depth -= 1
    return 1, 1


def _check_unique(data: DataFile) -> None:
    details = []
    for table, keys in TABLES.values():
        seen: dict[tuple, int] = {}
        for i, record in enumerate(getattr(data, table)):
            key = tuple(str(getattr(record, k)) for k in keys)
            if key in seen:
                details.append(f"{table}[{i}]: duplicate of {table}[{seen[key]}] ({'/'.join(key)})")
            seen.setdefault(key, i)
    if details:
        raise BadInput(f"the file has {len(details)} error(s); nothing was loaded", details)


async def load(conn: Conn, data: DataFile, today: date | None = None) -> LoadResult:
    """Upsert everything or nothing: a subscription of an unknown customer, or a tax rate that overlaps
    another or is missing (R28), rolls the whole file back."""
    today = today or date.today()
    async with conn.transaction():
        stored_vendor = await get_vendor(conn)
        problems = tax_data_problems(
            data.customers, data.tax_rates, data.vendor, await tax_rates(conn), stored_vendor, today
        )
        if problems:
            raise BadInput(f"the file has {len(problems)} error(s); nothing was loaded", problems)
        in_file = {c.csn for c in data.customers}
        stored = await known_csns(conn, {s.csn for s in data.subscriptions} - in_file)
        unknown = [
            f"subscriptions[{i}].csn: unknown customer {s.csn} (not in this file's customers nor in the store)"
            for i, s in enumerate(data.subscriptions)
            if s.csn not in in_file and s.csn not in stored
        ]
        if unknown:
            raise BadInput(f"the file has {len(unknown)} error(s); nothing was loaded", unknown)
        counts: dict[str, Counter] = {}
        for table, _ in TABLES.values():
            counts[table] = Counter({"new": 0, "changed": 0, "unchanged": 0})
            if table == "subscriptions":
                continue
            for record in getattr(data, table):
                counts[table][await upsert(conn, record)] += 1
        if data.vendor is not None:
            counts["vendor"] = Counter({"new": 0, "changed": 0, "unchanged": 0})
            counts["vendor"][await upsert_vendor(conn, data.vendor)] += 1
        changed, kept = await _load_subscriptions(conn, data.subscriptions, counts["subscriptions"])
        if (
            counts["prices"]["new"]
            + counts["prices"]["changed"]
            + counts["promotions"]["new"]
            + counts["promotions"]["changed"]
        ):
            await retell_failed_auto_renewals(conn)
    warnings = []
    if data.vendor is None and stored_vendor is None:
        warnings.append("no vendor and no tax rates: quotes carry no tax (R28); add `vendor` and `tax_rates`")
    return LoadResult(
        warnings=warnings,
        counts={t: dict(c) for t, c in counts.items()},
        subscriptions=[s.id for s in data.subscriptions],
        changed_subscriptions=changed,
        kept=kept,
    )


async def _load_subscriptions(conn: Conn, subs: list[Subscription], counts: Counter) -> tuple[list[str], list[KeptRow]]:
    """R18: what the system did since the source's export stays; the rest of each row is the source's. Each
    row of the file is counted once: new, changed, unchanged, or kept (its stored term kept, whatever else
    the file changed)."""
    counts["kept"] = 0
    stored = await stored_subscriptions(conn, [s.id for s in subs])
    changed: list[str] = []
    kept: list[KeptRow] = []
    for incoming in subs:
        row = stored.get(incoming.id)
        merged = merge_from_source(
            from_row(Subscription, row) if row else None,
            incoming,
            held=bool(row and row["held"]),
            renewed_by=_renewed_by(row) if row else None,
            moved_here=bool(row and _moved_by_renewal(row)),
        )
        outcome = await upsert(conn, merged.subscription)
        reopen = bool(row and row["lapsed_on"] and merged.renewed_elsewhere)
        if outcome == "changed" or reopen:
            own_switch = merged.subscription.auto_renew == incoming.auto_renew  # else the system's, kept (R18)
            await mark_source_changed(conn, incoming.id, reopen=reopen, switch_from_source=own_switch)
            changed.append(incoming.id)
        if merged.kept:
            kept.append(KeptRow(id=incoming.id, reason=merged.kept, changed=outcome == "changed"))
            counts["kept"] += 1
        else:
            counts[outcome] += 1
    return changed, kept


def _moved_by_renewal(row: dict) -> bool:
    """R25: the renewal that made the current term moved the subscription to another partner or currency."""
    before = row.get("renewed_previous") or {}
    return bool(before) and (
        before.get("partner_csn") != row["partner_csn"] or before.get("currency") != row["currency"]
    )


def _renewed_by(row: dict) -> str | None:
    if row["lapsed_on"]:
        return f"lapsed on {row['lapsed_on'].isoformat()}"
    if not row["renewed_source"]:
        return None
    who = row["renewed_quote"] or row["renewed_source"]
    return f"renewed by {who} on {row['renewed_at'].date().isoformat()}"


def read_data_file(path: Path) -> DataFile:
    """The file, whole and valid, before anything connects: UTF-8 JSON holding one object."""
    try:
        raw = path.read_bytes()
    except OSError as err:
        raise BadInput(f"cannot read {path}: {err.strerror}") from None
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as err:
        raise BadInput(
            f"{path} is not UTF-8 text (byte 0x{raw[err.start]:02x} at offset {err.start}); nothing was loaded"
        ) from None
    return parse_data_file(text, str(path))
