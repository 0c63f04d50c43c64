"""The site directory written in the columns of the official list of vaccination sites
("Lieux de vaccination contre la Covid-19", data.gouv.fr), the file
`sites.services.sites_import_official` reads: so that the ministry's file can be fed from
ours, and ours checked against it.

Only what the importer reads is filled, the way it reads it, so that importing an export
changes nothing (`tests/interop/test_official.py`). A site the official file does not know
yet (one of ours) has an empty `gid`: the ministry gives the ids, and the importer skips
such a row (`invalid_id`) rather than take it for a new site of the file.
"""

import csv
from collections.abc import Iterator
from datetime import datetime
from typing import TextIO

from django.db.models import Q
from django.utils import timezone

from creneau.sites.importer import DAY_COLUMNS, HEALTH_PROFESSIONAL, SOURCE
from creneau.sites.models import Site
from creneau.sites.selectors import public_sites_q

# The 43 columns of the official file, in its order.
COLUMNS = (
    *("gid", "nom", "arrete_pref_numero", "xy_precis", "id_adr", "adr_num", "adr_voie"),
    *("com_cp", "com_insee", "com_nom", "lat_coor1", "long_coor1", "structure_siren"),
    *("structure_type", "structure_rais", "structure_num", "structure_voie", "structure_cp"),
    *("structure_insee", "structure_com", "_userid_creation", "_userid_modification"),
    *("_edit_datemaj", "lieu_accessibilite", "rdv_lundi", "rdv_mardi", "rdv_mercredi"),
    *("rdv_jeudi", "rdv_vendredi", "rdv_samedi", "rdv_dimanche", "rdv", "date_fermeture"),
    *("date_ouverture", "rdv_site_web", "rdv_tel", "rdv_tel2", "rdv_modalites"),
    *("rdv_consultation_prevaccination", "centre_svi_repondeur", "centre_fermeture"),
    *("reserve_professionels_sante", "centre_type"),
)
MOBILE_LABEL = "Equipe mobile"


def _row(site: Site) -> dict[str, str]:
    row = dict.fromkeys(COLUMNS, "")
    hours = site.opening_hours if isinstance(site.opening_hours, dict) else {}
    row.update(
        {
            "gid": site.external_id if site.source == SOURCE else "",
            "nom": site.name,
            "adr_voie": site.address,
            "com_cp": site.postcode,
            "com_insee": site.insee_code or site.commune_id or "",
            "com_nom": site.commune.name if site.commune else "",
            # repr: the shortest text that reads back as the same float.
            "lat_coor1": repr(site.latitude),
            "long_coor1": repr(site.longitude),
            "_edit_datemaj": timezone.localtime(site.updated_at).strftime("%Y-%m-%d %H:%M:%S.%f"),
            # The file's only place for a FINESS number, when there is no text to put there.
            "lieu_accessibilite": site.accessibility or site.finess,
            **{column: hours.get(day, "") for column, day in DAY_COLUMNS.items()},
            "rdv_site_web": site.booking_url,
            "rdv_tel": site.phone,
            "centre_fermeture": "t" if site.status == Site.Status.CLOSED else "f",
            "reserve_professionels_sante": "t"
            if HEALTH_PROFESSIONAL in (site.restricted_to or [])
            else "f",
            "centre_type": f'{{"{MOBILE_LABEL}"}}' if site.kind == Site.Kind.MOBILE else "{}",
        }
    )
    return row


def official_rows(*, now: datetime | None = None) -> Iterator[dict[str, str]]:
    """Public and closed sites, as rows of the official file; drafts are not the public's."""
    sites = (
        Site.objects.filter(public_sites_q(now=now) | Q(status=Site.Status.CLOSED))
        .select_related("commune")
        .order_by("id")
    )
    for site in sites.iterator(chunk_size=1000):
        yield _row(site)


def sites_export_official(*, out: TextIO, now: datetime | None = None) -> int:
    """Write the directory to `out` as the official file (UTF-8, `;`, one header row);
    the number of sites written."""
    writer = csv.DictWriter(out, fieldnames=COLUMNS, delimiter=";", lineterminator="\n")
    writer.writeheader()
    count = 0
    for row in official_rows(now=now):
        writer.writerow(row)
        count += 1
    return count
