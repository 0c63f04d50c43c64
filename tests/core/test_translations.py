"""French is the source language; every message of the domain also exists in English.

The catalogue is checked as files (complete, not fuzzy, compiled from its source), then
as behaviour: the same refusal comes out in the language active for the request.
"""

import re
from datetime import date
from pathlib import Path

import polib
import pytest
from django.conf import settings
from django.utils import translation

from creneau.booking.services import booking_confirm, contact_verification_start, hold_create
from creneau.core.errors import PlaceNotFound, SiteRestricted
from creneau.eligibility.selectors import Candidate, eligibility_decide, eligibility_require
from creneau.geography.selectors import place_resolve
from creneau.outreach.models import Notification, notification_to_index
from creneau.outreach.rendering import notification_render
from creneau.sites.models import Site
from tests.factories import make_site, person, two_dose_site, vaccine, verified_contact

CATALOGUE = Path(settings.BASE_DIR) / "creneau" / "locale" / "en" / "LC_MESSAGES"
PLACEHOLDER = re.compile(r"%\((\w+)\)[sd]")
WEEKDAYS = "Monday|Tuesday|Wednesday|Thursday|Friday|Saturday|Sunday"
MONTHS = "January|February|March|April|May|June|July|August|September|October|November|December"


@pytest.fixture(autouse=True)
def back_to_the_default_language():
    """A request with Accept-Language leaves its language active in the thread."""
    yield
    translation.deactivate()


def entries(catalogue) -> list:
    return [entry for entry in catalogue if not entry.obsolete and entry.msgid]


def translations(entry) -> list[str]:
    if entry.msgid_plural:
        return [entry.msgstr_plural[form] for form in sorted(entry.msgstr_plural)]
    return [entry.msgstr]


# The catalogue


def test_every_english_entry_is_translated_and_none_is_fuzzy():
    catalogue = polib.pofile(str(CATALOGUE / "django.po"))
    assert catalogue.metadata["Language"] == "en"
    assert not catalogue.metadata_is_fuzzy
    assert len(entries(catalogue)) > 100
    assert [e.msgid for e in entries(catalogue) if "fuzzy" in e.flags] == []
    assert [e.msgid for e in entries(catalogue) if not all(translations(e))] == []


def test_every_translation_keeps_the_placeholders_of_its_source():
    catalogue = polib.pofile(str(CATALOGUE / "django.po"))
    for entry in entries(catalogue):
        singular, *plurals = translations(entry)
        assert set(PLACEHOLDER.findall(singular)) == set(PLACEHOLDER.findall(entry.msgid)), (
            entry.msgid
        )
        # A plural form says what the source's plural says (often the count, which the
        # singular leaves out: "the site" / "the 3 sites").
        for text in plurals:
            assert set(PLACEHOLDER.findall(text)) == set(PLACEHOLDER.findall(entry.msgid_plural)), (
                entry.msgid_plural
            )


def test_the_compiled_catalogue_is_its_source_compiled():
    def table(catalogue) -> dict:
        return {(e.msgctxt, e.msgid): translations(e) for e in entries(catalogue)}

    source = table(polib.pofile(str(CATALOGUE / "django.po")))
    compiled = table(polib.mofile(str(CATALOGUE / "django.mo")))
    assert compiled == source, "run: cd creneau && ../manage.py compilemessages -l en"


# Domain errors follow the active language


def test_an_unknown_postcode_is_said_in_french_by_default_and_in_english(db):
    with pytest.raises(PlaceNotFound) as french:
        place_resolve(query="99999")
    assert french.value.message == "Code postal inconnu : 99999."
    with translation.override("en"), pytest.raises(PlaceNotFound) as english:
        place_resolve(query="99999")
    assert english.value.message == "Unknown postcode: 99999."
    assert english.value.code == french.value.code == "place_not_found"


def test_a_site_kind_is_labelled_in_the_active_language():
    assert Site.Kind.PHARMACY.label == "Pharmacie"
    with translation.override("en"):
        assert Site.Kind.PHARMACY.label == "Pharmacy"
        assert Site.Kind.CENTRE.label == "Vaccination centre"


# Eligibility reasons: dates, ages, rule explanations and category labels


def decide(candidate: Candidate, site: Site, *, on: date, code: str = "comirnaty"):
    return eligibility_decide(
        candidate=candidate, vaccine=vaccine(code), dose_number=1, site=site, on=on
    )


def aged(years: int, on: date, *categories: str) -> Candidate:
    return Candidate(birth_date=on.replace(year=on.year - years), categories=frozenset(categories))


def test_an_admission_on_the_first_of_a_month_in_french_and_in_english(reference):
    site, on = make_site(), date(2021, 3, 1)
    assert decide(aged(80, on), site, on=on).reason == (
        "Le 1er mars 2021, la vaccination est ouverte à cette personne : "
        "les personnes de 75 ans et plus (règle « Personnes de 75 ans et plus »)."
    )
    with translation.override("en"):
        assert decide(aged(80, on), site, on=on).reason == (
            "On 1 March 2021, vaccination is open to this person: "
            "people aged 75 and over (rule “Personnes de 75 ans et plus”)."
        )


