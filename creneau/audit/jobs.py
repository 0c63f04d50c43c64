"""The audit log's daily seal, run by the worker (core.jobs; loaded by apps.py)."""

from datetime import time, timedelta

from creneau.core.jobs import background_job

from .services import audit_seal_due


@background_job("audit_seal", every=timedelta(days=1), at=time(0, 15))
def audit_seal_job() -> str:
    """Seals every past day not sealed yet, so a missed night is caught up."""
    return f"{len(audit_seal_due())} day(s) sealed"
