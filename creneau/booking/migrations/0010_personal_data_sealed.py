"""Personal data encrypted at rest (core.crypto, core.fields): names, birth dates and
declared categories of persons, addresses and landlines of contacts; the keys that found
them (Person.match_key, Series.person_key, contacts by address and landline) become
blind indexes, and persons get the call centre's index (family name + birth date).

0008 made the columns plain text and added the index columns; here each row is sealed
with the current key and its indexes computed (the keys must be configured before
migrating: settings FIELD_ENCRYPTION_KEYS/FIELD_KEYS_FILE); 0010 declares the encrypted
fields (no change in the database).

Reversible while the keys are there: going back opens every value again and recomputes
the former plain keys. A key "#<id>" suffix left by 0007 on a look-alike twin is kept
both ways, so the constraints hold throughout. A copy of the database taken before this
migration still holds everything in clear: backups from before it are to be destroyed
on the schedule in docs/operations.md.
"""

import json

from django.db import migrations, models

from creneau.booking.addresses import contact_address_index, contact_landline_index
from creneau.booking.persons import (
    PERSON_PURPOSE,
    person_index,
    person_match_key,
    person_name_index,
)
from creneau.core.crypto import blind_index, value_decrypt, value_encrypt

PERSON_TEXT = ("given_name", "family_name", "birth_date", "categories")
CONTACT_TEXT = ("address", "landline")
BATCH = 500


def _suffix(key: str) -> str:
    return key[key.index("#") :] if "#" in key else ""


def _seal(model, field: str, value: str) -> str:
    return value_encrypt(value, purpose=f"{model._meta.db_table}.{field}") if value else value


def _open(model, field: str, value: str) -> str:
    return value_decrypt(value, purpose=f"{model._meta.db_table}.{field}") if value else value


def _rows(model, fields):
    pks = list(model.objects.order_by("pk").values_list("pk", flat=True))
    for start in range(0, len(pks), BATCH):
        yield from model.objects.filter(pk__in=pks[start : start + BATCH]).values("pk", *fields)


def encrypt(apps, schema_editor):
    Person = apps.get_model("booking", "Person")
    Series = apps.get_model("booking", "Series")
    Contact = apps.get_model("booking", "Contact")
    for row in _rows(Person, (*PERSON_TEXT, "match_key")):
        born = models.DateField().to_python(row["birth_date"])
        key = person_index(
            given_name=row["given_name"], family_name=row["family_name"], birth_date=born
        )
        Person.objects.filter(pk=row["pk"]).update(
            given_name=_seal(Person, "given_name", row["given_name"]),
            family_name=_seal(Person, "family_name", row["family_name"]),
            birth_date=_seal(Person, "birth_date", born.isoformat()),
            # PostgreSQL's jsonb turned into text keeps its own spacing: read it, write ours.
            categories=_seal(Person, "categories", json.dumps(json.loads(row["categories"]))),
            match_key=key + _suffix(row["match_key"]),
            name_index=person_name_index(family_name=row["family_name"], birth_date=born),
        )
    for row in _rows(Series, ("person_key",)):
        # The person's key as 0007 computed it: its index is what person_index gives.
        base = row["person_key"].split("#")[0]
        Series.objects.filter(pk=row["pk"]).update(
            person_key=blind_index(base, purpose=PERSON_PURPOSE) + _suffix(row["person_key"])
        )
    for row in _rows(Contact, CONTACT_TEXT):
        Contact.objects.filter(pk=row["pk"]).update(
            address=_seal(Contact, "address", row["address"]),
            address_index=contact_address_index(row["address"]),
            landline=_seal(Contact, "landline", row["landline"]),
            landline_index=contact_landline_index(row["landline"]),
        )


def decrypt(apps, schema_editor):
    Person = apps.get_model("booking", "Person")
    Series = apps.get_model("booking", "Series")
    Contact = apps.get_model("booking", "Contact")
    plain_keys = {}
    for row in _rows(Person, (*PERSON_TEXT, "match_key")):
        plain = {field: _open(Person, field, row[field]) for field in PERSON_TEXT}
        born = models.DateField().to_python(plain["birth_date"])
        key = person_match_key(
            given_name=plain["given_name"], family_name=plain["family_name"], birth_date=born
        )
        plain_keys[row["match_key"].split("#")[0]] = key
        Person.objects.filter(pk=row["pk"]).update(
            **{field: plain[field] for field in PERSON_TEXT},
            match_key=key + _suffix(row["match_key"]),
        )
    for row in _rows(Series, ("person_key",)):
        base = row["person_key"].split("#")[0]
        Series.objects.filter(pk=row["pk"]).update(
            person_key=plain_keys.get(base, base) + _suffix(row["person_key"])
        )
    for row in _rows(Contact, CONTACT_TEXT):
        Contact.objects.filter(pk=row["pk"]).update(
            address=_open(Contact, "address", row["address"]),
            landline=_open(Contact, "landline", row["landline"]),
        )


class Migration(migrations.Migration):
    dependencies = [("booking", "0009_personal_data_encrypted")]

    operations = [migrations.RunPython(encrypt, decrypt)]
