"""Writes of the connectors app: connections of kind "MCP server" and their catalogue."""

from __future__ import annotations

import logging
from urllib.parse import urlsplit

from asgiref.sync import async_to_sync
from django.conf import settings
from django.core.exceptions import ValidationError
from django.core.validators import URLValidator
from django.db import IntegrityError, transaction
from django.utils import timezone

from accounts.roles import Perm
from accounts.tenancy import OrgContext
from audit.changes import record_change, snapshot
from connectors import egress
from connectors.models import CONNECTION_NAME_RE, CatalogItem, Connection, Credential
from connectors.providers import provider_for
from connectors.sdk import Discovery, UpstreamConfigError, UpstreamTarget, discover, fingerprint

logger = logging.getLogger(__name__)
FORBIDDEN_HEADERS = {
    "host",
    "content-length",
    "transfer-encoding",
    "connection",
    "mcp-session-id",
    "mcp-protocol-version",
    "mcp-method",
    "mcp-name",
    "accept",
    "content-type",
}

# What a change's before/after shows (header names only: their values are secrets).
FIELDS = ["name", "kind", "transport", "url", "command_name", "header_names", "status"]
ITEM_FIELDS = ["kind", "name", "fingerprint", "approved_fingerprint", "status"]


def announce_changed(org_id: int) -> None:
    """After the commit, every node reloads what the organization's agents see."""
    from policies.invalidation import announce_organization_changed

    transaction.on_commit(lambda: announce_organization_changed(org_id))


def check_upstream_url(url: str) -> None:
    """Refuses URLs that are not http(s) or that reach private networks, unless the operator allows them."""
    try:
        URLValidator(schemes=["http", "https"])(url)
    except ValidationError as exc:
        raise ValidationError({"url": ["Enter an http:// or https:// URL."]}) from exc
    if settings.ALLOW_PRIVATE_UPSTREAMS:
        return
    host = urlsplit(url).hostname or ""
    try:
        egress.resolve_checked_sync(host, None)
    except egress.RefusedAddress as exc:
        raise ValidationError({"url": [f"{exc}."]}) from exc
    except OSError as exc:
        raise ValidationError({"url": [f"The host {host} cannot be resolved."]}) from exc


def _clean_headers(headers: dict | None) -> dict[str, str]:
    headers = headers or {}
    if not isinstance(headers, dict) or len(headers) > 20:
        raise ValidationError({"headers": ["Send at most 20 headers as name: value."]})
    clean: dict[str, str] = {}
    for name, value in headers.items():
        if not isinstance(name, str) or not isinstance(value, str):
            raise ValidationError({"headers": ["Header names and values are strings."]})
        name = name.strip()
        if not name or not all(c.isalnum() or c in "-_" for c in name) or len(name) > 100:
            raise ValidationError({"headers": [f"{name!r} is not a valid header name."]})
        if name.lower() in FORBIDDEN_HEADERS:
            raise ValidationError({"headers": [f"{name} is set by ScopeGate itself."]})
        if "\r" in value or "\n" in value or len(value) > 8000:
            raise ValidationError({"headers": [f"The value of {name} is not valid."]})
        clean[name] = value
    return clean


def headers_from_lines(lines: list[str]) -> dict[str, str]:
    """Reads ``Name: value`` lines, as typed in the form or given to ``add_connection --header``."""
    headers: dict[str, str] = {}
    for number, line in enumerate(lines, start=1):
        if not line.strip():
            continue
        name, colon, value = line.partition(":")
        name = name.strip()
        if not colon or not name:
            raise ValidationError({"headers": [f"Line {number} is not of the form 'Name: value'."]})
        if name.lower() in {n.lower() for n in headers}:
            raise ValidationError({"headers": [f"{name} is given twice."]})
        headers[name] = value.strip()
    return headers


