from django.apps import AppConfig


class PoliciesConfig(AppConfig):
    name = "policies"
    verbose_name = "Agents, keys and permission rules"

    def ready(self) -> None:
        from policies import selectors  # noqa: F401  (registers the home page's "agent" step)