def test_a_refusal_in_english_uses_the_rules_and_categories_english_wording(reference):
    site, on = make_site(), date(2021, 6, 14)
    with translation.override("en"):
        refused = decide(aged(15, on), site, on=on)
        declared = decide(aged(15, on, "firefighter", "high_risk"), site, on=on)
    # Then the next opening that admits them (the over-12s, the next day), in words.
    assert refused.reason.startswith(
        "On 14 June 2021, vaccination is open to: people aged 18 and over. "
        "A person aged 15 years with no declared category does not qualify. "
    )
    assert refused.reason.endswith("people aged 12 and over.")
    assert (
        "A person aged 15 years who declared “High-risk medical condition” and “Firefighter” "
        "does not qualify. "
    ) in declared.reason


def test_a_product_age_limit_in_english(reference):
    site, on = make_site(), date(2021, 3, 12)
    with translation.override("en"):
        refused = decide(aged(40, on), site, on=on, code="vaxzevria")
        baby = decide(Candidate(date(2021, 1, 1), frozenset()), site, on=on)
    assert refused.reason == (
        "The Vaxzevria vaccine is only for people aged 55 years and over; "
        "on 12 March 2021, this person is 40 years old."
    )
    assert baby.reason == (
        "The Comirnaty vaccine is only for people aged 12 years and over; "
        "on 12 March 2021, this person is under a year old."
    )


def test_a_restricted_site_names_its_categories_in_the_refusals_language(reference):
    site, on = make_site(restricted_to=["firefighter", "caregiver"]), date(2021, 6, 15)
    asked = dict(candidate=aged(40, on), vaccine=vaccine(), dose_number=1, site=site, on=on)
    with pytest.raises(SiteRestricted) as french:
        eligibility_require(**asked)
    assert french.value.message == (
        "Ce lieu est réservé aux : Professionnel·le de santé ou du médico-social, Sapeur-pompier."
    )
    with translation.override("en"), pytest.raises(SiteRestricted) as english:
        eligibility_require(**asked)
    assert english.value.message == (
        "This site is reserved for: Health or social care worker, Firefighter."
    )


# Messages are written in the contact's language


def test_a_verification_code_is_sent_in_the_contacts_language(db):
    contact_verification_start(phone="+33612345678")
    contact_verification_start(email="jane@example.org", language="en")
    french = Notification.objects.get(to_index=notification_to_index("+33612345678"))
    english = Notification.objects.get(to_index=notification_to_index("jane@example.org"))
    assert re.fullmatch(
        r"Créneau : votre code de vérification est \d{6}\. Il est valable 10 minutes\. "
        r"Ne le communiquez à personne\.",
        notification_render(notification=french).body,
    )
    assert re.fullmatch(
        r"Créneau: your verification code is \d{6}\. It is valid for 10 minutes\. "
        r"Do not share it with anyone\.",
        notification_render(notification=english).body,
    )
    assert re.fullmatch(
        r"Your Créneau code: \d{6}", notification_render(notification=english).subject
    )
    assert english.language == "en" and french.language == "fr"


def test_a_booking_is_confirmed_in_english_with_english_dates(reference):
    _site, session = two_dose_site()
    contact = verified_contact()
    contact.language = "en"
    contact.save(update_fields=["language"])
    hold = hold_create(slot_id=session.slots.order_by("start").first().pk).hold
    booking_confirm(hold_id=hold.pk, contact=contact, person=person())
    body = notification_render(notification=Notification.objects.get(kind="booking_confirmed")).body
    assert body.startswith("Créneau: appointment confirmed for Jeanne Martin.\n")
    assert re.search(rf"^Dose 1: ({WEEKDAYS}) \d{{1,2}} ({MONTHS}) \d{{4}}, 09:00$", body, re.M)
    assert re.search(rf"^Dose 2: ({WEEKDAYS}) \d{{1,2}} ({MONTHS}) \d{{4}}, 09:00$", body, re.M)
    assert "\nReference: " in body


# The API answers in the language the client asks for


def test_the_api_answers_a_bad_search_in_the_language_asked_for(client, reference):
    french = client.get("/api/v1/sites", {"near": "99999"})
    english = client.get("/api/v1/sites", {"near": "99999"}, headers={"accept-language": "en"})
    assert (french.status_code, english.status_code) == (400, 400)
    assert french.json()["detail"] == "Code postal inconnu : 99999."
    assert english.json()["detail"] == "Unknown postcode: 99999."
    assert english.json()["code"] == "place_not_found"


def test_the_api_labels_site_kinds_in_the_language_asked_for(client, reference):
    make_site(kind=Site.Kind.PHARMACY)
    english = client.get("/api/v1/sites", {"near": "75017"}, headers={"accept-language": "en-GB"})
    french = client.get("/api/v1/sites", {"near": "75017"}, headers={"accept-language": "fr-FR"})
    assert english.json()["results"][0]["kind_label"] == "Pharmacy"
    assert french.json()["results"][0]["kind_label"] == "Pharmacie"
