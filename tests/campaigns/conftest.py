import io

import pytest

HEADER = (
    "identifiant;nom;prenoms;date_naissance;adresse_1;adresse_2;code_postal;commune;"
    "telephone;email;categories"
)


def line(
    identifiant: str = "A1",
    nom: str = "Martin",
    prenoms: str = "Jeanne Marie",
    date_naissance: str = "1940-03-02",
    adresse_1: str = "12 rue de Lévis",
    adresse_2: str = "",
    code_postal: str = "75017",
    commune: str = "Paris",
    telephone: str = "06 12 34 56 78",
    email: str = "",
    categories: str = "",
    sep: str = ";",
) -> str:
    return sep.join(
        [
            identifiant,
            nom,
            prenoms,
            date_naissance,
            adresse_1,
            adresse_2,
            code_postal,
            commune,
            telephone,
            email,
            categories,
        ]
    )


def csv_file(*lines: str, header: str = HEADER, encoding: str = "utf-8") -> io.BytesIO:
    return io.BytesIO("\n".join([header, *lines, ""]).encode(encoding))


@pytest.fixture
def population(reference):
    """Five people in Paris (born 1930 to 1950, the oldest without phone or e-mail), one
    in Marseille."""
    from creneau.campaigns.services import population_import

    rows = [
        line("P1", "Durand", "Paul", "1950-01-01", telephone="0611111111"),
        line("P2", "Petit", "Anne", "1930-06-01", telephone="", email=""),
        line("P3", "Moreau", "Luc", "1945-01-01", telephone="", email="luc@example.org"),
        line("P4", "Roux", "Marie", "1935-05-05", telephone="0622222222", email="m@example.org"),
        line("P5", "Blanc", "Jean", "1990-01-01", telephone="0633333333"),
        line("M1", "Fabre", "Léa", "1932-01-01", code_postal="13001", commune="Marseille"),
    ]
    return population_import(stream=csv_file(*rows), file_name="extrait.csv")
