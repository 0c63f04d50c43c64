"""Invariant 4 against look-alike names: invisible characters, case and accents do not
make a person already booked a new one (creneau.core.text)."""

import importlib
import logging

import pytest
from django.db import connection, transaction
from django.db.migrations.executor import MigrationExecutor
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from creneau.booking.models import Person, Series
from creneau.booking.persons import person_index
from creneau.booking.selectors import caller_find
from creneau.booking.services import booking_confirm, hold_create
from creneau.core.errors import AlreadyBooked, InvalidInput
from tests.core.test_text import look_alikes, names
from tests.factories import person, two_dose_site, verified_contact

migration = importlib.import_module("creneau.booking.migrations.0007_person_keys_normalized")
BEFORE_ENCRYPTION = ("booking", "0007_person_keys_normalized")


class _Rollback(Exception):
    pass


@pytest.fixture
def session(reference):
    return two_dose_site(lines=4)[1]


def _book(session, contact, given_name, family_name):
    hold = hold_create(slot_id=session.slots.order_by("start").first().pk).hold
    return booking_confirm(
        hold_id=hold.pk,
        contact=contact,
        person=person(given_name=given_name, family_name=family_name),
    ).series


@settings(
    max_examples=25,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(data=st.data(), family_name=names, same_contact=st.booleans())
def test_a_look_alike_of_a_booked_person_is_the_same_person(
    session, data, family_name, same_contact
):
    variant = data.draw(look_alikes(family_name))
    first_contact = verified_contact()
    second_contact = first_contact if same_contact else verified_contact("+33698765432")
    try:
        with transaction.atomic():
            first = _book(session, first_contact, "Éloïse", family_name)
            if same_contact:
                # The contact's own person: the course already booked comes back.
                again = _book(session, second_contact, "ELOI\u200bSE", variant)
                assert again.pk == first.pk
            else:
                with pytest.raises(AlreadyBooked):
                    _book(session, second_contact, "eloise\u2060", variant)
            assert Series.objects.filter(status=Series.Status.ACTIVE).count() == 1
            assert Person.objects.count() == 1
            raise _Rollback
    except _Rollback:
        pass


def test_sec_zero_width_test_is_sectest(session):
    _book(session, verified_contact(), "Jean", "SECTEST")
    with pytest.raises(AlreadyBooked):
        _book(session, verified_contact("+33698765432"), "Jean", "SEC\u200bTEST")


def test_names_are_stored_without_invisible_characters(session):
    series = _book(session, verified_contact(), "\u202eJean\u202c", "  Le\u200b  Gall ")
    assert (series.person.given_name, series.person.family_name) == ("Jean", "Le Gall")


@pytest.mark.parametrize("name", ["\u200b\u200d", "1234", "- '", "\u202e"])
def test_a_name_without_a_letter_is_refused(session, name):
    with pytest.raises(InvalidInput) as refusal:
        _book(session, verified_contact(), name, "Martin")
    assert "dont une lettre" in refusal.value.message


def test_the_call_centre_finds_a_name_whatever_its_accents_and_invisible_characters(session):
    series = _book(session, verified_contact(), "Éloïse", "Lefèvre")
    born = series.person.birth_date.strftime("%d/%m/%Y")
    for query in (f"lefevre {born}", f"ELOISE LEFÈVRE {born}", f"Lef\u200bèvre {born}"):
        assert caller_find(query=query) == [series], query


@pytest.mark.django_db(transaction=True)
def test_existing_keys_are_recomputed_and_look_alikes_kept_apart(reference_committed, caplog):
    """The data migrations: rows written before the normalisation (0007), some of which
    turn out to be one person twice, keep their bookings; then encrypted (0008), their
    keys become blind indexes that keep the twins apart; the constraints hold throughout.
    0008 is taken back first (the values opened again), then applied again."""
    session = two_dose_site(lines=4)[1]
    contact, other = verified_contact(), verified_contact("+33698765432")
    first = _book(session, contact, "Jeanne", "Martin")
    twin = _book(session, contact, "Jeanne", "Durand")
    cousin = _book(session, other, "Jeanne", "Dupont")
    born = first.person.birth_date
    executor = MigrationExecutor(connection)
    executor.migrate([BEFORE_ENCRYPTION])
    try:
        old = executor.loader.project_state(BEFORE_ENCRYPTION).apps
        OldPerson, OldSeries = (
            old.get_model("booking", "Person"),
            old.get_model("booking", "Series"),
        )
        assert OldPerson.objects.get(pk=first.person_id).family_name == "Martin"
        # Written by the former code: the zero-width character stayed in the name and key.
        for series, name in ((twin, "Mar\u200btin"), (cousin, "MARTIN\u2060")):
            old_key = f"{name.lower()}|jeanne|{born.isoformat()}"
            OldPerson.objects.filter(pk=series.person_id).update(
                family_name=name, match_key=old_key
            )
            OldSeries.objects.filter(pk=series.pk).update(person_key=old_key)

        with caplog.at_level(logging.WARNING, logger="creneau.migrations"):
            migration.keys_recompute(old, None)

        key = f"martin|jeanne|{born.isoformat()}"
        persons = dict(OldPerson.objects.values_list("pk", "match_key"))
        assert persons[first.person_id] == key
        assert persons[twin.person_id] == f"{key}#{twin.person_id}"
        # Another contact's person may carry the key; their course may not, while one is active.
        assert persons[cousin.person_id] == key
        courses = dict(OldSeries.objects.values_list("pk", "person_key"))
        assert courses == {
            first.pk: key,
            twin.pk: f"{key}#{twin.person_id}",
            cousin.pk: f"{key}#{cousin.pk}",
        }
        assert cousin.reference in caplog.text and "Martin" not in caplog.text
        # Safe to run again: nothing changes.
        migration.keys_recompute(old, None)
        assert dict(OldSeries.objects.values_list("pk", "person_key")) == courses
    finally:
        executor = MigrationExecutor(connection)
        executor.migrate(executor.loader.graph.leaf_nodes())

    index = person_index(given_name="Jeanne", family_name="Martin", birth_date=born)
    assert dict(Person.objects.values_list("pk", "match_key")) == {
        first.person_id: index,
        twin.person_id: f"{index}#{twin.person_id}",
        cousin.person_id: index,
    }
    assert dict(Series.objects.values_list("pk", "person_key")) == {
        first.pk: index,
        twin.pk: f"{index}#{twin.person_id}",
        cousin.pk: f"{index}#{cousin.pk}",
    }
    assert Series.objects.filter(status=Series.Status.ACTIVE).count() == 3
    assert Person.objects.get(pk=twin.person_id).family_name == "Mar\u200btin"
    # New bookings of that person find the oldest.
    with pytest.raises(AlreadyBooked):
        _book(session, verified_contact("+33611111111"), "Jeanne", "MAR\u200bTIN")
