"""Sites imported before the importer used the vocabulary's code for health workers
("caregiver") were restricted to "health_professional", a code no category, form or rule
knows: pages showed it as it is and no one could book there without an override."""

from django.db import migrations

OLD, NEW = "health_professional", "caregiver"


def restricted_to_caregiver(apps, schema_editor):
    Site = apps.get_model("sites", "Site")
    # JSON containment is not portable to SQLite: the few restricted sites are read here.
    for site in Site.objects.exclude(restricted_to=[]).only("pk", "restricted_to"):
        if OLD in site.restricted_to:
            codes = [NEW if code == OLD else code for code in site.restricted_to]
            site.restricted_to = list(dict.fromkeys(codes))
            site.save(update_fields=["restricted_to"])


class Migration(migrations.Migration):
    dependencies = [("sites", "0001_initial")]

    operations = [migrations.RunPython(restricted_to_caregiver, migrations.RunPython.noop)]
