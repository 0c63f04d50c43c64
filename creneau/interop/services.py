"""Writes of the interop app: registering other platforms, confirming their sites, and
importing their SMART Scheduling Links feeds into the small tables search reads.

`feed_import` reads the whole feed first (`feeds.py`, every read bounded), then writes it
in one transaction: a feed that fails half-way, or that suddenly says it has nothing,
changes nothing but the platform's health (its last error), and search keeps showing the
last good read, marked "not confirmed" once it is older than `INTEROP_STALE_MINUTES`.
"""

import math
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from difflib import SequenceMatcher

from django.conf import settings
from django.db import connection, transaction
from django.db.models import F
from django.utils import timezone
from django.utils.translation import gettext

from creneau.audit.services import audit_record
from creneau.core.actor import Actor
from creneau.core.db import unit_of_work
from creneau.core.errors import InvalidInput, NotFound
from creneau.core.geo import Position, distance_km, grid_cell, grid_cell_ranges
from creneau.geography.text import search_name
from creneau.sites.importer import SOURCE as OFFICIAL_SOURCE
from creneau.sites.importer import booking_url_clean, kind_derive
from creneau.sites.models import Site
from creneau.vaccines.models import Vaccine

from . import smart
from .feeds import FeedError, Limits, json_line, lines_read, manifest_read, url_check
from .models import ExternalAvailability, ExternalLocation, ExternalPlatform
from .snapshot import external_version_bump

# A feed's location and one of our sites are the same place when they are this close and
# their names alike (a location with an official id or FINESS number is matched by it).
MATCH_DISTANCE_KM = 0.15
MATCH_NAME_RATIO = 0.6
# Slots further ahead than this are not shown (nor is one in 1970).
HORIZON = timedelta(days=366)
MAX_SLOT_CAPACITY = 10_000
CHUNK = 1000


def _url_or_empty(value: object) -> str:
    """An http(s) link of at most 500 characters, or "" (the official importer's rule)."""
    return booking_url_clean(value) if isinstance(value, str) else ""


def _link(value: object) -> str:
    """A slot's booking link, checked at the cost a feed of a million slots allows: an
    http(s) address of at most 500 printable characters without spaces (what could harm
    in an href is another scheme, which this refuses), or ""."""
    if (
        isinstance(value, str)
        and len(value) <= 500
        and value.startswith(("https://", "http://"))
        and value.isprintable()
        and " " not in value
    ):
        return value
    return ""


def _text(value: object, length: int) -> str:
    return " ".join(value.split())[:length] if isinstance(value, str) else ""


# Registering and confirming -----------------------------------------------------------


@unit_of_work
def platform_register(*, actor: Actor, name: str, manifest_url: str) -> ExternalPlatform:
    """A platform whose feed the worker will read; its URL must not reach our own networks
    (unless its host is in INTEROP_PRIVATE_HOSTS)."""
    name = " ".join(name.split())
    if not 1 <= len(name) <= 100:
        raise InvalidInput(gettext("Le nom va de 1 à 100 caractères."), field="name")
    manifest_url = manifest_url.strip()
    if not _url_or_empty(manifest_url):
        raise InvalidInput(gettext("Adresse du manifeste invalide."), field="manifest_url")
    try:
        url_check(manifest_url, private_hosts=settings.INTEROP_PRIVATE_HOSTS)
    except FeedError as error:
        raise InvalidInput(error.message, field="manifest_url") from None
    if ExternalPlatform.objects.filter(name__iexact=name).exists():
        raise InvalidInput(gettext("Une plateforme porte déjà ce nom."), field="name")
    platform = ExternalPlatform.objects.create(name=name, manifest_url=manifest_url)
    external_version_bump()
    audit_record(
        actor=actor,
        action="create",
        obj=platform,
        summary=gettext("Plateforme externe enregistrée : %(name)s") % {"name": name},
        details={"manifest_url": manifest_url},
    )
    return platform


