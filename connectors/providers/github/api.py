"""GitHub's REST API as a tool sees it: its error answers, rate limits and Link-header pagination."""

from __future__ import annotations

import re
from datetime import UTC, datetime
from urllib.parse import quote

from connectors.providers.base import ToolError
from connectors.providers.http import Api, Response, seconds_until

_NEXT = re.compile(r'<[^>]*[?&]page=(\d+)[^>]*>;\s*rel="next"')


class GitHubApi(Api):
    label = "GitHub"

    def headers(self) -> dict[str, str]:
        return {**super().headers(), "Accept": "application/vnd.github+json", "X-GitHub-Api-Version": "2022-11-28"}

    def describe(self, response: Response) -> str:
        try:
            message = str((response.json() or {}).get("message", ""))[:300]
        except (ValueError, AttributeError):
            message = ""
        remaining = response.headers.get("X-RateLimit-Remaining")
        if response.status in (403, 429) and (remaining == "0" or "rate limit" in message.lower()):
            reset = response.headers.get("X-RateLimit-Reset")
            wait = seconds_until(reset) or seconds_until(response.headers.get("Retry-After"))
            when = datetime.fromtimestamp(int(reset), UTC).strftime("%H:%M:%S UTC") if reset else "soon"
            return f"GitHub's rate limit is exhausted; it resets at {when}" + (f" (in {wait} s)." if wait else ".")
        if response.status == 404:
            return (
                "GitHub found no such repository, issue, pull request, branch or file (or this account cannot see it)."
            )
        if response.status >= 500:
            return f"GitHub failed (HTTP {response.status}); try again later."
        return f"GitHub refused the request (HTTP {response.status}): {message or 'no reason given'}"

    @staticmethod
    def next_page(response: Response) -> int | None:
        match = _NEXT.search(response.headers.get("Link", ""))
        return int(match.group(1)) if match else None


def split_repository(value: str) -> tuple[str, str]:
    owner, sep, name = value.partition("/")
    if not sep or not owner or not name or "/" in name or {owner, name} & _DOTS:
        raise ToolError(f"repository must look like owner/name, not {value!r}.")
    return owner, name


_DOTS = frozenset({".", ".."})


def url_path(value: str, field: str) -> str:
    """A file's path or a branch's name as the tail of an API URL, each segment percent-encoded. A segment that is
    empty, ``.`` or ``..`` is refused: normalised (by the client's URL library or by the server), ``..`` climbs
    out of the repository the policy allowed (``contents/../../../other/repo/contents/x``)."""
    segments = value.strip("/").split("/")
    if any(segment in _DOTS or not segment for segment in segments):
        raise ToolError(f"{field} must not contain empty, '.' or '..' segments: {value[:200]!r}.")
    return "/".join(quote(segment, safe="") for segment in segments)
