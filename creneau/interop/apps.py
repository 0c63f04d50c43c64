from django.apps import AppConfig


class InteropConfig(AppConfig):
    name = "creneau.interop"
    label = "interop"
    verbose_name = "Interopérabilité"

    def ready(self) -> None:
        from . import jobs  # noqa: F401 (declares its background jobs)
