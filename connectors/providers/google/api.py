"""Google's REST APIs as a tool sees them: their error documents, quotas and page tokens."""

from __future__ import annotations

from connectors.providers.http import Api, Response

RATE_REASONS = {"rateLimitExceeded", "userRateLimitExceeded", "quotaExceeded", "dailyLimitExceeded"}


class GoogleApi(Api):
    label = "Google"

    def describe(self, response: Response) -> str:
        try:
            error = (response.json() or {}).get("error") or {}
        except (ValueError, AttributeError):
            error = {}
        error = error if isinstance(error, dict) else {"message": str(error)}
        message = str(error.get("message", ""))[:300]
        reasons = {str(e.get("reason")) for e in error.get("errors") or [] if isinstance(e, dict)}
        if response.status == 429 or (response.status == 403 and reasons & RATE_REASONS):
            wait = response.headers.get("Retry-After")
            return "Google's rate limit for this account is exceeded; retry" + (f" in {wait} s." if wait else " later.")
        if response.status == 404:
            return "Google found no such message, file, folder or calendar (or this account cannot see it)."
        if response.status >= 500:
            return f"Google failed (HTTP {response.status}); try again later."
        return f"Google refused the request (HTTP {response.status}): {message or 'no reason given'}"