@unit_of_work
def platform_external_sites_confirm(*, actor: Actor, platform_id: int) -> int:
    """The authority has looked at a sample of the platform's locations that match none of
    our sites: they are shown as its external sites from now on. The number shown."""
    platform = ExternalPlatform.objects.filter(pk=platform_id).first()
    if platform is None:
        raise NotFound(gettext("Plateforme introuvable : %(id)s.") % {"id": platform_id})
    if not ExternalPlatform.objects.filter(
        pk=platform_id, external_sites_confirmed_at__isnull=True
    ).update(external_sites_confirmed_at=timezone.now()):
        raise InvalidInput(gettext("Les lieux de cette plateforme sont déjà confirmés."))
    shown = ExternalLocation.objects.filter(
        platform_id=platform_id, site__isnull=True, listed=True
    ).count()
    external_version_bump()
    audit_record(
        actor=actor,
        action="change",
        obj=platform,
        summary=gettext("Lieux externes confirmés : %(name)s (%(count)d)")
        % {"name": platform.name, "count": shown},
    )
    return shown


# Reading a feed -----------------------------------------------------------------------


@dataclass
class FeedLocation:
    external_id: str
    name: str
    address: str
    postcode: str
    city: str
    position: Position | None
    official_id: str
    finess: str
    own_id: int | None
    phone: str
    url: str


@dataclass
class Feed:
    """A whole feed, read and checked, aggregated per location, product, dose and day."""

    locations: dict[str, FeedLocation] = field(default_factory=dict)
    # (location id, vaccine id, dose, local day) -> [free, first start, link, phone]
    days: dict[tuple[str, int | None, int, date], list] = field(default_factory=dict)
    slots: int = 0
    ignored: int = 0


def _position(resource: dict) -> Position | None:
    position = resource.get("position")
    if not isinstance(position, dict):
        return None
    latitude, longitude = position.get("latitude"), position.get("longitude")
    if not all(
        isinstance(v, int | float) and not isinstance(v, bool) for v in (latitude, longitude)
    ):
        return None
    if not (math.isfinite(latitude) and math.isfinite(longitude)):
        return None
    if not (-90 <= latitude <= 90 and -180 <= longitude <= 180) or (latitude, longitude) == (0, 0):
        return None
    return Position(float(latitude), float(longitude))


def _resource_id(resource: dict, *, number: int, url: str) -> str:
    value = resource.get("id")
    if not isinstance(value, str) or not 1 <= len(value) <= 64:
        raise FeedError(
            gettext("Ligne %(line)d sans identifiant valide : %(url)s")
            % {"line": number, "url": url[:200]}
        )
    return value


def _location_parse(resource: dict, *, number: int, url: str, own_system: str) -> FeedLocation:
    external_id = _resource_id(resource, number=number, url=url)
    identifiers = {}
    for identifier in resource.get("identifier") or ():
        if isinstance(identifier, dict) and isinstance(identifier.get("value"), str):
            identifiers.setdefault(identifier.get("system"), identifier["value"][:50])
    address = resource.get("address") if isinstance(resource.get("address"), dict) else {}
    lines = address.get("line") if isinstance(address.get("line"), list) else []
    telecom = [t for t in resource.get("telecom") or () if isinstance(t, dict)]
    own = identifiers.get(own_system, "")
    return FeedLocation(
        external_id=external_id,
        name=_text(resource.get("name"), 200) or external_id,
        address=_text(" ".join(line for line in lines if isinstance(line, str)), 250),
        postcode=_text(address.get("postalCode"), 10),
        city=_text(address.get("city"), 100),
        position=_position(resource),
        official_id=identifiers.get(smart.OFFICIAL_ID_SYSTEM, ""),
        finess=identifiers.get(smart.FINESS_SYSTEM, "")[:9],
        own_id=int(own) if own.isdigit() and len(own) < 12 else None,
        phone=next((_text(t.get("value"), 30) for t in telecom if t.get("system") == "phone"), ""),
        url=next((_url_or_empty(t.get("value")) for t in telecom if t.get("system") == "url"), ""),
    )


def _reference(value: object, kind: str) -> str | None:
    reference = value.get("reference") if isinstance(value, dict) else None
    if isinstance(reference, str) and reference.startswith(f"{kind}/"):
        return reference.removeprefix(f"{kind}/")
    return None


