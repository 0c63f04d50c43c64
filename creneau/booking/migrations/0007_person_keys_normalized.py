"""Person.match_key and Series.person_key recomputed with creneau.core.text's comparison
form (invisible characters, full case folding, letters such as "ø" and "ł"; "St" is no
longer read as "Saint" in a name).

Rows whose new keys collide were two look-alike entries of one person. Nothing is merged
or cancelled here (that would change bookings without telling anyone): the oldest row
keeps the key, each later one gets it followed by "#<its id>", so that the constraints
still hold and the pair can be found (`match_key LIKE '%#%'`); their ids and references
are logged for an agent to call the contact. New bookings of that person find the oldest.
"""

import logging

from django.db import migrations

# The application's own function: the keys must be those the booking service computes.
from creneau.booking.persons import person_match_key

log = logging.getLogger("creneau.migrations")


def _keys_set(model, final: dict[int, str], field: str) -> None:
    """Two passes, so that a row never takes a key another row still holds for a moment."""
    current = dict(model.objects.filter(pk__in=final).values_list("pk", field))
    changed = {pk: key for pk, key in final.items() if current[pk] != key}
    for pk in changed:
        model.objects.filter(pk=pk).update(**{field: f"#migrating{pk}"})
    for pk, key in changed.items():
        model.objects.filter(pk=pk).update(**{field: key})


def keys_recompute(apps, schema_editor):
    Person = apps.get_model("booking", "Person")
    Series = apps.get_model("booking", "Series")
    person_keys: dict[int, str] = {}
    taken: set[tuple[int, str]] = set()
    rows = Person.objects.order_by("pk").values_list(
        "pk", "contact_id", "given_name", "family_name", "birth_date"
    )
    for pk, contact_id, given, family, born in rows.iterator():
        key = person_match_key(given_name=given, family_name=family, birth_date=born)
        if (contact_id, key) in taken:
            log.warning("person %s: same person as an older one of contact %s", pk, contact_id)
            key = f"{key}#{pk}"
        taken.add((contact_id, key))
        person_keys[pk] = key
    _keys_set(Person, person_keys, "match_key")

    series_keys: dict[int, str] = {}
    active: set[str] = set()
    rows = Series.objects.order_by("pk").values_list("pk", "person_id", "status", "reference")
    for pk, person_id, status, reference in rows.iterator():
        key = person_keys[person_id]
        if status == "active":
            if key in active:
                log.warning("series %s: a second active course of one person", reference)
                key = f"{key}#{pk}"
            active.add(key)
        series_keys[pk] = key
    _keys_set(Series, series_keys, "person_key")


class Migration(migrations.Migration):
    dependencies = [("booking", "0006_hold_holder")]

    # Keys are unchanged by a return: the old form is not needed by anything.
    operations = [migrations.RunPython(keys_recompute, migrations.RunPython.noop)]
