"""/statistiques/ and /donnees/: what they show and serve, read from the summary tables
(written here directly: their computation is test_refresh.py's)."""

import csv
import datetime as dt
import io

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from creneau.geography.models import Department
from creneau.interop.official import sites_export_official
from creneau.sites.models import Site
from creneau.stats.models import AppointmentDay, DayRefresh, VaccinationDay
from tests.factories import make_site, vaccine

TODAY = dt.date(2027, 2, 10)
FIRST = TODAY - dt.timedelta(days=6)


@pytest.fixture
def figures(reference, clock):
    """Paris: 40 first doses on the first day, 30 more and 12 complete courses on the
    third; Bouches-du-Rhône: 5 first doses (too few to publish). Figures to yesterday."""
    clock.at(TODAY, 12)
    comirnaty = vaccine()
    for day in (FIRST + dt.timedelta(days=n) for n in range(6)):
        DayRefresh.objects.create(day=day, refreshed_at=clock.now)
    rows = [
        ("75", FIRST, dict(dose1=40, given=40, delivered=500)),
        ("75", FIRST + dt.timedelta(days=2), dict(dose1=30, complete=12, given=42)),
        ("13", FIRST + dt.timedelta(days=1), dict(dose1=5, given=5, delivered=100)),
    ]
    running = {}
    for dep, day, daily in rows:
        cum = running.setdefault(dep, dict.fromkeys(("delivered", "given", "dose1", "complete"), 0))
        for name, n in daily.items():
            cum[name] += n
        VaccinationDay.objects.create(
            day=day,
            department_id=dep,
            vaccine=comirnaty,
            **daily,
            **{f"cum_{name}": n for name, n in cum.items()},
        )
    AppointmentDay.objects.create(
        day=FIRST,
        department_id="75",
        vaccine=comirnaty,
        dose_number=1,
        age_band="80+",
        booked=120,
        scheduled=40,
        given=40,
    )
    AppointmentDay.objects.create(
        day=FIRST,
        department_id="75",
        vaccine=comirnaty,
        dose_number=1,
        age_band="75-79",
        booked=3,
        noshows=2,
    )


def test_the_statistics_page_draws_and_tabulates_the_figures(client, figures):
    page = client.get("/statistiques/")
    assert page.status_code == 200
    html = page.content.decode()
    # Three charts and the map, each an image with a name, and their tables.
    assert html.count('role="img"') == 4
    assert html.count("<table>") == 3
    assert "70" in html  # Paris's first doses to date
    assert "<td>70 (0,00 %)</td>" in html  # 70 of Paris's 2.1 million
    # Bouches-du-Rhône's 5 people are not published: neither in the table nor on the map.
    row = html[html.index("Bouches-du-Rhône (13)</th>") :].split("</tr>")[0]
    assert "5 (" not in row and "–" in row
    assert "Paris (75)" in html and "123" in html  # appointments made in Paris


def test_the_statistics_page_before_any_dose(client, reference):
    page = client.get("/statistiques/")
    assert page.status_code == 200
    assert "Aucune dose n'a encore été enregistrée." in page.content.decode()


def _csv(response) -> list[list[str]]:
    return list(csv.reader(io.StringIO(response.content.decode("utf-8")), delimiter=";"))