def _vaccine_id(
    coding: object, vaccines: dict[str, int], by_eu_number: dict[str, int], public_url: str
) -> int | None:
    if not isinstance(coding, dict) or not isinstance(coding.get("code"), str):
        return None
    if coding.get("system") == smart.CVX:
        return vaccines.get(smart.VACCINE_BY_CVX.get(coding["code"], ""))
    if coding.get("system") == smart.EU_REGISTER:
        return by_eu_number.get(coding["code"])
    if coding.get("system") == smart.vaccine_system(public_url):
        return vaccines.get(coding["code"])
    return None


def _instant(value: object) -> datetime | None:
    if not isinstance(value, str) or len(value) > 40:
        return None
    try:
        instant = datetime.fromisoformat(value)
    except ValueError:
        return None
    return instant if instant.tzinfo is not None else None


def feed_read(*, platform: ExternalPlatform, now: datetime, limits: Limits) -> tuple[object, Feed]:
    """The manifest (None: unchanged since the last good read) and the feed it names."""
    manifest = manifest_read(
        platform.manifest_url,
        limits=limits,
        etag=platform.etag,
        last_modified=platform.last_modified,
    )
    feed = Feed()
    if manifest is None:
        return None, feed
    public_url = settings.PUBLIC_URL
    own_system = smart.site_system(public_url)
    for url in manifest.files["Location"]:
        for number, line in lines_read(url, limits=limits):
            resource = json_line(line, number=number, url=url)
            if resource.get("resourceType") != "Location":
                continue
            location = _location_parse(resource, number=number, url=url, own_system=own_system)
            if location.external_id in feed.locations:
                raise FeedError(
                    gettext("Lieu en double : %(id)s (%(url)s)")
                    % {"id": location.external_id, "url": url[:200]}
                )
            feed.locations[location.external_id] = location

    vaccines = dict(Vaccine.objects.values_list("code", "id"))
    by_eu_number = dict(Vaccine.objects.exclude(eu_number="").values_list("eu_number", "id"))
    schedules: dict[str, tuple[str, int | None, int]] = {}
    for url in manifest.files["Schedule"]:
        for number, line in lines_read(url, limits=limits):
            resource = json_line(line, number=number, url=url)
            if resource.get("resourceType") != "Schedule":
                continue
            schedule_id = _resource_id(resource, number=number, url=url)
            actors = resource.get("actor") if isinstance(resource.get("actor"), list) else []
            location_id = next(
                (ref for actor in actors if (ref := _reference(actor, "Location"))), None
            )
            if location_id not in feed.locations:
                continue
            dose = smart.extension_value(resource, smart.VACCINE_DOSE)
            dose = dose if isinstance(dose, int) and 1 <= dose <= 3 else 1
            product = smart.extension_value(resource, smart.VACCINE_PRODUCT)
            schedules[schedule_id] = (
                location_id,
                _vaccine_id(product, vaccines, by_eu_number, public_url),
                dose,
            )

    seen: set[str] = set()
    horizon = now + HORIZON
    # Days are local days; the zone read once (Django's lookup per call is slow).
    zone = timezone.get_current_timezone()
    for url in manifest.files["Slot"]:
        for number, line in lines_read(url, limits=limits):
            resource = json_line(line, number=number, url=url)
            if resource.get("resourceType") != "Slot":
                continue
            slot_id = _resource_id(resource, number=number, url=url)
            if slot_id in seen:
                raise FeedError(
                    gettext("Créneau en double : %(id)s (ligne %(line)d, %(url)s)")
                    % {"id": slot_id, "line": number, "url": url[:200]}
                )
            seen.add(slot_id)
            feed.slots += 1
            schedule = schedules.get(_reference(resource.get("schedule"), "Schedule") or "")
            start, end = _instant(resource.get("start")), _instant(resource.get("end"))
            capacity = smart.extension_value(resource, smart.SLOT_CAPACITY)
            capacity = 1 if capacity is None else capacity
            if (
                schedule is None
                or resource.get("status") != "free"
                or start is None
                or end is None
                or not now <= start <= horizon
                or end <= start
                or not isinstance(capacity, int)
                or not 1 <= capacity <= MAX_SLOT_CAPACITY
            ):
                feed.ignored += 1
                continue
            location_id, vaccine_id, dose = schedule
            day = start.astimezone(zone).date()
            key = (location_id, vaccine_id, dose, day)
            known = feed.days.get(key)
            if known is None:
                link = _link(smart.extension_value(resource, smart.BOOKING_DEEP_LINK))
                phone = _text(smart.extension_value(resource, smart.BOOKING_PHONE), 30)
                feed.days[key] = [capacity, start, link, phone]
                continue
            known[0] += capacity
            if start < known[1]:
                known[1] = start
                known[2] = (
                    _link(smart.extension_value(resource, smart.BOOKING_DEEP_LINK)) or known[2]
                )
    return manifest, feed


