"""ASGI entry point: Django views, the MCP gateway under /mcp/ and WebSockets under /ws/."""

import os

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "scopegate.settings")

from django.core.asgi import get_asgi_application

django_application = get_asgi_application()  # loads the apps before the routes import models

from scopegate.routing import build_application  # noqa: E402

application = build_application(django_application)


def _skip_twisted_form_parsing() -> None:
    """Daphne hands the raw body to the application and never reads Twisted's parsed form arguments, yet
    Twisted parses every POST's Content-Type with the e-mail package first: 7% of a gateway call's CPU.
    Twisted's own switch turns that off."""
    try:
        from daphne.http_protocol import WebRequest
    except ImportError:  # served by another ASGI server
        return
    original_init = WebRequest.__init__

    def __init__(self, *args, **kwargs):  # Twisted sets the switch per request, in Request.__init__
        original_init(self, *args, **kwargs)
        self._parsePOSTFormSubmission = False

    WebRequest.__init__ = __init__


def _redact_daphne_access_log() -> None:
    """The secret-URL form of an agent's endpoint carries its key in the path: no access line may show it."""
    try:
        from daphne.access import AccessLogGenerator
    except ImportError:
        return
    from gateway.redact import redact_path

    original = AccessLogGenerator.write_entry

    def write_entry(self, host, date, request, *args, **kwargs):
        return original(self, host, date, redact_path(request), *args, **kwargs)

    AccessLogGenerator.write_entry = write_entry


def _drop_twisted_request_log() -> None:
    """Twisted's HTTP factory formats a combined-log line for every request and writes it to Twisted's global
    log, which daphne discards (daphne writes its own access log, redacted above): ~20 us of every call for a
    line nobody reads, holding the path a secret-URL key is in."""
    try:
        from daphne.http_protocol import HTTPFactory
    except ImportError:
        return

    def log(self, request) -> None:
        return None

    HTTPFactory.log = log


def _flush_daphne_replies() -> None:
    """Twisted buffers what a response writes until the event loop's next turn, so the end of an answer left
    only after everything else that turn ran: the request's finishing, the access log line and whatever the
    application does after answering (a gateway call records its outcome), 0.1-0.3 ms of an agent's wait for
    every call. The end of a response is sent as soon as it is written, before the request is finished and
    logged (a response with a Content-Length has nothing more to write), and each chunk of a stream as soon as
    it is written; only a plain TCP connection that is not being closed is flushed this way, the rest as
    before."""
    try:
        from daphne.http_protocol import WebRequest
        from daphne.server import Server
        from twisted.internet.tcp import Connection
    except ImportError:
        return

    def flush(request) -> None:
        channel = request.channel
        transport = getattr(channel, "transport", None) if channel is not None else None
        if (
            isinstance(transport, Connection)
            and transport.connected
            and not transport.disconnecting
            and (getattr(transport, "_tempDataLen", 0) or len(transport.dataBuffer) > transport.offset)
        ):
            transport.doWrite()

    original_finish = WebRequest.finish

    def finish(self):
        if self.channel is not None and not self.finished:
            flush(self)
        return original_finish(self)

    WebRequest.finish = finish
    original_reply = Server.handle_reply

    async def handle_reply(self, protocol, message):
        await original_reply(self, protocol, message)
        if message.get("more_body") and message.get("type") == "http.response.body":
            flush(protocol)

    Server.handle_reply = handle_reply


def _freeze_startup_objects() -> None:
    """Everything loaded at start-up (Django, the apps, Twisted, the SDK's pydantic types: some 200,000 objects)
    lives as long as the process. Left to the cyclic collector, every full collection walks all of it: under load
    that measured a 115 ms pause every few seconds, 0.1 ms of CPU per gateway call and a doubled p99. Frozen, a
    collection walks only what requests created. The modules the hot path imports on first use are loaded first
    so that they are frozen too."""
    import contextlib
    import gc
    import importlib

    for name in ("gateway.bridge", "mcp.shared.exceptions", "redis.asyncio"):
        with contextlib.suppress(ImportError):  # an optional part this deployment does not use
            importlib.import_module(name)
    gc.collect()
    gc.freeze()


_skip_twisted_form_parsing()
_redact_daphne_access_log()
_drop_twisted_request_log()
_flush_daphne_replies()
_freeze_startup_objects()
