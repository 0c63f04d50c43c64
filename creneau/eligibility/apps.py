from django.apps import AppConfig


class EligibilityConfig(AppConfig):
    name = "creneau.eligibility"
    label = "eligibility"
    verbose_name = "Éligibilité"
