"""`renewals load`: validate a data file whole, then upsert it in one transaction."""

import json
from collections import Counter
from pathlib import Path

from pydantic import BaseModel, ValidationError

from domain.errors import BadInput
from domain.models import DataFile, Subscription
from domain.source_data import merge_from_source
from store.catalog import (
    TABLES,
    Outcome,
    from_row,
    known_csns,
    mark_source_changed,
    retell_failed_auto_renewals,
    stored_subscriptions,
    upsert,
)
from store.pool import Conn


class KeptRow(BaseModel):
    id: str
    reason: str


class LoadResult(BaseModel):
    counts: dict[str, dict[str, int]]
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


def parse_data_file(text: str, source: str = "file") -> DataFile:
    try:
        raw = json.loads(text)
    except json.JSONDecodeError as err:
        raise BadInput(f"{source} is not valid JSON: {err.msg} at line {err.lineno} column {err.colno}") from None
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


async def load(conn: Conn, data: DataFile) -> LoadResult:
    """Upsert everything or nothing: a subscription of an unknown customer rolls the whole file back."""
    async with conn.transaction():
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
        changed, kept = await _load_subscriptions(conn, data.subscriptions, counts["subscriptions"])
        if (
            counts["prices"]["new"]
            + counts["prices"]["changed"]
            + counts["promotions"]["new"]
            + counts["promotions"]["changed"]
        ):
            await retell_failed_auto_renewals(conn)
    return LoadResult(
        counts={t: dict(c) for t, c in counts.items()},
        subscriptions=[s.id for s in data.subscriptions],
        changed_subscriptions=changed,
        kept=kept,
    )


async def _load_subscriptions(conn: Conn, subs: list[Subscription], counts: Counter) -> tuple[list[str], list[KeptRow]]:
    """R18: what the system did since the source's export stays; the rest of each row is the source's."""
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
        )
        outcome = await upsert(conn, merged.subscription)
        reopen = bool(row and row["lapsed_on"] and merged.renewed_elsewhere)
        if outcome == "changed" or reopen:
            await mark_source_changed(conn, incoming.id, reopen=reopen)
            changed.append(incoming.id)
        if merged.kept:
            kept.append(KeptRow(id=incoming.id, reason=merged.kept))
            counts["kept"] += 1
        counts[outcome] += 1
    return changed, kept


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
