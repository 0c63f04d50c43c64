from django.apps import AppConfig


class StatsConfig(AppConfig):
    name = "creneau.stats"
    verbose_name = "Statistiques"

    def ready(self) -> None:
        from . import jobs  # noqa: F401 (declares its background job)
