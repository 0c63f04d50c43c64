"""What each racing process does: plain functions the children import by name."""

from datetime import date, time

from creneau.core.errors import DomainError
from creneau.scheduling.services import session_open
from creneau.sites.models import Site
from creneau.vaccines.models import Vaccine


def open_sessions(site_id: int, day: str, attempts: int) -> list[str]:
    site = Site.objects.select_related("department").get(pk=site_id)
    comirnaty = Vaccine.objects.get(code="comirnaty")
    outcomes = []
    for attempt in range(attempts):
        try:
            session_open(
                site=site,
                vaccine=comirnaty,
                day=date.fromisoformat(day),
                start_time=time(8 + attempt % 10),
                end_time=time(8 + attempt % 10, 30),
                lines=2,
            )
            outcomes.append("opened")
        except DomainError as error:
            outcomes.append(error.code)
    return outcomes