def _validate(name: str, transport: str, url: str, command_name: str) -> None:
    import re

    errors: dict[str, list[str]] = {}
    if not re.match(CONNECTION_NAME_RE, name or ""):
        errors["name"] = ["Use 1-32 lower-case letters, digits and dashes, starting with a letter."]
    if transport not in Connection.Transport.values:
        errors["transport"] = [f"Choose one of: {', '.join(Connection.Transport.values)}."]
    elif transport == Connection.Transport.STDIO:
        if command_name not in settings.STDIO_COMMANDS:
            allowed = ", ".join(sorted(settings.STDIO_COMMANDS)) or "none"
            errors["command_name"] = [f"Choose a command the operator allows ({allowed})."]
    elif not url:
        errors["url"] = ["Enter the server's URL."]
    if errors:
        raise ValidationError(errors)
    if transport != Connection.Transport.STDIO:
        check_upstream_url(url)


def connection_create(
    *,
    ctx: OrgContext,
    name: str,
    transport: str = Connection.Transport.STREAMABLE_HTTP,
    url: str = "",
    command_name: str = "",
    headers: dict | None = None,
    sync: bool = True,
) -> Connection:
    ctx.require(Perm.GOVERN)
    name = (name or "").strip()
    _validate(name, transport, url, command_name)
    clean_headers = _clean_headers(headers)
    try:
        with transaction.atomic():
            connection = Connection(
                organization=ctx.organization,
                name=name,
                kind=Connection.Kind.MCP,
                transport=transport,
                url=url if transport != Connection.Transport.STDIO else "",
                command_name=command_name if transport == Connection.Transport.STDIO else "",
                created_by=ctx.user,
            )
            connection.set_headers(clean_headers)
            connection.save()
            record_change(ctx, action="connection.create", target=connection, after=snapshot(connection, FIELDS))
    except IntegrityError as exc:
        raise ValidationError({"name": ["A connection with this name exists."]}) from exc
    if sync:
        connection_sync(ctx=ctx, connection_id=connection.pk)
        connection.refresh_from_db()
    return connection


@transaction.atomic
def connection_delete(*, ctx: OrgContext, connection_id: int) -> None:
    ctx.require(Perm.GOVERN)
    connection = ctx.get(Connection.objects.select_for_update(), pk=connection_id)
    credential = Credential.objects.select_for_update().filter(connection=connection).first()
    if credential is not None and credential.status in (Credential.Status.ACTIVE, Credential.Status.NEEDS_RECONNECT):
        from connectors.credentials import begin_revocation

        begin_revocation(credential)  # the grant outlives its connection until the provider has revoked it
    record_change(ctx, action="connection.delete", target=connection, before=snapshot(connection, FIELDS))
    connection.delete()
    announce_changed(ctx.organization.pk)


def target_of(connection: Connection) -> UpstreamTarget:
    return UpstreamTarget(
        name=connection.name,
        transport=connection.transport,
        url=connection.url,
        command_name=connection.command_name,
        headers=connection.get_headers(),
    )


def connection_sync(*, ctx: OrgContext, connection_id: int) -> Connection:
    """Discovers the connection's catalogue; the connection records the error when the upstream fails."""
    ctx.require(Perm.GOVERN)
    connection = ctx.get(Connection, pk=connection_id)
    return catalogue_refresh(connection)


def catalogue_refresh(connection: Connection) -> Connection:
    """Not scoped by a person: called by connection_sync and by the gateway on a list-changed notification."""
    if connection.kind != Connection.Kind.MCP:
        credential = Credential.objects.filter(connection=connection).first()
        if credential is not None:
            catalogue_builtin(connection, credential)
        return connection
    try:
        found = async_to_sync(discover)(target_of(connection))
    except UpstreamConfigError as exc:
        return _record_failure(connection, str(exc))
    except BaseException as exc:  # the SDK raises exception groups; any failure is the upstream's
        if isinstance(exc, KeyboardInterrupt | SystemExit):
            raise
        logger.info("discovery of connection %s failed: %s", connection.pk, egress.scrub_urls(repr(exc)))
        return _record_failure(connection, _describe(exc))
    _store_catalogue(connection, found)
    return connection


def _describe(exc: BaseException) -> str:
    while isinstance(exc, BaseExceptionGroup) and exc.exceptions:
        exc = exc.exceptions[0]
    text = egress.scrub_urls(str(exc)) or type(exc).__name__
    return f"Could not reach the server: {text[:300]}"


