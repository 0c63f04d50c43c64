from django.apps import AppConfig


class OutreachConfig(AppConfig):
    name = "creneau.outreach"
    label = "outreach"
    verbose_name = "Messages"
