from django.apps import AppConfig


class OutreachConfig(AppConfig):
    name = "creneau.outreach"
    label = "outreach"
    verbose_name = "Messages"

    def ready(self) -> None:
        from . import health  # noqa: F401 (declares its checks and metrics)
