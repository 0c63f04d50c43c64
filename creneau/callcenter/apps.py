from django.apps import AppConfig


class CallcenterConfig(AppConfig):
    name = "creneau.callcenter"
    verbose_name = "Call centre"