def test_the_vaccinations_file_has_the_official_columns_and_hides_small_counts(client, figures):
    response = client.get("/donnees/vaccinations-departements.csv")
    assert response.status_code == 200
    assert response["Content-Type"] == "text/csv; charset=utf-8"
    assert response.content.decode().split("\n")[0] == (
        "dep;jour;vaccin;n_dose1;n_complet;n_cum_dose1;n_cum_complet;couv_dose1;couv_complet"
    )
    _header, *rows = _csv(response)
    # Published to the day before yesterday: five days from the first, with no gap.
    paris = [r for r in rows if r[0] == "75" and r[2] == "comirnaty"]
    assert [r[1] for r in paris] == [(FIRST + dt.timedelta(days=n)).isoformat() for n in range(5)]
    first, second, third = paris[:3]
    assert first[3:7] == ["40", "0", "40", "0"]
    assert second[3:7] == ["0", "0", "40", "0"]  # a day without doses keeps its sums
    assert third[3:7] == ["30", "12", "70", "12"]
    population = Department.objects.get(code="75").population
    assert third[7] == str(round(100 * 70 / population, 1))
    # All products together, and Bouches-du-Rhône's 5 people suppressed everywhere.
    assert any(r[0] == "75" and r[2] == "tous" for r in rows)
    marseille = [r for r in rows if r[0] == "13" and r[2] == "comirnaty"]
    assert marseille[0][3] == ""
    assert all(r[5] == r[7] == "" for r in marseille)

    data = client.get("/donnees/vaccinations-departements.json").json()
    assert len(data) == len(rows)
    assert {"dep": "13", "jour": (FIRST + dt.timedelta(days=1)).isoformat()}.items() <= data[
        next(i for i, r in enumerate(rows) if r[0] == "13")
    ].items()
    assert data[next(i for i, r in enumerate(rows) if r[0] == "13")]["n_dose1"] is None


def test_the_appointments_file_sums_the_age_bands_and_hides_small_counts(client, figures):
    header, *rows = _csv(client.get("/donnees/rendez-vous-departements.csv"))
    assert header[:4] == ["dep", "jour", "vaccin", "rang_vaccinal"]
    assert rows == [
        ["75", FIRST.isoformat(), "comirnaty", "1", "123", "40", "40", "", "0"],
    ]


def test_files_carry_an_etag_and_a_day_file_is_immutable(client, figures):
    whole = client.get("/donnees/vaccinations-departements.csv")
    assert whole["Cache-Control"] == "public, max-age=3600"
    again = client.get("/donnees/vaccinations-departements.csv", HTTP_IF_NONE_MATCH=whole["ETag"])
    assert again.status_code == 304 and not again.content

    day = (TODAY - dt.timedelta(days=2)).isoformat()
    one = client.get(f"/donnees/vaccinations-departements/{day}.csv")
    assert one.status_code == 200
    assert one["Cache-Control"] == "public, max-age=31536000, immutable"
    _header, *rows = _csv(one)
    assert {r[1] for r in rows} == {day}
    assert ["75", day, "comirnaty", "0", "0", "70", "12"] == next(
        r[:7] for r in rows if r[0] == "75" and r[2] == "comirnaty"
    )


@pytest.mark.parametrize(
    "path",
    [
        # Yesterday and today are still being counted; before the first day, nothing.
        f"/donnees/vaccinations-departements/{(TODAY - dt.timedelta(days=1)).isoformat()}.csv",
        f"/donnees/vaccinations-departements/{TODAY.isoformat()}.json",
        f"/donnees/vaccinations-departements/{(FIRST - dt.timedelta(days=1)).isoformat()}.csv",
        "/donnees/vaccinations-departements/2027-13-45.csv",
        "/donnees/inconnu.csv",
        "/donnees/inconnu.schema.json",
        "/donnees/vaccinations-departements.xml",
    ],
)
def test_a_file_not_published_is_not_found(client, figures, path):
    assert client.get(path).status_code == 404


def test_each_dataset_has_a_table_schema_under_the_licence(client, figures):
    for slug in ("vaccinations-departements", "rendez-vous-departements"):
        schema = client.get(f"/donnees/{slug}.schema.json").json()
        header = _csv(client.get(f"/donnees/{slug}.csv"))[0]
        assert [f["name"] for f in schema["fields"]] == header
        assert schema["licenses"][0]["name"] == "etalab-2.0"
        assert schema["missingValues"] == [""]
        assert {f["type"] for f in schema["fields"]} <= {"string", "date", "integer", "number"}
    package = client.get("/donnees/datapackage.json").json()
    assert [r["path"] for r in package["resources"]] == [
        "vaccinations-departements.csv",
        "rendez-vous-departements.csv",
        "lieux-vaccination.csv",
    ]
    listing = client.get("/donnees/").content.decode()
    assert "Licence Ouverte" in listing
    assert f"/donnees/vaccinations-departements/{(TODAY - dt.timedelta(days=2))}.csv" in listing


