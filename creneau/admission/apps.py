from django.apps import AppConfig


class AdmissionConfig(AppConfig):
    name = "creneau.admission"
    label = "admission"
