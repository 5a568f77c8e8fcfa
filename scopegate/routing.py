from channels.auth import AuthMiddlewareStack
from channels.routing import ProtocolTypeRouter, URLRouter
from channels.security.websocket import AllowedHostsOriginValidator
from django.urls import re_path

from accounts.consumers import OrgEventsConsumer
from audit.consumers import ActivityConsumer
from gateway.consumers import McpEndpointConsumer


def build_application(django_application):
    http = URLRouter(
        [
            re_path(r"^mcp/(?P<agent_ref>[A-Za-z0-9_-]{1,64})/?$", McpEndpointConsumer.as_asgi()),
            re_path(
                r"^mcp/(?P<agent_ref>[A-Za-z0-9_-]{1,64})/(?P<key>[A-Za-z0-9_-]{1,100})/?$",
                McpEndpointConsumer.as_asgi(),
            ),
            re_path(r"^mcp(/.*)?$", McpEndpointConsumer.as_asgi()),
            re_path(r"", django_application),
        ]
    )
    websocket = AllowedHostsOriginValidator(
        AuthMiddlewareStack(
            URLRouter(
                [
                    re_path(r"^ws/o/(?P<org_slug>[\w-]+)/events/$", OrgEventsConsumer.as_asgi()),
                    re_path(r"^ws/o/(?P<org_slug>[\w-]+)/activity/$", ActivityConsumer.as_asgi()),
                ]
            )
        )
    )
    return ProtocolTypeRouter({"http": http, "websocket": websocket})
