from django.apps import AppConfig


class PrivacyConfig(AppConfig):
    name = "creneau.privacy"
    verbose_name = "Données personnelles"

    def ready(self) -> None:
        from . import jobs  # noqa: F401 (declares its background jobs)
