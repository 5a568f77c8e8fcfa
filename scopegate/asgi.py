"""ASGI entry point: Django views, the MCP gateway under /mcp/ and WebSockets under /ws/."""

import os

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "scopegate.settings")

from django.core.asgi import get_asgi_application

django_application = get_asgi_application()  # loads the apps before the routes import models

from scopegate.routing import build_application  # noqa: E402

application = build_application(django_application)
