"""The outbox encrypted at rest (core.crypto, core.fields): each message's recipient (a
phone number, an e-mail address, a letter's name and address lines) and its template's
values (names, site, times; or the text of a row written before outreach/0005) are
sealed with the current key, and the recipient's blind index is computed
(models.notification_to_index). The keys must be configured before migrating.

Reversible while the keys are there: going back opens every value again. A copy of the
database taken before this migration still holds the outbox in clear: backups from
before it are to be destroyed on the schedule in docs/operations.md.
"""

import json

from django.db import migrations

from creneau.core.crypto import value_decrypt, value_encrypt
from creneau.outreach.models import notification_to_index

BATCH = 500


def _purpose(model, field: str) -> str:
    return f"{model._meta.db_table}.{field}"


def _rows(model):
    pks = list(model.objects.order_by("pk").values_list("pk", flat=True))
    for start in range(0, len(pks), BATCH):
        yield from model.objects.filter(pk__in=pks[start : start + BATCH]).values(
            "pk", "to", "parameters"
        )


def encrypt(apps, schema_editor):
    Notification = apps.get_model("outreach", "Notification")
    for row in _rows(Notification):
        # PostgreSQL's jsonb turned into text keeps its own spacing: read it, write the
        # form core.fields.EncryptedJSONField writes.
        parameters = json.dumps(
            json.loads(row["parameters"] or "{}"), ensure_ascii=False, separators=(",", ":")
        )
        Notification.objects.filter(pk=row["pk"]).update(
            to=value_encrypt(row["to"], purpose=_purpose(Notification, "to")),
            to_index=notification_to_index(row["to"]),
            parameters=value_encrypt(parameters, purpose=_purpose(Notification, "parameters")),
        )


def decrypt(apps, schema_editor):
    Notification = apps.get_model("outreach", "Notification")
    for row in _rows(Notification):
        Notification.objects.filter(pk=row["pk"]).update(
            to=value_decrypt(row["to"], purpose=_purpose(Notification, "to")),
            parameters=value_decrypt(
                row["parameters"], purpose=_purpose(Notification, "parameters")
            ),
        )


class Migration(migrations.Migration):
    dependencies = [("outreach", "0006_outbox_encrypted")]

    operations = [migrations.RunPython(encrypt, decrypt)]
