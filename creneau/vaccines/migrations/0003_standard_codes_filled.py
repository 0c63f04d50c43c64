"""The standard codes of the products already in a database (vaccines_seed gives them to
new ones): the ATC class of COVID-19 vaccines and each product's EU register number. The
values are written here, not imported, so that this migration says the same forever."""

from django.db import migrations

ATC_COVID_19 = "J07BX03"
EU_NUMBERS = {
    "comirnaty": "EU/1/20/1528",
    "spikevax": "EU/1/20/1507",
    "vaxzevria": "EU/1/21/1529",
    # COVID-19 Vaccine Janssen, renamed Jcovden in 2022.
    "janssen": "EU/1/20/1525",
    "nuvaxovid": "EU/1/21/1618",
}


def codes_fill(apps, schema_editor):
    Vaccine = apps.get_model("vaccines", "Vaccine")
    for code, eu_number in EU_NUMBERS.items():
        Vaccine.objects.filter(code=code, eu_number="").update(
            atc_code=ATC_COVID_19, eu_number=eu_number
        )


class Migration(migrations.Migration):
    dependencies = [("vaccines", "0002_standard_codes")]

    operations = [migrations.RunPython(codes_fill, migrations.RunPython.noop)]