def test_the_files_refuse_other_methods(client, figures):
    assert client.post("/donnees/vaccinations-departements.csv").status_code == 405


def test_the_page_and_files_follow_a_refresh(client, figures, clock):
    before = client.get("/statistiques/").content.decode()
    assert "<td>70 (0,00 %)</td>" in before
    file = client.get("/donnees/vaccinations-departements.csv")
    # Yesterday recomputed: 30 more first doses in Paris.
    yesterday = TODAY - dt.timedelta(days=1)
    VaccinationDay.objects.create(
        day=yesterday,
        department_id="75",
        vaccine=vaccine(),
        dose1=30,
        given=30,
        cum_dose1=100,
        cum_complete=12,
        cum_given=142,
        cum_delivered=500,
    )
    clock.at(TODAY, 12, 10)
    DayRefresh.objects.update_or_create(day=yesterday, defaults={"refreshed_at": clock.now})
    assert "<td>100 (0,00 %)</td>" in client.get("/statistiques/").content.decode()
    # Yesterday is not published yet: the history file is the same bytes, same ETag.
    again = client.get("/donnees/vaccinations-departements.csv")
    assert again["ETag"] == file["ETag"] and again.content == file.content


def test_the_sites_file_is_the_official_export_with_its_schema(client, figures, clock):
    site = make_site(insee_code="75117", name="Centre Paris 17")
    make_site(insee_code="13201", name="Brouillon", status=Site.Status.DRAFT)
    response = client.get("/donnees/lieux-vaccination.csv")
    assert response.status_code == 200
    assert response["Content-Type"] == "text/csv; charset=utf-8"
    out = io.StringIO()
    sites_export_official(out=out)
    assert response.content.decode() == out.getvalue()
    header, *rows = _csv(response)
    assert [r[1] for r in rows] == ["Centre Paris 17"]  # the draft is not the public's
    schema = client.get("/donnees/lieux-vaccination.schema.json").json()
    assert [f["name"] for f in schema["fields"]] == header
    assert schema["licenses"][0]["name"] == "etalab-2.0"
    assert "/donnees/lieux-vaccination.csv" in client.get("/donnees/").content.decode()

    again = client.get("/donnees/lieux-vaccination.csv", HTTP_IF_NONE_MATCH=response["ETag"])
    assert again.status_code == 304
    # A site changed: new bytes, a new ETag.
    clock.at(TODAY, 12, 5)
    site.name = "Centre Paris 17e"
    site.save()
    changed = client.get("/donnees/lieux-vaccination.csv", HTTP_IF_NONE_MATCH=response["ETag"])
    assert changed.status_code == 200 and "Centre Paris 17e" in changed.content.decode()


def test_the_page_renders_its_figures_once_per_refresh(client, figures, clock):
    """The charts, map and tables are drawn by the first request after a refresh; the
    next ones read them from the cache: no query of the summary tables."""
    first = client.get("/statistiques/").content.decode()
    with CaptureQueriesContext(connection) as queries:
        again = client.get("/statistiques/").content.decode()
    assert "<td>70 (0,00 %)</td>" in again
    assert not [q for q in queries if "stats_vaccinationday" in q["sql"]]
    assert len(queries) <= 2, [q["sql"] for q in queries]
    # In English, drawn again in English.
    english = client.get("/statistiques/", HTTP_ACCEPT_LANGUAGE="en").content.decode()
    assert english != first
