"""Reads of the alerts: which running alerts the places that just opened match (a bounding
box on the indexed position, then the exact distance), a contact's alerts, an alert link's
subscriptions."""

import math
from collections import defaultdict
from dataclasses import dataclass
from datetime import datetime
from functools import reduce
from operator import or_

from django.db.models import Exists, F, FloatField, OuterRef, Q
from django.db.models.functions import Cast
from django.db.models.lookups import LessThanOrEqual
from django.utils import timezone
from django.utils.translation import gettext

from creneau.booking.addresses import contact_address_index, contact_address_normalize
from creneau.booking.models import Contact, Series
from creneau.core.errors import InvalidInput
from creneau.core.geo import EARTH_RADIUS_KM, Position, distance_km
from creneau.scheduling.selectors import OpenedPlaces

from . import tokens
from .models import MAX_RADIUS_KM, Subscription

# Boxes per query: a busy minute opens places at hundreds of sites.
BOXES_PER_QUERY = 50
KM_PER_DEGREE = math.pi * EARTH_RADIUS_KM / 180
# The flat-earth distance, with the site's cosine of latitude, is within 1 % of the
# great-circle one over 50 km in France: 2 % more radius never leaves a match out.
FLAT_SLACK = 1.02


@dataclass(frozen=True)
class Match:
    """A running alert that places opened at a site match, and how far the site is."""

    subscription_id: int
    contact_id: int
    site_id: int
    distance_km: float


@dataclass(frozen=True)
class _Site:
    position: Position
    # The days with places opened (a dose 2 must fall inside the alert's window).
    days: frozenset

    def near(self) -> Q:
        """Alerts whose radius may reach the site: a box of MAX_RADIUS_KM (two ranges, on
        the index), then a flat-earth distance against each alert's own radius, a little
        generous (the exact distance decides after), so that the rows out of reach are
        never read into Python."""
        lat = self.position.latitude
        lat_delta = MAX_RADIUS_KM / KM_PER_DEGREE
        widest = min(89.0, abs(lat) + lat_delta)
        lon_delta = MAX_RADIUS_KM / (KM_PER_DEGREE * math.cos(math.radians(widest)))
        north = (F("latitude") - lat) * KM_PER_DEGREE
        east = (F("longitude") - self.position.longitude) * (
            KM_PER_DEGREE * math.cos(math.radians(lat))
        )
        reach = Cast("radius_km", FloatField()) * FLAT_SLACK
        return Q(
            LessThanOrEqual(north * north + east * east, reach * reach),
            latitude__gte=lat - lat_delta,
            latitude__lte=lat + lat_delta,
            longitude__gte=self.position.longitude - lon_delta,
            longitude__lte=self.position.longitude + lon_delta,
        )


def subscriptions_matching(*, opened: list[OpenedPlaces], now: datetime) -> list[Match]:
    """The running alerts each opened place is for: same vaccine and dose, the site within
    the alert's own radius of its place, and for a dose 2 a day inside its window.

    Set-based: per vaccine and dose, one query for up to BOXES_PER_QUERY sites, each a box
    of MAX_RADIUS_KM on the index `alert_box` narrowed by a flat-earth distance in SQL;
    then the exact distance of the rows read."""
    groups: dict[tuple[int, int], dict[int, _Site]] = defaultdict(dict)
    for place in opened:
        sites = groups[(place.vaccine_id, place.dose_number)]
        known = sites.get(place.site_id)
        days = frozenset({place.date}) | (known.days if known else frozenset())
        sites[place.site_id] = _Site(Position(place.latitude, place.longitude), days)
    matches = []
    for (vaccine_id, dose_number), sites in groups.items():
        site_ids = sorted(sites)
        for start in range(0, len(site_ids), BOXES_PER_QUERY):
            chunk = {
                site_id: sites[site_id] for site_id in site_ids[start : start + BOXES_PER_QUERY]
            }
            rows = (
                Subscription.objects.filter(
                    reduce(or_, (site.near() for site in chunk.values())),
                    status=Subscription.Status.ACTIVE,
                    vaccine_id=vaccine_id,
                    dose_number=dose_number,
                    expires_at__gt=now,
                )
                .order_by()
                .values_list(
                    "pk",
                    "contact_id",
                    "latitude",
                    "longitude",
                    "radius_km",
                    "window_from",
                    "window_to",
                )
            )
            for pk, contact_id, latitude, longitude, radius, first, last in rows:
                here = Position(latitude, longitude)
                for site_id, site in chunk.items():
                    # A degree of latitude is 111 km: most sites of the chunk are out at once.
                    if abs(site.position.latitude - latitude) * KM_PER_DEGREE > radius:
                        continue
                    distance = distance_km(here, site.position)
                    if distance > radius:
                        continue
                    if first is not None and not any(first <= day <= last for day in site.days):
                        continue
                    matches.append(Match(pk, contact_id, site_id, round(distance, 1)))
    return matches


def subscriptions_booked(*, subscription_ids: list[int]) -> list[int]:
    """Those whose person has booked a course since subscribing (any contact): their
    alert is over, whatever the matching found."""
    booked = Series.objects.filter(
        person_key=OuterRef("person_key"),
        status=Series.Status.ACTIVE,
        created_at__gte=OuterRef("created_at"),
    )
    found = []
    for start in range(0, len(subscription_ids), CHUNK):
        found += Subscription.objects.filter(
            Exists(booked), pk__in=subscription_ids[start : start + CHUNK]
        ).values_list("pk", flat=True)
    return found


# Ids per query: well under SQLite's limit on bound parameters.
CHUNK = 1000


def contact_subscriptions(*, contact: Contact) -> list[Subscription]:
    """A contact's running alerts (the portal's page), oldest first."""
    return list(
        Subscription.objects.filter(
            contact=contact, status=Subscription.Status.ACTIVE, expires_at__gt=timezone.now()
        )
        .select_related("vaccine")
        .order_by("created_at", "pk")
    )


def caller_subscriptions(*, phone: str = "", email: str = "") -> list[Subscription]:
    """The running alerts of the contact a caller gives (the call centre): found by the
    blind index of the address, none when nobody has it. A number or address that cannot
    be one is refused plainly (InvalidInput on its field)."""
    _, address = contact_address_normalize(phone=phone or None, email=email or None)
    contact = Contact.objects.filter(address_index=contact_address_index(address)).first()
    return contact_subscriptions(contact=contact) if contact is not None else []


def stop_link_read(*, token: str) -> list[int]:
    """The alerts a "stop" link names; a forged, altered or old key is refused plainly."""
    ids = tokens.stop_ids_read(token=token)
    if ids is None:
        raise InvalidInput(
            gettext(
                "Ce lien d'arrêt des alertes n'est pas valable : il a été modifié ou coupé, ou "
                "il date de plus de 40 jours. Rien n'a été changé."
            )
        )
    return ids
