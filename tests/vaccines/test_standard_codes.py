"""Products carry their standard codes: the ATC class and the EU register number, given by
vaccines_seed to new databases and by the data migration to the products already there."""

from django.db import connection
from django.db.migrations.executor import MigrationExecutor

from creneau.vaccines.models import Vaccine

WITHOUT_CODES = [("vaccines", "0002_standard_codes")]


def test_the_seed_gives_every_2021_product_its_codes(reference):
    assert dict(Vaccine.objects.values_list("code", "eu_number")) == {
        "comirnaty": "EU/1/20/1528",
        "spikevax": "EU/1/20/1507",
        "vaxzevria": "EU/1/21/1529",
        "janssen": "EU/1/20/1525",
    }
    assert set(Vaccine.objects.values_list("atc_code", flat=True)) == {"J07BX03"}


def test_the_migration_fills_the_known_products_already_in_a_database(transactional_db):
    executor = MigrationExecutor(connection)
    executor.migrate(WITHOUT_CODES)
    Old = executor.loader.project_state(WITHOUT_CODES).apps.get_model("vaccines", "Vaccine")
    for code in ("comirnaty", "nuvaxovid", "autre"):
        Old.objects.create(code=code, name=code, manufacturer="?", doses_in_series=1)
    # One an authority already gave its codes: left as it is.
    Old.objects.create(
        code="spikevax", name="S", manufacturer="?", doses_in_series=1, eu_number="EU/1/99/1"
    )

    executor = MigrationExecutor(connection)
    executor.migrate(executor.loader.graph.leaf_nodes())

    codes = {v.code: (v.atc_code, v.eu_number) for v in Vaccine.objects.all()}
    assert codes == {
        "comirnaty": ("J07BX03", "EU/1/20/1528"),
        "nuvaxovid": ("J07BX03", "EU/1/21/1618"),
        "autre": ("", ""),
        "spikevax": ("", "EU/1/99/1"),
    }
