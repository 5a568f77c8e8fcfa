"""daphne, with an access log that holds no secret: ``python -m scopegate.serve [daphne's arguments]``.

daphne's own access log writes each request's path and query as they came, and some of ScopeGate's URLs are
secrets: an agent's endpoint with its key (``/mcp/<agent>/<key>``, for clients that cannot send a header), an
invitation, an e-mail confirmation or password reset link, an OAuth callback's code and state. Anyone who could
read the log could act as the agent or take the invitation. This entry point runs daphne's command line unchanged
but for its access log, which masks those parts; the rest of each line (client, time, method, status, size) stays.
Put the same masking in any reverse proxy that logs request lines.
"""

from __future__ import annotations

import re
import sys
from typing import Any

from daphne import cli
from daphne.access import AccessLogGenerator

MASK = "[secret]"
_SECRET_SEGMENTS = re.compile(
    r"(?P<head>/mcp/[^/?#']+/|/invitations/|/accounts/confirm-email/|/accounts/password/reset/key/)"
    r"(?P<secret>[^/?#']+)"
)
_SECRET_PARAMS = re.compile(r"(?P<head>[?&](?:code|state|key|token|access_token|secret)=)(?P<secret>[^&#]*)", re.I)


def masked(path: str) -> str:
    """``path`` (with its query, as daphne logs it: raw, or the ``repr`` of bytes it could not decode) with every
    secret part replaced by ``[secret]``. Unanchored: masking a look-alike in a query costs nothing."""
    path = _SECRET_SEGMENTS.sub(lambda m: m["head"] + MASK, path)
    return _SECRET_PARAMS.sub(lambda m: m["head"] + MASK, path)


class MaskedAccessLog(AccessLogGenerator):
    def __call__(self, protocol: str, action: str, details: dict[str, Any]) -> None:
        if isinstance(details.get("path"), str):
            details = {**details, "path": masked(details["path"])}
        super().__call__(protocol, action, details)


def main() -> None:
    cli.AccessLogGenerator = MaskedAccessLog  # the name daphne's command line builds its access log with
    sys.exit(cli.CommandLineInterface.entrypoint())


if __name__ == "__main__":
    main()
