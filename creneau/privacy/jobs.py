"""privacy's background job, run by the worker (core.jobs; loaded by apps.py)."""

from datetime import time, timedelta

from django.conf import settings

from creneau.core.jobs import background_job

from .services import retention_purge


# At night, after the audit log's seal (00:15): only sealed days are ever purged.
@background_job("retention_purge", every=timedelta(days=1), at=time(3, 30))
def retention_purge_job() -> str:
    counts = retention_purge(audit=settings.RETENTION_AUDIT_PURGE)
    return " ".join(f"{kind}={count}" for kind, count in counts.items())
