from django.apps import AppConfig


class CampaignsConfig(AppConfig):
    name = "creneau.campaigns"
    label = "campaigns"
    verbose_name = "Campagnes d'invitation"

    def ready(self) -> None:
        from . import messages  # noqa: F401 (declares the secrets its messages carry)
