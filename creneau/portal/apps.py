from django.apps import AppConfig


class PortalConfig(AppConfig):
    name = "creneau.portal"
    verbose_name = "Portail public"
