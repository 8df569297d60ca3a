"""`ivr keys ...` and `ivr audit ...`: talk to the Redis in `IVR_REDIS_URL` directly, so the
first admin key can be made before any key exists."""

from __future__ import annotations

import asyncio
import json
import sys
from collections.abc import Awaitable, Callable
from typing import TypeVar

import click
from redis.exceptions import RedisError

from hotwords.errors import UnknownTenant
from hotwords.store import HotwordStore
from ivr.admin.audit import AuditLog, Verification
from ivr.admin.errors import UnknownKey
from ivr.admin.keys import ApiKey, KeyKind, KeyStore
from ivr.datacli import rotate_keys
from ivr.settings import SettingsError, load_settings
from ivr.store import Store, open_store

T = TypeVar("T")
CLI_ACTOR = "cli"


def _run(work: Callable[[Store], Awaitable[T]]) -> T:
    """Open the store from settings, run `work`, close; errors become one line and exit 2."""
    try:
        settings = load_settings()
    except SettingsError as exc:
        raise click.ClickException(str(exc)) from None
    if not settings.redis_url:
        raise click.ClickException(
            "IVR_REDIS_URL is not set: keys and the audit log live in Redis; point it at the "
            "service's Redis (e.g. IVR_REDIS_URL=redis://localhost:6379/0)"
        )

    async def main() -> T:
        store = open_store(settings)
        try:
            return await work(store)
        finally:
            await store.close()

    try:
        return asyncio.run(main())
    except (RedisError, OSError) as exc:
        click.echo(f"ivr: cannot reach Redis at {settings.redis_url}: {exc}", err=True)
        sys.exit(2)


def _key_line(key: ApiKey) -> str:
    scope = "admin (all tenants)" if key.kind == "admin" else f"tenant {key.tenant}"
    return f"{key.id}  {scope:<24} {key.created_at}  {key.name or ''}".rstrip()


@click.group()
def keys() -> None:
    """Create, list and revoke admin API keys (in the Redis of IVR_REDIS_URL)."""


@keys.command("create")
@click.option("--admin", "is_admin", is_flag=True, help="A key that acts on every tenant.")
@click.option("--tenant", help="A key that acts on this tenant only.")
@click.option("--name", help="A note to recognize the key by.")
@click.option("--json", "as_json", is_flag=True, help='Print {"id": ..., "secret": ...}.')
def create(is_admin: bool, tenant: str | None, name: str | None, as_json: bool) -> None:
    """Make a key; its secret is printed once and never stored."""
    if is_admin == (tenant is not None):
        raise click.UsageError("give exactly one of --admin or --tenant T")
    kind: KeyKind = "admin" if is_admin else "tenant"

    async def work(store: Store) -> tuple[str, str]:
        if tenant is not None:
            await HotwordStore(store.redis, 1).tenant(tenant)
        new = await KeyStore(store.redis).create(kind, tenant, name)
        await AuditLog(store.redis).append(
            CLI_ACTOR, "key.create", tenant, {"key": new.key.id, "kind": kind}
        )
        return new.key.id, new.secret

    try:
        key_id, secret = _run(work)
    except UnknownTenant as exc:
        raise click.ClickException(str(exc)) from None
    if as_json:
        click.echo(json.dumps({"id": key_id, "secret": secret}))
        return
    click.echo(f"created {kind} key {key_id}; its secret (shown only now):")
    click.echo(secret)


@keys.command("list")
@click.option("--json", "as_json", is_flag=True, help="Print a JSON list.")
def list_keys(as_json: bool) -> None:
    """Show every key (never a secret)."""

    async def work(store: Store) -> list[ApiKey]:
        return await KeyStore(store.redis).all()

    found = _run(work)
    if as_json:
        click.echo(json.dumps([vars(k) for k in found]))
        return
    for key in found:
        click.echo(_key_line(key))
    if not found:
        click.echo("no keys yet: `ivr keys create --admin` makes the first one")


@keys.command("revoke")
@click.argument("key_id")
def revoke(key_id: str) -> None:
    """Revoke a key at once, on every replica."""

    async def work(store: Store) -> ApiKey:
        key = await KeyStore(store.redis).revoke(key_id)
        await AuditLog(store.redis).append(
            CLI_ACTOR, "key.revoke", key.tenant, {"key": key.id, "kind": key.kind}
        )
        return key

    try:
        key = _run(work)
    except UnknownKey as exc:
        raise click.ClickException(str(exc)) from None
    click.echo(f"revoked {_key_line(key)}")


@click.group()
def audit() -> None:
    """Read and verify the tamper-evident audit log."""


@audit.command("verify")
def verify() -> None:
    """Check every link of the hash chain; exit 1 naming the first broken entry."""

    async def work(store: Store) -> Verification:
        return await AuditLog(store.redis).verify()

    result = _run(work)
    if result.ok:
        click.echo(f"audit log intact: {result.checked} entries verified")
        return
    click.echo(
        f"audit log BROKEN at entry {result.broken_seq}: {result.reason} "
        f"({result.checked} entries before it verified)",
        err=True,
    )
    sys.exit(1)


@audit.command("show")
@click.option("--tenant", help="Entries about this tenant (default: those about no tenant).")
@click.option("--limit", default=20, show_default=True, type=click.IntRange(1, 500))
@click.option("--offset", default=0, show_default=True, type=click.IntRange(0))
def show(tenant: str | None, limit: int, offset: int) -> None:
    """Print entries newest first, one JSON object a line."""

    async def work(store: Store) -> list[str]:
        page = await AuditLog(store.redis).page(tenant, offset, limit)
        return [json.dumps(e.to_json()) for e in page.entries]

    for line in _run(work):
        click.echo(line)


# Issue #11 names the data-key rotation `ivr keys rotate-data`; it is the same command as
# `ivr data rotate-keys` (the `data` group holds everything about callers' data).
keys.add_command(rotate_keys, name="rotate-data")
