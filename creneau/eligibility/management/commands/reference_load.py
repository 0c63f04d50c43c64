from django.core.management.base import BaseCommand

from creneau.eligibility.services import eligibility_seed
from creneau.geography.services import geography_load
from creneau.vaccines.services import vaccines_seed


class Command(BaseCommand):
    help = "Load (or update) the French geography and the vaccine products."

    def handle(self, *args, **options):
        counts = geography_load()
        products = vaccines_seed()
        eligibility_seed()
        self.stdout.write(
            f"{counts['communes']} communes in {counts['departments']} departments, "
            f"{products} vaccine products"
        )
