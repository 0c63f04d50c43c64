from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class AuditConfig(AppConfig):
    name = "creneau.audit"
    label = "audit"
    verbose_name = _("Journal d'audit")

    def ready(self) -> None:
        from . import jobs  # noqa: F401 (declares its background jobs)
