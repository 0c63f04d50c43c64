from django.apps import AppConfig


class OnboardingConfig(AppConfig):
    name = "creneau.onboarding"
    label = "onboarding"
    verbose_name = "Adhésion des lieux"

    def ready(self) -> None:
        # Declares the link its invitation e-mail carries (made when the e-mail is sent).
        from . import messages  # noqa: F401