# Writing it ---------------------------------------------------------------------------


@dataclass
class FeedImportReport:
    platform: str
    unchanged: bool = False
    locations: int = 0
    matched: int = 0
    external: int = 0
    without_position: int = 0
    slots: int = 0
    ignored: int = 0
    days: int = 0
    error: str = ""


LOCATION_FIELDS = [
    *("site", "name", "kind", "address", "postcode", "city", "latitude", "longitude"),
    *("grid_cell", "official_id", "finess", "phone", "url", "listed"),
]


class _Directory:
    """Our sites, looked up by official id, FINESS, id, and by grid cell for the position."""

    def __init__(self) -> None:
        self.by_official: dict[str, int] = {}
        self.by_finess: dict[str, int] = {}
        self.by_cell: dict[int, list[tuple[int, str, Position]]] = {}
        self.positions: dict[int, tuple[str, Position]] = {}
        rows = Site.objects.values_list(
            "id", "name", "latitude", "longitude", "grid_cell", "source", "external_id", "finess"
        )
        for site_id, name, latitude, longitude, cell, source, external_id, finess in rows.iterator(
            chunk_size=5000
        ):
            position = Position(latitude, longitude)
            self.positions[site_id] = (name, position)
            self.by_cell.setdefault(cell, []).append((site_id, search_name(name), position))
            if source == OFFICIAL_SOURCE and external_id:
                self.by_official[external_id] = site_id
            if finess:
                self.by_finess[finess] = site_id

    def match(self, location: FeedLocation) -> int | None:
        if location.own_id in self.positions:
            return location.own_id
        if location.official_id in self.by_official:
            return self.by_official[location.official_id]
        if location.finess in self.by_finess:
            return self.by_finess[location.finess]
        if location.position is None:
            return None
        name = search_name(location.name)
        best, best_ratio = None, MATCH_NAME_RATIO
        for low, high in grid_cell_ranges(location.position, MATCH_DISTANCE_KM):
            for cell in range(low, high + 1):
                for site_id, site_name, position in self.by_cell.get(cell, ()):
                    if distance_km(location.position, position) >= MATCH_DISTANCE_KM:
                        continue
                    ratio = SequenceMatcher(None, name, site_name).ratio()
                    if ratio >= best_ratio:
                        best, best_ratio = site_id, ratio
        return best


def feed_import(
    *, platform_id: int, now: datetime | None = None, limits: Limits | None = None
) -> FeedImportReport:
    """Read a platform's feed and replace what we show of it, in one transaction; on any
    refusal, record it as the platform's last error and change nothing else. Whatever the
    outcome, search's snapshot is read again: at least the platform's health changed."""
    now = now or timezone.now()
    platform = ExternalPlatform.objects.filter(pk=platform_id).first()
    if platform is None:
        raise NotFound(gettext("Plateforme introuvable : %(id)s.") % {"id": platform_id})
    report = FeedImportReport(platform=platform.name)
    ExternalPlatform.objects.filter(pk=platform_id).update(last_attempt_at=now)
    try:
        manifest, feed = feed_read(
            platform=platform, now=now, limits=limits or Limits.from_settings()
        )
        if manifest is None:
            # Unchanged since the last good read (304): it is still good, and now again.
            ExternalPlatform.objects.filter(pk=platform_id).update(
                last_success_at=now, errors_in_row=0
            )
            report.unchanged = True
            external_version_bump()
            return report
        if not feed.days and platform.slots:
            raise FeedError(
                gettext(
                    "Flux soudainement vide (aucun créneau libre à venir, %(before)d au dernier "
                    "bon relevé) : le dernier bon relevé est gardé."
                )
                % {"before": platform.slots}
            )
        _feed_apply(platform_id=platform_id, manifest=manifest, feed=feed, now=now, report=report)
    except FeedError as error:
        ExternalPlatform.objects.filter(pk=platform_id).update(
            last_error=error.message[:1000], last_error_at=now, errors_in_row=F("errors_in_row") + 1
        )
        report.error = error.message
    external_version_bump()
    return report


