from django.apps import AppConfig


class ConnectorsConfig(AppConfig):
    name = "connectors"
    verbose_name = "Connections and the tool catalogue"

    def ready(self) -> None:
        from connectors import selectors  # noqa: F401  (registers the home page's "connect" step)
