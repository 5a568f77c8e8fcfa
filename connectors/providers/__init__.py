"""The built-in providers, by connection kind."""

from __future__ import annotations

from connectors.providers.provider import Provider


def _registry() -> dict[str, Provider]:
    from connectors.providers.github import GitHub
    from connectors.providers.google import Google

    return {p.kind: p for p in (GitHub(), Google())}


_providers: dict[str, Provider] | None = None


def provider_for(kind: str) -> Provider | None:
    global _providers
    if _providers is None:
        _providers = _registry()
    return _providers.get(kind)


def all_providers() -> list[Provider]:
    provider_for("")
    return list(_providers.values()) if _providers else []
