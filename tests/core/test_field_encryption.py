"""Encrypted fields, blind indexes and key rotation (core.crypto, core.fields, core.keys)."""

import hashlib
import hmac
from datetime import date
from pathlib import Path

import pytest
from django.core.exceptions import FieldError, ImproperlyConfigured
from django.core.management import call_command
from django.db import connection
from hypothesis import given, settings
from hypothesis import strategies as st

from creneau.booking.models import Contact, Person
from creneau.booking.persons import person_index, person_name_index
from creneau.booking.selectors import caller_find
from creneau.booking.services import booking_confirm, hold_create
from creneau.core.crypto import (
    KeyMissing,
    ValueTampered,
    blind_index,
    key_new,
    key_ring,
    key_ring_load,
)
from creneau.core.keys import encrypted_tables, keys_count, keys_rotate, table_rotate, value_reseal
from tests.core.test_text import look_alikes, names
from tests.factories import person, two_dose_site, verified_contact


def _raw(table: str, column: str, pk: int) -> str:
    with connection.cursor() as cursor:
        cursor.execute(f'SELECT "{column}" FROM "{table}" WHERE id = %s', [pk])
        return cursor.fetchone()[0]


def _keys_now(settings) -> tuple[list[str], str]:
    """The data keys and the index key the tests run with, as settings would give them."""
    if settings.FIELD_ENCRYPTION_KEYS:
        return list(settings.FIELD_ENCRYPTION_KEYS), settings.BLIND_INDEX_KEY
    lines = Path(settings.FIELD_KEYS_FILE).read_text().split()
    blind = next(line for line in lines if line.startswith("blind:")).partition(":")[2]
    return [line for line in lines if not line.startswith("blind:")], blind


def _given_names(booked) -> list[str]:
    return [Person.objects.get(pk=series.person_id).given_name for series in booked]


@pytest.fixture
def booked(reference):
    session = two_dose_site(lines=4)[1]
    slots = list(session.slots.order_by("start"))
    series = []
    for n, (given_name, phone) in enumerate(
        [("Éloïse", "+33612345678"), ("Jean", "+33698765432"), ("Ana", "+33611111111")]
    ):
        hold = hold_create(slot_id=slots[n].pk).hold
        series.append(
            booking_confirm(
                hold_id=hold.pk,
                contact=verified_contact(phone),
                person=person(
                    given_name=given_name, family_name="Lefèvre", categories=("caregiver",)
                ),
            ).series
        )
    return series


def test_values_are_sealed_in_the_table_and_read_back_as_they_were(booked):
    series = booked[0]
    stored = _raw("booking_person", "given_name", series.person_id)
    assert stored.startswith("v1:") and "Éloïse" not in stored
    assert _raw("booking_person", "birth_date", series.person_id).startswith("v1:")
    assert _raw("booking_contact", "address", series.contact_id).startswith("v1:")
    # No landline: empty, not sealed.
    assert _raw("booking_contact", "landline", series.contact_id) == ""
    again = Person.objects.get(pk=series.person_id)
    assert (again.given_name, again.family_name, again.categories) == (
        "Éloïse",
        "Lefèvre",
        ["caregiver"],
    )
    assert isinstance(again.birth_date, date)
    # The same value sealed twice differs: nothing to compare in the table.
    Person.objects.filter(pk=booked[1].person_id).update(given_name="Éloïse")
    assert _raw("booking_person", "given_name", booked[1].person_id) != stored


def test_the_database_is_never_asked_to_compare_an_encrypted_column(booked):
    for lookup in ("given_name", "given_name__icontains", "birth_date__year"):
        with pytest.raises(FieldError, match="encrypted"):
            list(Person.objects.filter(**{lookup: "x"}))
    with pytest.raises(FieldError):
        list(Contact.objects.filter(address="+33612345678"))


def test_a_value_altered_or_moved_to_another_column_does_not_open(booked):
    first, second = booked[0].person_id, booked[1].person_id
    sealed = _raw("booking_person", "given_name", first)
    with connection.cursor() as cursor:
        # The given name of one person put in another's family name: it names its column.
        cursor.execute("UPDATE booking_person SET family_name = %s WHERE id = %s", [sealed, second])
        cursor.execute(
            "UPDATE booking_person SET given_name = %s WHERE id = %s", [sealed[:-4] + "AAAA", first]
        )
    with pytest.raises(ValueTampered):
        Person.objects.get(pk=second)
    with pytest.raises(ValueTampered):
        Person.objects.get(pk=first)


@settings(max_examples=60, deadline=None)
@given(data=st.data(), family_name=names, born=st.dates(date(1900, 1, 1), date(2020, 1, 1)))
def test_look_alike_names_have_the_same_blind_indexes(data, family_name, born):
    variant = data.draw(look_alikes(family_name))
    assert person_index(
        given_name="Éloïse", family_name=family_name, birth_date=born
    ) == person_index(given_name="ELOI\u200bSE", family_name=variant, birth_date=born)
    assert person_name_index(family_name=family_name, birth_date=born) == person_name_index(
        family_name=variant, birth_date=born
    )


