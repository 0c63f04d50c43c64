"""A booking as an iCalendar file (RFC 5545): one event per dose, for any calendar app,
each with a reminder the day before."""

from datetime import UTC, datetime

from django.utils.translation import gettext as _

from creneau.geography.selectors import department_timezone

from . import tokens
from .models import Appointment, Series

# Lines longer than 75 octets are folded (RFC 5545, 3.1).
_LINE_OCTETS = 75


def _escape(text: str) -> str:
    return (
        text.replace("\\", "\\\\")
        .replace(";", "\\;")
        .replace(",", "\\,")
        .replace("\r\n", "\\n")
        .replace("\n", "\\n")
    )


def _fold(line: str) -> str:
    encoded = line.encode()
    if len(encoded) <= _LINE_OCTETS:
        return line
    parts, current = [], b""
    for character in line:
        octets = character.encode()
        limit = _LINE_OCTETS if not parts else _LINE_OCTETS - 1
        if len(current) + len(octets) > limit:
            parts.append(current.decode())
            current = b""
        current += octets
    parts.append(current.decode())
    return "\r\n ".join(parts)


def _utc(moment: datetime) -> str:
    return moment.astimezone(UTC).strftime("%Y%m%dT%H%M%SZ")


def series_icalendar(
    *, series: Series, appointments: list[Appointment], url: str, now: datetime | None = None
) -> str:
    """Both doses of a booking; cancelled ones stay as cancelled events so that a calendar
    that imported them before can strike them out."""
    reference = tokens.reference_display(series.reference)
    site = series.site
    location = ", ".join(part for part in (site.name, site.address, site.postcode) if part)
    # One contact books for several relatives: the events of two people at the same hour
    # must say whose each one is, in the list of a calendar app and in its reminder.
    person = f"{series.person.given_name} {series.person.family_name}"
    tz = department_timezone(department_code=site.department_id)
    stamp = _utc(now or datetime.now(UTC))
    lines = [
        "BEGIN:VCALENDAR",
        "VERSION:2.0",
        "PRODID:-//Créneau//Vaccination//FR",
        "CALSCALE:GREGORIAN",
        "METHOD:PUBLISH",
    ]
    for appointment in appointments:
        slot = appointment.slot
        cancelled = appointment.status == Appointment.Status.CANCELLED
        summary = _("Vaccination de %(person)s : %(vaccine)s, dose %(dose)s") % {
            "person": person,
            "vaccine": series.vaccine.name,
            "dose": appointment.dose_number,
        }
        description = _(
            "Rendez-vous de %(person)s. Référence %(reference)s. Apportez une pièce "
            "d'identité et votre carte Vitale si vous en avez une. Pour déplacer ou "
            "annuler : %(url)s"
        ) % {"person": person, "reference": reference, "url": url}
        lines += [
            "BEGIN:VEVENT",
            f"UID:{series.reference}-{appointment.dose_number}-{appointment.pk}@creneau",
            f"DTSTAMP:{stamp}",
            f"SEQUENCE:{series.version}",
            f"DTSTART:{_utc(slot.start)}",
            f"DTEND:{_utc(slot.end)}",
            f"SUMMARY:{_escape(summary)}",
            f"LOCATION:{_escape(location)}",
            f"GEO:{site.latitude:.6f};{site.longitude:.6f}",
            f"DESCRIPTION:{_escape(description)}",
            f"URL:{url}",
            f"STATUS:{'CANCELLED' if cancelled else 'CONFIRMED'}",
        ]
        if not cancelled:
            # Some calendar apps ring the alarms of a cancelled event all the same.
            reminder = _(
                "Demain à %(time)s : vaccination de %(person)s (dose %(dose)s), %(site)s"
            ) % {
                "time": slot.start.astimezone(tz).strftime("%H:%M"),
                "person": person,
                "dose": appointment.dose_number,
                "site": site.name,
            }
            lines += [
                "BEGIN:VALARM",
                "ACTION:DISPLAY",
                "TRIGGER:-P1D",
                f"DESCRIPTION:{_escape(reminder)}",
                "END:VALARM",
            ]
        lines.append("END:VEVENT")
    lines.append("END:VCALENDAR")
    return "\r\n".join(_fold(line) for line in lines) + "\r\n"
