from django.apps import AppConfig


class CampaignsConfig(AppConfig):
    name = "creneau.campaigns"
    label = "campaigns"
    verbose_name = "Campagnes d'invitation"

    def ready(self) -> None:
        # Declares the secrets its messages carry, and its background job.
        from . import jobs, messages  # noqa: F401
