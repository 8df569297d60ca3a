"""The admin API's OpenAPI 3.1 document, built from the same pydantic models the handlers use,
served at `/admin/openapi.json`. A test checks that it lists exactly the routes the app has."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from aiohttp import web
from pydantic import BaseModel
from pydantic.json_schema import models_json_schema

from ivr.admin import schemas
from ivr.admin.routes import BASE, MAX_AUDIT_PAGE

REF = "#/components/schemas/{model}"
EXAMPLES = {
    "tenant": "acme",
    "id": "0123456789abcdef",
    "key_id": "0123456789abcdef",
    "call_id": "CA0123456789abcdef",
}
CSV_EXAMPLE = "phrase,boost,tags\nquorvia premier,12,product\n"


@dataclass(frozen=True)
class Op:
    method: str
    path: str
    summary: str
    ok: int
    response: type[BaseModel] | None  # None: no content (204)
    body: type[BaseModel] | None = None
    admin_only: bool = False
    conflict: bool = False
    query: tuple[dict[str, Any], ...] = ()
    csv_in: bool = False
    csv_out: bool = False
    also_ok: int | None = None


def _q(name: str, schema: dict[str, Any], description: str) -> dict[str, Any]:
    return {"name": name, "in": "query", "required": False, "schema": schema,
            "description": description}  # fmt: skip


T = f"{BASE}/tenants/{{tenant}}"
AUDIT_QUERY = (
    _q("offset", {"type": "integer", "minimum": 0, "maximum": 10**9}, "Entries to skip"),
    _q("limit", {"type": "integer", "minimum": 1, "maximum": MAX_AUDIT_PAGE},
       "Page size (default 50)"),
)  # fmt: skip
OPERATIONS = (
    Op("post", f"{BASE}/tenants", "Create a tenant", 201, schemas.Tenant, schemas.TenantIn,
       admin_only=True, conflict=True),
    Op("get", f"{BASE}/tenants", "List tenants", 200, schemas.TenantList, admin_only=True),
    Op("get", T, "Get a tenant", 200, schemas.Tenant),
    Op("patch", T, "Change a tenant's retention", 200, schemas.Tenant, schemas.TenantUpdate,
       admin_only=True),
    Op("delete", T, "Delete a tenant, its hot words and its keys", 200, schemas.TenantDeleted,
       admin_only=True, conflict=True),
    Op("get", f"{T}/hotwords", "List hot words", 200, schemas.HotwordList),
    Op("post", f"{T}/hotwords", "Add or update one hot word (by normalized phrase)", 201,
       schemas.HotwordWritten, schemas.HotwordIn, conflict=True, also_ok=200),
    Op("put", f"{T}/hotwords", "Replace all hot words", 200, schemas.WriteSummary,
       schemas.HotwordsIn, conflict=True),
    Op("delete", f"{T}/hotwords", "Delete all hot words", 200, schemas.WriteSummary,
       conflict=True),
    Op("post", f"{T}/hotwords/import", "Import hot words (JSON or CSV)", 200,
       schemas.WriteSummary, schemas.HotwordImport, conflict=True, csv_in=True,
       query=(_q("mode", {"type": "string", "enum": ["merge", "replace"]},
                 "merge (default) adds or updates; replace makes the list exactly the file"),)),
    Op("get", f"{T}/hotwords/export", "Export hot words (JSON or CSV)", 200,
       schemas.HotwordExport, csv_out=True,
       query=(_q("format", {"type": "string", "enum": ["json", "csv"]}, "json (default) or csv"),)),
    Op("get", f"{T}/hotwords/active", "Hot words this replica's cache serves now", 200,
       schemas.ActiveHotwords),
    Op("get", f"{T}/hotwords/{{id}}", "Get one hot word", 200, schemas.Hotword),
    Op("delete", f"{T}/hotwords/{{id}}", "Delete one hot word", 200, schemas.WriteSummary,
       conflict=True),
    Op("get", f"{T}/audit", "Read the tenant's audit log, newest first", 200, schemas.AuditPage,
       query=AUDIT_QUERY),
    Op("get", f"{BASE}/audit", "Read the audit entries about no tenant (keys), newest first",
       200, schemas.AuditPage, admin_only=True, query=AUDIT_QUERY),
    Op("get", f"{T}/calls/{{call_id}}", "Read one call's outcome and turn history (audited; "
       "sensitive values masked unless IVR_REDACT_SENSITIVE=false)", 200, schemas.CallRecord),
    Op("delete", f"{T}/calls/{{call_id}}", "Erase everything stored about one call (audited)",
       204, None),
    Op("post", f"{BASE}/keys", "Create an API key (the secret is shown once)", 201,
       schemas.KeyCreated, schemas.KeyIn, admin_only=True),
    Op("get", f"{BASE}/keys", "List API keys (never their secrets)", 200, schemas.KeyList,
       admin_only=True),
    Op("delete", f"{BASE}/keys/{{key_id}}", "Revoke an API key", 200, schemas.Key,
       admin_only=True, conflict=True),
)  # fmt: skip

_STATUS_TEXT = {
    401: "No valid API key",
    403: "The key may not act here (another tenant, or an admin-only route)",
    404: "Unknown tenant, hot word, key or call",
    409: "Conflict with the current state (exists already, over the tenant limit)",
    413: "Request body too large",
    422: "Invalid body or query parameter; `field` names it",
    429: "Too many requests for this key; see Retry-After",
}


def _json(ref: str) -> dict[str, Any]:
    return {"application/json": {"schema": {"$ref": REF.format(model=ref)}}}


def _path_params(path: str) -> list[dict[str, Any]]:
    params = []
    for name in ("tenant", "id", "key_id", "call_id"):
        if f"{{{name}}}" in path:
            params.append({"name": name, "in": "path", "required": True,
                           "schema": {"type": "string"}, "example": EXAMPLES[name]})  # fmt: skip
    return params


def _responses(op: Op) -> dict[str, Any]:
    if op.response is None:
        ok: dict[str, Any] = {"description": "Done; no content"}
    else:
        ok = {"description": "OK", "content": _json(op.response.__name__)}
    if op.csv_out:
        ok["content"]["text/csv"] = {"schema": {"type": "string"}}
    responses: dict[str, Any] = {str(op.ok): ok}
    if op.also_ok is not None:
        responses[str(op.also_ok)] = {"description": "Updated", "content": ok["content"]}
    codes = [401, 403, 429]
    if "{" in op.path:
        codes.append(404)
    if op.body is not None or op.query or op.path.endswith("/keys"):
        codes.append(422)
    if op.body is not None:
        codes.append(413)
    if op.conflict or op.body is not None:
        codes.append(409)
    if "{tenant}" in op.path and op.method != "get":
        codes.append(404)
    for code in sorted(set(codes)):
        responses[str(code)] = {"description": _STATUS_TEXT[code], "content": _json("Error")}
    if op.path.endswith("/keys") and op.method == "post":
        responses["404"] = {"description": _STATUS_TEXT[404], "content": _json("Error")}
    return responses


def _operation(op: Op) -> dict[str, Any]:
    doc: dict[str, Any] = {
        "operationId": f"{op.method}_{op.path.removeprefix(BASE).strip('/')}"
        .replace("/", "_").replace("{", "").replace("}", ""),
        "summary": op.summary,
        "parameters": _path_params(op.path) + list(op.query),
        "responses": _responses(op),
    }  # fmt: skip
    if op.admin_only:
        doc["description"] = "Needs an admin key."
    if op.body is not None:
        content = _json(op.body.__name__)
        if op.csv_in:
            content["text/csv"] = {"schema": {"type": "string"}, "example": CSV_EXAMPLE}
        doc["requestBody"] = {"required": True, "content": content}
    return doc


def build_document() -> dict[str, Any]:
    models: list[type[BaseModel]] = [schemas.Error]
    for op in OPERATIONS:
        if op.response is not None:
            models.append(op.response)
        if op.body is not None:
            models.append(op.body)
    unique = list(dict.fromkeys(models))
    _, defs = models_json_schema([(m, "validation") for m in unique], ref_template=REF)
    paths: dict[str, dict[str, Any]] = {}
    for op in OPERATIONS:
        paths.setdefault(op.path, {})[op.method] = _operation(op)
    return {
        "openapi": "3.1.0",
        "info": {
            "title": "IVR admin API",
            "version": "1",
            "description": "Tenants, per-tenant hot words, API keys, callers' data and the "
            "audit log.",
        },
        "servers": [{"url": "/"}],
        "security": [{"bearer": []}],
        "paths": paths,
        "components": {
            "schemas": defs.get("$defs", {}),
            "securitySchemes": {
                "bearer": {"type": "http", "scheme": "bearer", "bearerFormat": "ivrk_<id>_<secret>"}
            },
        },
    }


async def openapi_handler(request: web.Request) -> web.Response:
    return web.json_response(build_document())
