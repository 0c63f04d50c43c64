from django.apps import AppConfig


class SchedulingConfig(AppConfig):
    name = "creneau.scheduling"
    label = "scheduling"
    verbose_name = "Sessions et créneaux"

    def ready(self) -> None:
        from . import jobs  # noqa: F401 (declares its background jobs)