def _record_failure(connection: Connection, message: str) -> Connection:
    Connection.objects.filter(pk=connection.pk).update(status=Connection.Status.ERROR, last_error=message)
    connection.status, connection.last_error = Connection.Status.ERROR, message
    return connection


def catalogue_builtin(connection: Connection, credential: Credential) -> None:
    """A GitHub or Google connection's catalogue: the provider's tools its grant and access level offer."""
    provider = provider_for(connection.kind)
    tools = provider.offered(credential.scopes, credential.access)
    found = Discovery(
        protocol_version="",
        server_info={"name": f"{provider.label} (built in)"},
        tools=[t.definition() for t in tools],
        resources=[],
        templates=[],
        prompts=[],
    )
    _store_catalogue(connection, found, resources={t.name: t.resources for t in tools})


@transaction.atomic
def _store_catalogue(connection: Connection, found: Discovery, resources: dict[str, dict] | None = None) -> None:
    """``resources``: the declarations of built-in tools, by name (an upstream's tools declare none)."""
    resources = resources or {}
    now = timezone.now()
    existing = {(i.kind, i.name): i for i in CatalogItem.objects.select_for_update().filter(connection=connection)}
    seen: set[tuple[str, str]] = set()
    batches = (
        (CatalogItem.Kind.TOOL, found.tools, "name"),
        (CatalogItem.Kind.RESOURCE, found.resources, "uri"),
        (CatalogItem.Kind.TEMPLATE, found.templates, "uriTemplate"),
        (CatalogItem.Kind.PROMPT, found.prompts, "name"),
    )
    for kind, definitions, key in batches:
        for definition in definitions:
            name = definition.get(key)
            if not isinstance(name, str) or not name or (kind, name) in seen:
                continue
            seen.add((kind, name))
            print_ = fingerprint(definition)
            item = existing.get((kind, name))
            if item is None:
                CatalogItem.objects.create(
                    organization_id=connection.organization_id,
                    connection=connection,
                    kind=kind,
                    name=name,
                    title=str(definition.get("title") or "")[:500],
                    description=str(definition.get("description") or ""),
                    definition=definition,
                    fingerprint=print_,
                    approved_fingerprint=print_,
                    resources=resources.get(name, {}) if kind == CatalogItem.Kind.TOOL else {},
                )
                continue
            if kind == CatalogItem.Kind.TOOL and name in resources:
                item.resources = resources[name]
            item.definition, item.fingerprint, item.updated_at = definition, print_, now
            item.title = str(definition.get("title") or "")[:500]
            item.description = str(definition.get("description") or "")
            # A tool that changed what it tells agents waits for an admin before agents see it again.
            item.status = (
                CatalogItem.Status.ACTIVE if print_ == item.approved_fingerprint else CatalogItem.Status.CHANGED
            )
            item.save()
    gone = [i.pk for key, i in existing.items() if key not in seen]
    CatalogItem.objects.filter(pk__in=gone).update(status=CatalogItem.Status.REMOVED, updated_at=now)
    Connection.objects.filter(pk=connection.pk).update(
        status=Connection.Status.ACTIVE,
        last_error="",
        last_synced_at=now,
        protocol_version=found.protocol_version[:16],
        server_info=found.server_info,
    )
    announce_changed(connection.organization_id)


@transaction.atomic
def catalog_item_approve(*, ctx: OrgContext, item_id: int) -> CatalogItem:
    ctx.require(Perm.GOVERN)
    item = ctx.get(CatalogItem.objects.select_for_update(), pk=item_id)
    before = snapshot(item, ITEM_FIELDS)
    item.approved_fingerprint = item.fingerprint
    if item.status == CatalogItem.Status.CHANGED:
        item.status = CatalogItem.Status.ACTIVE
    item.save(update_fields=["approved_fingerprint", "status"])
    record_change(ctx, action="catalog_item.approve", target=item, before=before, after=snapshot(item, ITEM_FIELDS))
    announce_changed(ctx.organization.pk)
    return item
