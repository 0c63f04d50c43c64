from django.apps import AppConfig


class SitesConfig(AppConfig):
    name = "creneau.sites"
    label = "sites"
    verbose_name = "Lieux de vaccination"

    def ready(self) -> None:
        from . import jobs  # noqa: F401 (declares its background jobs)
