"""Staff password rules: common French passwords, words of the context, guessable shapes."""

import pytest
from django.contrib.auth.password_validation import validate_password
from django.core.exceptions import ValidationError

from creneau.staff.models import StaffProfile
from creneau.staff.services import staff_account_create
from tests.factories import make_site

Role = StaffProfile.Role


def refusals(password: str, user=None) -> set[str]:
    try:
        validate_password(password, user=user)
    except ValidationError as error:
        return {e.code for e in error.error_list}
    return set()


@pytest.mark.parametrize(
    "password",
    ["motdepasse12", "azertyuiop12", "marseille2021", "Vaccination2021", "aaaaaaaaaaaa"],
)
def test_the_issues_examples_are_refused(password):
    assert refusals(password)


@pytest.mark.parametrize(
    "password, code",
    [
        ("motdepasse12", "password_french_common"),
        ("Azertyuiop12!", "password_french_common"),
        ("Vaccination2021", "password_context"),
        ("V4cc1n4t10n!2021", "password_context"),
        ("Creneau-2021!", "password_context"),
        ("Toulouse31000", "password_context"),
        ("aaaaaaaaaaaa", "password_guessable"),
        ("abcdefabcdef", "password_guessable"),
    ],
)
def test_each_rule_says_which_kind_of_password_it_refuses(password, code):
    assert code in refusals(password)


@pytest.mark.parametrize(
    "password",
    ["Lilas-Tournesol-47", "correct horse battery", "marseille-est-belle-au-printemps"],
)
def test_passphrases_pass_even_with_a_town_inside(password):
    assert refusals(password) == set()


def test_the_messages_are_in_french_and_name_the_word_found():
    with pytest.raises(ValidationError) as refused:
        validate_password("Vaccination2021")
    assert "« vaccination »" in " ".join(refused.value.messages)


def test_the_accounts_names_and_sites_are_context_too(reference):
    site = make_site(name="Centre Wagram")
    # Without the account, "wagram" and "durand" are nobody's words.
    assert "password_context" not in refusals("Wagram-Durand-9")
    with pytest.raises(ValidationError) as refused:
        staff_account_create(
            username="m.durand",
            password="Wagram-Durand-9",
            role=Role.SITE_STAFF,
            sites=[site],
            last_name="Durand",
        )
    assert "password_context" in {e.code for e in refused.value.error_list}
    # The refused account was rolled back whole.
    assert not StaffProfile.objects.exists()
