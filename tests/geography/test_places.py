import pytest

from creneau.core.errors import AmbiguousPlace, InvalidInput, PlaceNotFound
from creneau.geography.models import Commune, Department
from creneau.geography.selectors import place_resolve
from creneau.geography.services import geography_load
from creneau.geography.text import search_name


def test_search_name_ignores_accents_case_punctuation_and_saint_abbreviations():
    assert search_name("Saint-Étienne") == search_name("ST ETIENNE") == "saint etienne"
    assert search_name("L'Haÿ-les-Roses") == "l hay les roses"
    assert search_name("Œuilly") == "oeuilly"


def test_a_postcode_of_paris_means_its_arrondissement(reference):
    place = place_resolve(query="75017")
    assert place.commune_insee_code == "75117"
    assert 48.87 < place.position.latitude < 48.90


def test_a_postcode_of_reunion(reference):
    assert place_resolve(query=" 97400 ").commune_insee_code == "97411"


def test_a_town_name_whatever_its_accents_and_case(reference):
    assert place_resolve(query="MARSEILLE").commune_insee_code == "13055"
    assert place_resolve(query="aubagne").commune_insee_code == "13005"


def test_an_ambiguous_name_lists_the_candidates(reference):
    with pytest.raises(AmbiguousPlace) as caught:
        place_resolve(query="Saint-Denis")
    departments = {c["department"] for c in caught.value.details["candidates"]}
    assert {"93", "974"} <= departments
    assert "précisez le département" in caught.value.message


def test_a_department_in_parentheses_settles_the_ambiguity(reference):
    assert place_resolve(query="Saint-Denis (974)").commune_insee_code == "97411"
    assert place_resolve(query="saint denis 93").commune_insee_code == "93066"


def test_coordinates(reference):
    place = place_resolve(query="43.3, 5.4")
    assert (place.position.latitude, place.position.longitude) == (43.3, 5.4)


@pytest.mark.parametrize(
    ("query", "error"),
    [
        ("99999", PlaceNotFound),
        ("Nulle-Part-Sur-Mer", PlaceNotFound),
        ("91.0,2.0", InvalidInput),
        ("45.0,181", InvalidInput),
        ("", InvalidInput),
        ("   ", InvalidInput),
        ("x" * 5000, InvalidInput),
        ("---", InvalidInput),
    ],
)
def test_what_cannot_be_resolved_says_why(reference, query, error):
    with pytest.raises(error) as caught:
        place_resolve(query=query)
    assert caught.value.message


def test_the_shipped_file_loads_all_of_france_and_loading_again_changes_nothing(db):
    first = geography_load()
    assert first["communes"] > 34000
    assert Department.objects.count() == 109
    assert Department.objects.get(code="974").timezone == "Indian/Reunion"
    assert Department.objects.get(code="75").population > 2_000_000
    again = geography_load()
    assert again == first
    assert Commune.objects.count() == first["communes"]
    assert place_resolve(query="Ajaccio").commune_insee_code == "2A004"


@pytest.mark.parametrize(
    ("typed", "meant"),
    [("Marseile", "Marseille"), ("Saint-Dnis", "Saint-Denis"), ("Montreuill", "Montreuil")],
)
def test_a_misspelt_town_is_answered_with_the_town_meant(reference, typed, meant):
    with pytest.raises(PlaceNotFound) as caught:
        place_resolve(query=typed)
    assert meant in [candidate["name"] for candidate in caught.value.details["suggestions"]]


def test_the_portal_offers_the_town_meant_for_a_misspelt_one(reference, client):
    page = client.get("/", {"near": "Marseile"}).content.decode()
    assert "Vouliez-vous dire" in page and "Marseille (13)" in page
