from django.apps import AppConfig


class WaitlistConfig(AppConfig):
    name = "creneau.waitlist"
    label = "waitlist"
    verbose_name = "Liste d'attente"

    def ready(self) -> None:
        from . import messages  # noqa: F401 (declares the links its messages carry)
