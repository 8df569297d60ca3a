"""Request bodies and query strings into validated models: JSON and CSV, with errors (422)
that name the failing field the way the client wrote it (`hotwords.3.boost`)."""

from __future__ import annotations

import csv
import io
from typing import Any, TypeVar

from aiohttp import web
from pydantic import BaseModel, ValidationError

from ivr.admin import schemas
from ivr.admin.errors import InvalidBody

M = TypeVar("M", bound=BaseModel)


def validate(model: type[M], data: Any, rules: schemas.PhraseRules | None = None) -> M:
    try:
        return model.model_validate(data, context=rules)
    except ValidationError as exc:
        errors = [
            {
                "field": ".".join(str(p) for p in err["loc"]) or "body",
                "message": err["msg"].removeprefix("Value error, "),
            }
            for err in exc.errors(include_url=False)
        ]
        first = errors[0]
        raise InvalidBody(
            f"invalid {first['field']}: {first['message']}", field=first["field"], errors=errors
        ) from None


async def read_json(request: web.Request) -> Any:
    try:
        return await request.json()
    except (ValueError, RecursionError):
        raise InvalidBody(
            "the request body is not valid JSON (send Content-Type: application/json)",
            field="body",
        ) from None


def query_int(request: web.Request, name: str, default: int, low: int, high: int) -> int:
    raw = request.query.get(name)
    if raw is None:
        return default
    try:
        value = int(raw)
    except ValueError:
        value = low - 1
    if not low <= value <= high:
        raise InvalidBody(f"{name} must be an integer in {low}..{high}", field=name)
    return value


def query_choice(request: web.Request, name: str, choices: tuple[str, ...]) -> str:
    value = request.query.get(name, choices[0])
    if value not in choices:
        raise InvalidBody(f"{name} must be one of {', '.join(choices)}", field=name)
    return value


def parse_csv(text: str, rules: schemas.PhraseRules) -> schemas.HotwordsIn:
    """`phrase,boost,tags` with a header row; tags separated by `;`."""
    try:
        reader = csv.DictReader(io.StringIO(text, newline=""))
        columns = set(reader.fieldnames or ())
        rows = list(reader)
    except csv.Error as exc:
        raise InvalidBody(f"the CSV cannot be read: {exc}", field="body") from None
    if "phrase" not in columns or not columns <= {"phrase", "boost", "tags"}:
        raise InvalidBody(
            "CSV needs a header row with a 'phrase' column and optional 'boost' and 'tags'",
            field="csv.header",
        )
    items: list[dict[str, Any]] = []
    for index, row in enumerate(rows):
        if None in row:
            raise InvalidBody(
                f"CSV row {index + 1} has more fields than the header", field=f"hotwords.{index}"
            )
        item: dict[str, Any] = {"phrase": row.get("phrase") or ""}
        if row.get("boost"):
            try:
                item["boost"] = float(row["boost"] or "")
            except ValueError:
                raise InvalidBody(
                    f"CSV row {index + 1}: boost {row['boost']!r} is not a number",
                    field=f"hotwords.{index}.boost",
                ) from None
        if row.get("tags"):
            item["tags"] = [t.strip() for t in (row["tags"] or "").split(";") if t.strip()]
        items.append(item)
    return validate(schemas.HotwordsIn, {"hotwords": items}, rules)
