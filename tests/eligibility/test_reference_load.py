"""`manage.py reference_load` (docs/operations.md) seeds the rules beside the geography
and the products: it lives with the highest of the three, eligibility."""

from django.core.management import get_commands


def test_reference_load_is_the_eligibility_app_s_command():
    assert get_commands()["reference_load"] == "creneau.eligibility"