@given(st.text(max_size=80))
@settings(max_examples=200)
def test_a_blind_index_is_the_hmac_of_the_value_under_the_blind_key(value):
    # blind_index computes HMAC-SHA256 from its pads hashed once: the same as hmac's.
    message = f"some.purpose\x00{value}".encode()
    expected = hmac.new(key_ring().blind_key, message, hashlib.sha256).hexdigest()
    assert blind_index(value, purpose="some.purpose") == expected


def test_blind_indexes_tell_people_apart_and_reveal_nothing():
    born = date(1940, 3, 2)
    martin = person_index(given_name="Jean", family_name="Martin", birth_date=born)
    assert len(martin) == 64 and "martin" not in martin
    assert martin != person_index(
        given_name="Jean", family_name="Martin", birth_date=date(1940, 3, 3)
    )
    assert martin != person_index(given_name="Jeanne", family_name="Martin", birth_date=born)
    # The same text for two purposes: unrelated indexes, the columns cannot be joined.
    assert person_name_index(family_name="Martin", birth_date=born) != martin


def test_the_call_centre_finds_a_family_name_whole_not_a_part_of_it(booked):
    series = booked[0]
    born = series.person.birth_date.strftime("%d/%m/%Y")
    assert set(caller_find(query=f"lefevre {born}")) == set(booked)
    assert caller_find(query=f"Éloïse LEFÈVRE {born}") == [series]
    assert caller_find(query=f"Lefev {born}") == []
    assert caller_find(query="06 12 34 56 78") == [series]


@pytest.mark.parametrize(
    "keys, blind, message",
    [
        (["1:short"], key_new(), "32 random bytes"),
        (["1:" + key_new(), "1:" + key_new()], key_new(), "same id"),
        (["no key"], key_new(), "<id>:<base64 key>"),
        (["1:" + key_new()], "", "BLIND_INDEX_KEY must be set"),
    ],
    # Named, not numbered by their random keys: every xdist worker collects the same tests.
    ids=["key too short", "two keys one id", "no key id", "no blind-index key"],
)
def test_keys_that_cannot_be_used_are_refused_at_start(settings, keys, blind, message):
    settings.FIELD_ENCRYPTION_KEYS, settings.BLIND_INDEX_KEY = keys, blind
    with pytest.raises(ImproperlyConfigured, match=message):
        key_ring_load()


def test_rotation_reseals_every_value_with_the_new_key_while_they_stay_readable(
    booked, settings, capsys
):
    data_keys, blind = _keys_now(settings)
    old_id = data_keys[0].partition(":")[0]
    settings.FIELD_ENCRYPTION_KEYS = [f"2:{key_new()}", *data_keys]
    settings.BLIND_INDEX_KEY = blind

    # During: one batch done, the others not; everything reads, new writes use key 2.
    person_table = next(t for t in encrypted_tables() if t.name == "booking_person")
    next(table_rotate(table=person_table, size=1))
    assert keys_count()["booking_person"] == {"2": 4, old_id: 8}
    assert [Person.objects.get(pk=s.person_id).given_name for s in booked] == [
        "Éloïse",
        "Jean",
        "Ana",
    ]

    call_command("keys_rotate", "--batch", "2", "--pause", "0")
    printed = capsys.readouterr().out
    assert "booking_person:" in printed and "done:" in printed and "key '2'" in printed
    counts = keys_count()
    assert counts["booking_person"] == {"2": 12} and counts["booking_contact"] == {"2": 3}

    # After: the old key leaves the ring; everything reads and is found as before.
    settings.FIELD_ENCRYPTION_KEYS = settings.FIELD_ENCRYPTION_KEYS[:1]
    assert [Person.objects.get(pk=s.person_id).given_name for s in booked] == [
        "Éloïse",
        "Jean",
        "Ana",
    ]
    assert caller_find(query="+33698765432") == [booked[1]]
    # Run again: nothing left to do.
    assert keys_rotate(size=100) == 0


def test_a_value_rewritten_during_rotation_is_not_overwritten_with_the_stale_one(booked, settings):
    data_keys, blind = _keys_now(settings)
    settings.FIELD_ENCRYPTION_KEYS = [f"2:{key_new()}", *data_keys]
    settings.BLIND_INDEX_KEY = blind
    pk = booked[0].person_id
    table = next(t for t in encrypted_tables() if t.name == "booking_person")
    field = Person._meta.get_field("given_name")
    stale = _raw("booking_person", "given_name", pk)  # what the rotation read
    Person.objects.filter(pk=pk).update(given_name="Héloïse")  # the service writes meanwhile

    assert not value_reseal(table=table, field=field, pk=pk, stored=stale)
    assert Person.objects.get(pk=pk).given_name == "Héloïse"


def test_a_value_whose_key_left_the_ring_says_which_key_is_missing(booked, settings):
    data_keys, blind = _keys_now(settings)
    old_id = data_keys[0].partition(":")[0]
    settings.FIELD_ENCRYPTION_KEYS, settings.BLIND_INDEX_KEY = [f"9:{key_new()}"], blind
    with pytest.raises(KeyMissing, match=f"'{old_id}'"):
        Person.objects.get(pk=booked[0].person_id)
