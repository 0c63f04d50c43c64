"""The site directory as open data: the official file (`official.sites_export_official`),
described by a Table Schema, its bytes and ETag kept in the cache until a site changes, so
that /donnees/ serves it like the statistics' files (the portal lists it beside them)."""

import io
from datetime import datetime

from django.db.models import Count, Max, Q
from django.utils import timezone

from creneau.core.cache import bytes_kept
from creneau.sites.models import Site
from creneau.sites.selectors import public_sites_q

from .official import COLUMNS, sites_export_official

SLUG = "lieux-vaccination"
TITLE = "Lieux de vaccination"
DESCRIPTION = (
    "L'annuaire des lieux de vaccination de Créneau, publiés ou fermés, dans le format du "
    "fichier officiel « Lieux de vaccination contre la Covid-19 » (data.gouv.fr) : le "
    "réimporter ne change rien. Les colonnes que Créneau ne tient pas sont vides."
)
DAYS = ("lundi", "mardi", "mercredi", "jeudi", "vendredi", "samedi", "dimanche")
# What Créneau writes in each column it fills; the others stay empty.
FILLED = {
    "gid": (
        "integer",
        "Identifiant du lieu dans le fichier officiel ; vide pour un lieu "
        "que le fichier officiel ne connaît pas encore.",
    ),
    "nom": ("string", "Nom du lieu."),
    "adr_voie": ("string", "Adresse (numéro et voie)."),
    "com_cp": ("string", "Code postal."),
    "com_insee": ("string", "Code INSEE de la commune."),
    "com_nom": ("string", "Nom de la commune."),
    "lat_coor1": ("number", "Latitude (WGS 84)."),
    "long_coor1": ("number", "Longitude (WGS 84)."),
    "_edit_datemaj": ("string", "Dernière modification, AAAA-MM-JJ HH:MM:SS.ffffff (Paris)."),
    "lieu_accessibilite": ("string", "Accessibilité, ou à défaut le numéro FINESS."),
    **{f"rdv_{day}": ("string", f"Horaires du {day}.") for day in DAYS},
    "rdv_site_web": ("string", "Adresse de prise de rendez-vous en ligne."),
    "rdv_tel": ("string", "Téléphone de prise de rendez-vous."),
    "centre_fermeture": ("boolean", "Lieu fermé : t (oui) ou f (non)."),
    "reserve_professionels_sante": (
        "boolean",
        "Réservé aux professionnels de santé : t (oui) ou f (non).",
    ),
    "centre_type": ("string", "Type de lieu, liste entre accolades ({Equipe mobile})."),
}


def _field(name: str) -> dict:
    kind, description = FILLED.get(name, ("string", "Non renseigné par Créneau (vide)."))
    field = {"name": name, "type": kind, "description": description}
    if kind == "boolean":
        field |= {"trueValues": ["t"], "falseValues": ["f"]}
    return field


def schema() -> dict:
    """The Table Schema (frictionless) of the file: the official file's 43 columns (the
    portal adds the licence, the one of every file of /donnees/)."""
    return {
        "name": SLUG,
        "title": TITLE,
        "description": DESCRIPTION,
        "fields": [_field(name) for name in COLUMNS],
        "missingValues": [""],
    }


def sites_file(*, now: datetime | None = None) -> tuple[bytes, str]:
    """The file's bytes and ETag, written once per state of the directory: the last change
    to a site and the number of sites the file lists (a draft whose publication time comes
    joins it without a change to its row)."""
    now = now or timezone.now()
    state = Site.objects.filter(public_sites_q(now=now) | Q(status=Site.Status.CLOSED)).aggregate(
        changed=Max("updated_at"), listed=Count("pk")
    )
    changed = state["changed"] and state["changed"].isoformat()

    def render() -> bytes:
        out = io.StringIO()
        sites_export_official(out=out, now=now)
        return out.getvalue().encode()

    return bytes_kept(
        key=f"interop:sites-file:{changed}:{state['listed']}", render=render, seconds=24 * 3600
    )