@transaction.atomic
def _feed_apply(
    *, platform_id: int, manifest, feed: Feed, now: datetime, report: FeedImportReport
) -> None:
    # Two imports of one platform at once write one after the other.
    ExternalPlatform.objects.select_for_update().filter(pk=platform_id).first()
    directory = _Directory()
    existing = {
        location.external_id: location
        for location in ExternalLocation.objects.filter(platform_id=platform_id)
    }
    kept: dict[str, ExternalLocation] = {}
    to_create, to_update = [], []
    for external_id, location in feed.locations.items():
        site_id = directory.match(location)
        # A matched location is shown where and as our directory has the site.
        name, position = location.name, location.position
        if site_id is not None:
            name, position = directory.positions[site_id]
            report.matched += 1
        elif position is None:
            # Neither matched nor placeable: it cannot be shown by distance.
            report.without_position += 1
            continue
        else:
            report.external += 1
        values = {
            "site_id": site_id,
            "name": name,
            "kind": kind_derive(name=name, centre_types=[]),
            "address": location.address,
            "postcode": location.postcode,
            "city": location.city,
            "latitude": position.latitude,
            "longitude": position.longitude,
            "grid_cell": grid_cell(position),
            "official_id": location.official_id,
            "finess": location.finess,
            "phone": location.phone,
            "url": location.url,
            "listed": True,
        }
        row = existing.get(external_id)
        if row is None:
            row = ExternalLocation(platform_id=platform_id, external_id=external_id, **values)
            to_create.append(row)
        elif any(getattr(row, field) != value for field, value in values.items()):
            # Only what changed is written: a feed read every few minutes mostly repeats.
            for field_name, value in values.items():
                setattr(row, field_name, value)
            to_update.append(row)
        kept[external_id] = row
    absent = [
        row.pk for external_id, row in existing.items() if external_id not in kept and row.listed
    ]
    for start in range(0, len(absent), CHUNK):
        ExternalLocation.objects.filter(pk__in=absent[start : start + CHUNK]).update(listed=False)
    ExternalLocation.objects.bulk_create(to_create, batch_size=CHUNK)
    ExternalLocation.objects.bulk_update(to_update, LOCATION_FIELDS, batch_size=CHUNK)
    ExternalAvailability.objects.filter(location__platform_id=platform_id).delete()
    # Hundreds of thousands of rows: written as plain parameters (one executemany) rather
    # than model instances, which cost ten times the insert itself.
    ops = connection.ops
    rows = []
    for (location_id, vaccine_id, dose, day), (free, first, link, phone) in feed.days.items():
        location = kept.get(location_id)
        if location is None:
            continue
        rows.append(
            (
                location.pk,
                vaccine_id,
                dose,
                ops.adapt_datefield_value(day),
                free,
                ops.adapt_datetimefield_value(first),
                link or location.url,
                phone or location.phone,
            )
        )
        report.slots += free
    table = connection.ops.quote_name(ExternalAvailability._meta.db_table)
    with connection.cursor() as cursor:
        cursor.executemany(
            f"INSERT INTO {table} (location_id, vaccine_id, dose_number, date, free, "
            "first_free_start, booking_url, booking_phone) VALUES (%s, %s, %s, %s, %s, %s, %s, %s)",
            rows,
        )
    report.locations = len(kept)
    report.days = len(rows)
    report.ignored = feed.ignored
    ExternalPlatform.objects.filter(pk=platform_id).update(
        etag=manifest.etag,
        last_modified=manifest.last_modified,
        last_success_at=now,
        errors_in_row=0,
        locations=len(kept),
        slots=report.slots,
        slots_ignored=feed.ignored,
        locations_ignored=report.without_position,
    )
