import datetime as dt

from django.core.management.base import BaseCommand, CommandError, CommandParser

from creneau.stats.services import stats_rebuild

# A campaign lasts months, not decades: a typo in a year is refused, not run for hours.
MAX_DAYS = 3660


def _day(text: str) -> dt.date:
    try:
        return dt.date.fromisoformat(text)
    except ValueError:
        raise CommandError(f"not a day (YYYY-MM-DD): {text[:20]!r}") from None


class Command(BaseCommand):
    help = (
        "Recompute the statistics' summary tables from the rows, every day from --from to "
        "--to (included), in one transaction; the days after keep running sums that agree."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--from", dest="first", required=True, help="first day, YYYY-MM-DD")
        parser.add_argument("--to", dest="last", required=True, help="last day, YYYY-MM-DD")

    def handle(self, *args, first: str, last: str, **options) -> None:
        first_day, last_day = _day(first), _day(last)
        if last_day < first_day:
            raise CommandError("--to is before --from")
        if (last_day - first_day).days >= MAX_DAYS:
            raise CommandError(f"more than {MAX_DAYS} days: give a shorter range")
        refreshed = stats_rebuild(first=first_day, last=last_day)
        self.stdout.write(
            f"{(last_day - first_day).days + 1} day(s) rebuilt, "
            f"{refreshed.appointment_rows} appointment rows, "
            f"{refreshed.vaccination_rows} vaccination rows."
        )
