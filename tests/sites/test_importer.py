import gzip
from datetime import date
from io import StringIO
from pathlib import Path

import pytest
from django.core.management import CommandError, call_command
from django.db.models import Count

import creneau.sites
from creneau.core.errors import InvalidInput
from creneau.core.geo import Position, grid_cell
from creneau.sites.importer import (
    SOURCE,
    RejectReason,
    centre_types_parse,
    department_code_guess,
    kind_derive,
    official_site_parse,
    phone_normalise,
    rows_read,
)
from creneau.sites.models import Site
from creneau.sites.services import Reject, site_close, sites_import_official
from tests.factories import STAFF

DATA = Path(creneau.sites.__file__).resolve().parent / "data"
SNAPSHOT_2021 = DATA / "centres-vaccination_2021-11-18.csv.gz"
SNAPSHOT_2023 = DATA / "centres-vaccination_2023-12-19.csv.gz"

# The 43 columns of the official file, in its order.
COLUMNS = [
    *("gid", "nom", "arrete_pref_numero", "xy_precis", "id_adr", "adr_num", "adr_voie"),
    *("com_cp", "com_insee", "com_nom", "lat_coor1", "long_coor1", "structure_siren"),
    *("structure_type", "structure_rais", "structure_num", "structure_voie", "structure_cp"),
    *("structure_insee", "structure_com", "_userid_creation", "_userid_modification"),
    *("_edit_datemaj", "lieu_accessibilite", "rdv_lundi", "rdv_mardi", "rdv_mercredi"),
    *("rdv_jeudi", "rdv_vendredi", "rdv_samedi", "rdv_dimanche", "rdv", "date_fermeture"),
    *("date_ouverture", "rdv_site_web", "rdv_tel", "rdv_tel2", "rdv_modalites"),
    *("rdv_consultation_prevaccination", "centre_svi_repondeur", "centre_fermeture"),
    *("reserve_professionels_sante", "centre_type"),
]


def write_csv(path: Path, rows: list[dict[str, str]]) -> Path:
    """A file in the official format; each row gives only the columns it cares about."""
    defaults = {
        "lat_coor1": "48.8414",
        "long_coor1": "2.30044",
        "com_cp": "75015",
        "com_insee": "75115",
        "_edit_datemaj": "2021-06-01 10:00:00.000000",
        "centre_fermeture": "f",
    }
    lines = [";".join(COLUMNS)]
    for row in rows:
        values = {**defaults, **row}
        lines.append(";".join(values.get(column, "") for column in COLUMNS))
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


def site(gid: str) -> Site:
    return Site.objects.get(source=SOURCE, external_id=gid)


# The real snapshots. Only the communes of 75, 13, 93 and 974 are loaded (fixture `reference`):
# every other site must find its department without its commune.


def test_the_2021_snapshot_imports_every_real_site_and_rejects_placeholders(reference):
    report = sites_import_official(path=SNAPSHOT_2021)

    assert report.snapshot_date == date(2021, 11, 18)
    assert report.rows == 2871
    assert (report.created, report.updated, report.unchanged) == (2674, 0, 0)
    assert (report.published, report.closed, report.closed_absent) == (1340, 1334, 0)
    assert report.rejected_by_reason() == {"foreign_placeholder": 196, "test_row": 1}
    assert Reject(481, "2966", RejectReason.TEST_ROW) in report.rejects
    assert Reject(561, "990099001", RejectReason.FOREIGN_PLACEHOLDER) in report.rejects
    assert Site.objects.count() == 2674
    assert not Site.objects.filter(external_id__startswith="9900").exists()
    assert dict(Site.objects.values_list("status").annotate(n=Count("id"))) == {
        "published": 1340,
        "closed": 1334,
    }
    # Every metropolitan department and 7 overseas ones (971-974, 976, and Saint-Barthélemy and
    # Saint-Martin, reached through their postcodes 97133 and 97150) have a published site.
    published = Site.objects.filter(status=Site.Status.PUBLISHED)
    departments = set(published.values_list("department", flat=True))
    assert len(departments) == 103
    assert {d for d in departments if d.startswith(("97", "98"))} == {
        "971",
        "972",
        "973",
        "974",
        "976",
        "977",
        "978",
    }
    assert published.filter(department="75").count() == 13
    assert published.filter(department="974").count() == 21


def test_a_2021_site_in_paris_with_its_commune_hours_and_booking_link(reference):
    sites_import_official(path=SNAPSHOT_2021)

    mairie = site("1935")
    assert mairie.name == "Mairie du 10e"
    assert mairie.kind == Site.Kind.CENTRE
    assert mairie.status == Site.Status.PUBLISHED
    assert mairie.address == "72 Rue du Faubourg Saint-Martin"
    assert (mairie.postcode, mairie.commune_id, mairie.department_id) == ("75010", "75110", "75")
    assert (mairie.latitude, mairie.longitude) == (48.8718, 2.35755)
    assert mairie.grid_cell == grid_cell(Position(48.8718, 2.35755))
    assert mairie.opening_hours["monday"] == "12h00 - 17h30"
    assert mairie.booking_url.startswith("https://partners.doctolib.fr/vaccination-covid-19/")
    # "39 75", the city's short number, has no E.164 form.
    assert mairie.phone == ""
    assert mairie.restricted_to == []


def test_2021_sites_overseas_and_where_no_commune_is_loaded(reference):
    sites_import_official(path=SNAPSHOT_2021)

    saint_joseph = site("2927")
    assert (saint_joseph.commune_id, saint_joseph.department_id) == ("97412", "974")
    assert saint_joseph.phone == "+262262720404"
    # Labelled {"Equipe mobile"}, but open four days a week at its address: a centre.
    assert saint_joseph.kind == Site.Kind.CENTRE

    angers = site("55")  # the communes of Maine-et-Loire are not loaded
    assert (angers.commune_id, angers.department_id) == (None, "49")
    assert angers.kind == Site.Kind.HOSPITAL  # "… extérieurs au CHU"
    assert angers.status == Site.Status.CLOSED  # centre_fermeture = t

    laval = site("72")  # "… Réservé aux professionnels de Santé CH Laval"
    assert (laval.commune_id, laval.department_id) == (None, "53")
    assert laval.kind == Site.Kind.HOSPITAL
    # The vocabulary's code for health workers, so that pages and rules know it.
    assert laval.restricted_to == ["caregiver"]
    assert laval.status == Site.Status.PUBLISHED

    saint_martin = site("1209")  # postcode 97150, no INSEE code
    assert (saint_martin.commune_id, saint_martin.department_id) == (None, "978")


def test_importing_the_same_file_twice_changes_nothing(reference):
    sites_import_official(path=SNAPSHOT_2021)
    before = dict(Site.objects.values_list("external_id", "updated_at"))

    again = sites_import_official(path=SNAPSHOT_2021)

    assert (again.created, again.updated, again.unchanged, again.closed_absent) == (0, 0, 2674, 0)
    assert again.rejected == 197
    assert dict(Site.objects.values_list("external_id", "updated_at")) == before


def test_the_2023_snapshot_after_2021_updates_closes_and_adds_without_duplicates(reference):
    sites_import_official(path=SNAPSHOT_2021)
    assert site("1935").status == Site.Status.PUBLISHED

    report = sites_import_official(path=SNAPSHOT_2023)

    assert report.snapshot_date == date(2023, 12, 19)
    assert report.rows == 3211
    # 1,652 updated, as with every commune loaded: 2 sites only changed commune in another
    # department, which their INSEE code says although the commune is not loaded.
    # (Montigny-les-Cormeilles, closed in both, is unchanged: gaining the "Equipe mobile"
    # label does not make its centre a mobile team.)
    assert (report.created, report.updated, report.unchanged) == (336, 1652, 1021)
    assert (report.published, report.closed, report.closed_absent) == (109, 2900, 1)
    assert report.rejected_by_reason() == {"foreign_placeholder": 196, "test_row": 6}
    assert {r.external_id for r in report.rejects if r.reason == RejectReason.TEST_ROW} == {
        "2966",
        "3000",
        "3001",
        "3296",
        "3297",
        "3299",  # "test sda", without an address
    }
    total = Site.objects.count()
    assert total == 2674 + 336
    assert Site.objects.values("external_id").distinct().count() == total
    assert Site.objects.filter(status=Site.Status.PUBLISHED).count() == 109
    assert site("1935").status == Site.Status.CLOSED
    # 2023 dropped the leading zero of Ariège's codes: "9110" is 09110, department 09.
    assert (site("530").postcode, site("530").department_id) == ("09110", "09")

    back = sites_import_official(path=SNAPSHOT_2021)
    assert (back.created, back.updated, back.unchanged) == (0, 1653, 1021)
    assert back.closed_absent == 19  # the 2023 newcomers still open
    assert Site.objects.count() == total


def test_the_import_uses_bulk_statements_not_one_per_row(reference, django_assert_max_num_queries):
    with django_assert_max_num_queries(150):
        sites_import_official(path=SNAPSHOT_2021)
    with django_assert_max_num_queries(400):
        sites_import_official(path=SNAPSHOT_2023)


# A handwritten file: one row per rule.


def test_each_rejection_reason(reference, tmp_path):
    path = write_csv(
        tmp_path / "rejects.csv",
        [
            {"gid": "990099001", "nom": "Afghanistan", "lat_coor1": "0", "long_coor1": "0"},
            {"gid": "3296", "nom": "Test_sauve_mon_vaccin4"},
            {"gid": "3299", "nom": "test sda", "com_cp": "", "com_insee": ""},
            {"gid": "10", "nom": "Sans position", "lat_coor1": "", "long_coor1": ""},
            {"gid": "11", "nom": "Position illisible", "lat_coor1": "48,84"},
            {"gid": "11b", "nom": "Position infinie", "long_coor1": "inf"},
            {"gid": "12", "nom": "Hors du globe", "lat_coor1": "91"},
            {"gid": "13", "nom": "Longitude folle", "long_coor1": "-181"},
            {"gid": "14", "nom": "Au large du Gabon", "lat_coor1": "0", "long_coor1": "0"},
            {"gid": "15", "nom": "Code postal inconnu", "com_cp": "96000", "com_insee": ""},
            {"gid": "16", "nom": "Corse sans département", "com_cp": "20300", "com_insee": ""},
            {"gid": "17", "nom": "Ni code postal ni commune", "com_cp": "", "com_insee": ""},
            {"gid": "", "nom": "Sans identifiant"},
            {"gid": "18", "nom": ""},
            {"gid": "19", "nom": "Premier du nom"},
            {"gid": "19", "nom": "Doublon"},
        ],
    )

    report = sites_import_official(path=path)

    assert [(r.line, r.external_id, r.reason) for r in report.rejects] == [
        (2, "990099001", RejectReason.FOREIGN_PLACEHOLDER),
        (3, "3296", RejectReason.TEST_ROW),
        (4, "3299", RejectReason.TEST_ROW),
        (5, "10", RejectReason.COORDINATES_MISSING),
        (6, "11", RejectReason.COORDINATES_INVALID),
        (7, "11b", RejectReason.COORDINATES_INVALID),
        (8, "12", RejectReason.COORDINATES_OUT_OF_RANGE),
        (9, "13", RejectReason.COORDINATES_OUT_OF_RANGE),
        (10, "14", RejectReason.COORDINATES_ZERO),
        (11, "15", RejectReason.UNKNOWN_DEPARTMENT),
        (12, "16", RejectReason.UNKNOWN_DEPARTMENT),
        (13, "17", RejectReason.UNKNOWN_DEPARTMENT),
        (14, "", RejectReason.INVALID_ID),
        (15, "18", RejectReason.NO_NAME),
        (17, "19", RejectReason.DUPLICATE_ID),
    ]
    assert report.created == 1
    assert list(Site.objects.values_list("external_id", "name")) == [("19", "Premier du nom")]


MOBILE_OUTREACH = '{"Equipe mobile","Dispositif aller vers ..."}'


@pytest.mark.parametrize(
    ("name", "centre_type", "kind"),
    [
        ("Centre de vaccination Porte de Versailles", "", Site.Kind.CENTRE),
        ("Mairie du 6e", '{"Equipe mobile","Campagne scolaire"}', Site.Kind.MOBILE),
        ("Centre de vaccination mobile- Bus vaccinal", "{}", Site.Kind.MOBILE),
        ("Vaccinobus du Var", "", Site.Kind.MOBILE),
        ("PHARMACIE DE LA GARE", "", Site.Kind.PHARMACY),
        ("Hôpital Saint-Joseph", "", Site.Kind.HOSPITAL),
        ("Centre de vaccination du CH de Cannes", "{USMP}", Site.Kind.HOSPITAL),
        ("CHU Sud - Saint-Pierre", "", Site.Kind.HOSPITAL),
        ("Centre Hospitalier Louis Constant Fleming", "", Site.Kind.HOSPITAL),
        ("Clinique des Cèdres", '{"Grand centre"}', Site.Kind.HOSPITAL),
        ("Cabinet médical de Saverdun", "", Site.Kind.GP_PRACTICE),
        ("Maison de Santé des Quatre Vallées", "", Site.Kind.GP_PRACTICE),
        ("MSP Mirepoix", "", Site.Kind.GP_PRACTICE),
        ("Centre de vaccination - médecins de ville", "", Site.Kind.GP_PRACTICE),
        # "ch" inside a word, or in lower case, is not a hospital.
        ("Salle des fêtes de la Chapelle", "", Site.Kind.CENTRE),
        # The labels are programmes a place takes part in, not what it is: a hospital or a
        # centre that sends out a mobile team stays a hospital or a centre.
        ("Centre de vaccination -Hôpital Edouard Herriot-HCL", MOBILE_OUTREACH, Site.Kind.HOSPITAL),
        ("Centre de vaccination du Grand Chambéry", MOBILE_OUTREACH, Site.Kind.CENTRE),
        ("CV éphémère Bellegarde", '{"Equipe mobile"}', Site.Kind.CENTRE),
        ("Vaccinodrome de la Porte de Versailles", '{"Equipe mobile"}', Site.Kind.CENTRE),
        # What the name says a team that goes to people is.
        ('Dispositif de vaccination "aller vers" de Villeurbanne', "", Site.Kind.MOBILE),
        ('Dpt 22 - Opérations "Aller-vers" non rattachées à un CDV', "", Site.Kind.MOBILE),
        ("EMV Mairie du 15e", "{}", Site.Kind.MOBILE),
        ("Centre de vaccination itinérant SST2A", "", Site.Kind.MOBILE),
        ("Equipe mobile du CH de Cannes", "", Site.Kind.MOBILE),
        ("Vaccimobile du Haut Beaujolais", "", Site.Kind.MOBILE),
        # A name that says nothing: "Equipe mobile" decides, unless "Grand centre" says more.
        (
            "Dpt 22 - Opérations éphémères non rattachées à un CDV",
            MOBILE_OUTREACH,
            Site.Kind.MOBILE,
        ),
        ("Salle Osco-Manosci", '{"Grand centre","Dispositif aller vers ..."}', Site.Kind.CENTRE),
        ("ARS Mayotte", '{"Equipe mobile","Grand centre"}', Site.Kind.CENTRE),
        ("Maison de quartier de Titoulit", '{"Dispositif aller vers ..."}', Site.Kind.CENTRE),
    ],
)
def test_kind_derivation(name, centre_type, kind):
    assert kind_derive(name=name, centre_types=centre_types_parse(centre_type)) == kind


def test_kind_of_each_imported_row(reference, tmp_path):
    rows = [
        ("1", "Centre de vaccination du 15e", ""),
        ("2", "Equipe de vaccination itinérante", '{"Equipe mobile"}'),
        ("3", "Pharmacie Lecourbe", ""),
        ("4", "Hôpital Necker", ""),
        ("5", "Cabinet médical Vaugirard", ""),
    ]
    path = write_csv(
        tmp_path / "kinds.csv", [{"gid": g, "nom": n, "centre_type": t} for g, n, t in rows]
    )

    sites_import_official(path=path)

    assert dict(Site.objects.values_list("external_id", "kind")) == {
        "1": "centre",
        "2": "mobile",
        "3": "pharmacy",
        "4": "hospital",
        "5": "gp_practice",
    }


# Lyon's rows of the real file: two hospital centres of the Hospices Civils de Lyon (the HCL)
# and their big centre, all labelled "Equipe mobile" because they send out mobile teams, and
# Villeurbanne's outreach service, which has no such label.
LYON = {
    "218": ("Centre de vaccination - Hôpital de la Croix Rousse- HCL", Site.Kind.HOSPITAL),
    "222": ("Centre de vaccination -Hôpital Edouard Herriot-HCL", Site.Kind.HOSPITAL),
    "688": ("/Hospices Civils de Lyon", Site.Kind.CENTRE),
    "1498": (
        'Dispositif de vaccination "aller vers" de la ville de Villeurbanne',
        Site.Kind.MOBILE,
    ),
}


@pytest.mark.parametrize("snapshot", [SNAPSHOT_2021, SNAPSHOT_2023])
def test_lyon_s_hospital_centres_and_outreach_service_in_the_real_file(snapshot):
    rows = {
        row["gid"]: official_site_parse(line=line, row=row)
        for line, row in rows_read(path=snapshot)
        if row["gid"] in LYON
    }

    assert rows.keys() == LYON.keys()
    for gid, (name, kind) in LYON.items():
        assert name in rows[gid].name
        assert rows[gid].kind == kind, rows[gid].name


def test_importing_again_corrects_the_kind_of_sites_imported_before(reference):
    sites_import_official(path=SNAPSHOT_2021)
    # What the importer wrote before it read the labels as programmes.
    Site.objects.filter(external_id__in=["218", "222", "688"]).update(kind=Site.Kind.MOBILE)
    Site.objects.filter(external_id="1498").update(kind=Site.Kind.CENTRE)

    report = sites_import_official(path=SNAPSHOT_2021)

    assert report.updated == 4
    assert {gid: site(gid).kind for gid in LYON} == {gid: kind for gid, (_, kind) in LYON.items()}
    assert site("218").status == site("222").status == Site.Status.PUBLISHED


def test_department_from_postcode_when_the_commune_is_unknown(reference, tmp_path):
    def row(gid: str, postcode: str, insee: str = "") -> dict[str, str]:
        return {"gid": gid, "nom": f"Centre {gid}", "com_cp": postcode, "com_insee": insee}

    path = write_csv(
        tmp_path / "departments.csv",
        [
            row("1", "20000"),  # Ajaccio
            row("2", "20167"),
            row("3", "20200"),  # Bastia
            row("4", "20600"),
            row("5", "97400"),  # Saint-Denis, La Réunion
            row("6", "97150"),  # Saint-Martin
            row("7", "97133"),  # Saint-Barthélemy
            row("8", "97600"),  # Mayotte
            row("9", "49100"),  # Angers: communes not loaded
            row("10", "9110", "9032"),  # Ax-les-Thermes, leading zeros lost
            row("11", "13015", "13215"),  # Marseille 15e: commune loaded
            row("12", "75015", "75999"),  # an INSEE code that does not exist
            row("13", "20167", "2A004"),  # Ajaccio's INSEE code, commune not loaded
            row("14", "09200", "11033"),  # the INSEE code's department wins over the postcode's
        ],
    )

    sites_import_official(path=path)

    found = {s.external_id: (s.postcode, s.commune_id, s.department_id) for s in Site.objects.all()}
    assert found == {
        "1": ("20000", None, "2A"),
        "2": ("20167", None, "2A"),
        "3": ("20200", None, "2B"),
        "4": ("20600", None, "2B"),
        "5": ("97400", None, "974"),
        "6": ("97150", None, "978"),
        "7": ("97133", None, "977"),
        "8": ("97600", None, "976"),
        "9": ("49100", None, "49"),
        "10": ("09110", None, "09"),
        "11": ("13015", "13215", "13"),
        "12": ("75015", None, "75"),
        "13": ("20167", None, "2A"),
        "14": ("09200", None, "11"),
    }


@pytest.mark.parametrize(
    ("postcode", "department"),
    [
        ("75015", "75"),
        ("01000", "01"),
        ("20090", "2A"),
        ("20100", "2A"),
        ("20220", "2B"),
        ("20620", "2B"),
        ("97100", "971"),
        ("97200", "972"),
        ("97300", "973"),
        ("97400", "974"),
        ("97500", "975"),
        ("97600", "976"),
        ("98800", "988"),
        ("", None),
    ],
)
def test_department_code_guess_from_postcode(postcode, department):
    assert department_code_guess(insee_code="", postcode=postcode) == department


def test_phone_numbers_become_e164(reference, tmp_path):
    def row(gid: str, postcode: str, insee: str, tel: str, tel2: str = "") -> dict[str, str]:
        return {
            "gid": gid,
            "nom": f"Centre {gid}",
            "com_cp": postcode,
            "com_insee": insee,
            "rdv_tel": tel,
            "rdv_tel2": tel2,
        }

    path = write_csv(
        tmp_path / "phones.csv",
        [
            row("1", "75015", "75115", "01 41 83 17 85"),
            row("2", "75015", "75115", "+33 800 009 110"),
            row("3", "13015", "13215", "33423101010"),
            row("4", "97400", "97411", "0262 72 47 20 "),
            row("5", "97400", "97411", "+262262720404"),
            row("6", "97400", "97411", "0800 009 110"),  # a national hotline stays +33
            row("7", "97200", "97209", "+33596625320"),  # Martinique written as +33 by mistake
            row("8", "97300", "97302", "06 94 22 13 70"),
            row("9", "97150", "", "05 90 99 14 74"),
            row("10", "75015", "75115", "39 75"),
            row("11", "75015", "75115", "Sans RDV"),
            row("12", "75015", "75115", "", "01.41.83.17.85"),
            row("13", "75015", "75115", "RIEN", "06 12 34 56 78"),
            row("14", "75015", "75115", ""),
        ],
    )

    sites_import_official(path=path)

    assert dict(Site.objects.values_list("external_id", "phone")) == {
        "1": "+33141831785",
        "2": "+33800009110",
        "3": "+33423101010",
        "4": "+262262724720",
        "5": "+262262720404",
        "6": "+33800009110",
        "7": "+596596625320",
        "8": "+594694221370",
        "9": "+590590991474",
        "10": "",
        "11": "",
        "12": "+33141831785",
        "13": "+33612345678",
        "14": "",
    }


def test_phone_normalise_keeps_mainland_numbers_of_overseas_sites():
    assert phone_normalise(raw="01 41 83 17 85", department_code="974") == "+33141831785"
    assert phone_normalise(raw="06 12 34 56 78", department_code="974") == "+33612345678"
    assert phone_normalise(raw="0262 72 47 20", department_code="75") == ""


def test_status_hours_restrictions_links_and_accessibility(reference, tmp_path):
    path = write_csv(
        tmp_path / "details.csv",
        [
            {
                "gid": "1",
                "nom": "  Centre   de vaccination  du 15e ",
                "adr_num": "31",
                "adr_voie": "Rue  Peclet",
                "_edit_datemaj": "2021-11-18 15:44:18.083905",
                "rdv_lundi": "9h-12h / 14h-17h",
                "rdv_mardi": " fermé ",
                "rdv_dimanche": "",
                "rdv_site_web": " https://partners.doctolib.fr/centre-de-sante/paris/x ",
                "reserve_professionels_sante": "t",
                "lieu_accessibilite": "Accessible aux personnes à mobilité réduite",
                "date_fermeture": "2021-11-18",  # closes on the snapshot day: still open
            },
            {"gid": "2", "nom": "Fermé au public", "centre_fermeture": "t"},
            {"gid": "3", "nom": "Déjà fermé", "date_fermeture": "2021-11-17"},
            {"gid": "4", "nom": "Lien en texte", "rdv_site_web": "RIEN"},
            {"gid": "5", "nom": "Courriel", "rdv_site_web": "rdv@aphp.fr"},
            {"gid": "6", "nom": "Sans schéma", "rdv_site_web": "www.medicran.fr / DOCTOLIB"},
            {"gid": "7", "nom": "FINESS", "lieu_accessibilite": "590780193"},
            {"gid": "8", "nom": "Accessibilité bavarde", "lieu_accessibilite": "x" * 400},
            {"gid": "9", "nom": "Sans flag", "centre_fermeture": ""},
        ],
    )

    report = sites_import_official(path=path)

    assert report.snapshot_date == date(2021, 11, 18)  # the latest _edit_datemaj
    assert (report.published, report.closed) == (7, 2)
    first = site("1")
    assert first.name == "Centre de vaccination du 15e"
    assert first.address == "31 Rue Peclet"
    assert first.status == Site.Status.PUBLISHED
    assert first.opening_hours == {"monday": "9h-12h / 14h-17h", "tuesday": "fermé"}
    assert first.booking_url == "https://partners.doctolib.fr/centre-de-sante/paris/x"
    assert first.restricted_to == ["caregiver"]
    assert first.accessibility == "Accessible aux personnes à mobilité réduite"
    assert site("2").status == Site.Status.CLOSED
    assert site("3").status == Site.Status.CLOSED
    assert {site(gid).booking_url for gid in ("4", "5", "6")} == {""}
    assert site("7").accessibility == ""
    # The FINESS number the column held is kept as the site's, not as its accessibility.
    assert site("7").finess == "590780193"
    assert first.finess == ""
    assert len(site("8").accessibility) == 250
    assert site("9").status == Site.Status.PUBLISHED
    assert site("9").restricted_to == []


def test_an_explicit_snapshot_date_decides_which_closing_dates_have_passed(reference, tmp_path):
    path = write_csv(
        tmp_path / "dates.csv",
        [
            {"gid": "1", "nom": "Ferme en juillet", "date_fermeture": "2021-07-13"},
            {"gid": "2", "nom": "Ferme en décembre", "date_fermeture": "2021-12-31"},
        ],
    )

    early = sites_import_official(path=path, snapshot_date=date(2021, 7, 1))
    assert (early.published, early.closed) == (2, 0)

    late = sites_import_official(path=path, snapshot_date=date(2021, 11, 18))
    assert (late.updated, late.unchanged, late.closed) == (1, 1, 1)
    assert site("1").status == Site.Status.CLOSED
    assert site("2").status == Site.Status.PUBLISHED


def test_sites_absent_from_the_file_are_closed_and_other_sources_left_alone(reference, tmp_path):
    first = write_csv(
        tmp_path / "first.csv",
        [{"gid": "1", "nom": "Reste"}, {"gid": "2", "nom": "Disparaît"}, {"gid": "3", "nom": "X"}],
    )
    sites_import_official(path=first)
    Site.objects.filter(external_id="3").update(status=Site.Status.CLOSED)
    ours = Site.objects.create(
        name="Saisi à la main",
        status=Site.Status.PUBLISHED,
        department_id="75",
        latitude=48.84,
        longitude=2.30,
        grid_cell=grid_cell(Position(48.84, 2.30)),
    )

    second = sites_import_official(
        path=write_csv(tmp_path / "second.csv", [{"gid": "1", "nom": "Reste"}])
    )

    assert (second.unchanged, second.closed_absent) == (1, 1)  # 3 was already closed
    assert site("1").status == Site.Status.PUBLISHED
    assert site("2").status == Site.Status.CLOSED
    ours.refresh_from_db()
    assert ours.status == Site.Status.PUBLISHED
    assert Site.objects.count() == 4


def test_a_row_that_reappears_reopens_its_site_and_a_change_is_written_back(reference, tmp_path):
    path = write_csv(tmp_path / "sites.csv", [{"gid": "1", "nom": "Centre"}])
    sites_import_official(path=path)
    sites_import_official(path=write_csv(tmp_path / "other.csv", [{"gid": "2", "nom": "Autre"}]))
    assert site("1").status == Site.Status.CLOSED
    Site.objects.filter(external_id="1").update(name="Renommé à la main")

    report = sites_import_official(path=path)

    assert (report.created, report.updated) == (0, 1)
    assert (site("1").status, site("1").name) == (Site.Status.PUBLISHED, "Centre")


def test_a_file_that_is_not_the_official_list_changes_nothing(reference, tmp_path):
    sites_import_official(path=write_csv(tmp_path / "sites.csv", [{"gid": "1", "nom": "Centre"}]))
    wrong = tmp_path / "wrong.csv"
    wrong.write_text("id;name\n1;Centre\n", encoding="utf-8")
    broken = tmp_path / "broken.csv.gz"
    broken.write_bytes(b"not gzip at all")
    latin1 = tmp_path / "latin1.csv"
    latin1.write_bytes(";".join(COLUMNS).encode() + b"\n1;Cr\xe9teil\n")

    empty = write_csv(tmp_path / "empty.csv", [])

    for path in (wrong, broken, latin1, empty):
        with pytest.raises(InvalidInput):
            sites_import_official(path=path)

    assert site("1").status == Site.Status.PUBLISHED


def test_a_gzip_file_reads_like_the_plain_one(reference, tmp_path):
    plain = write_csv(tmp_path / "sites.csv", [{"gid": "1", "nom": "Centre"}])
    packed = tmp_path / "sites.csv.gz"
    packed.write_bytes(gzip.compress(plain.read_bytes()))

    assert sites_import_official(path=packed).created == 1
    assert sites_import_official(path=plain).unchanged == 1


def test_the_command_prints_the_counts_and_the_first_rejects(reference, tmp_path):
    path = write_csv(
        tmp_path / "sites.csv",
        [
            {"gid": "1", "nom": "Centre", "date_fermeture": "2021-07-13"},
            {"gid": "990099001", "nom": "Afghanistan", "lat_coor1": "0", "long_coor1": "0"},
        ],
    )
    out = StringIO()

    call_command("sites_import", str(path), "--snapshot-date", "2021-07-01", stdout=out)

    text = out.getvalue()
    assert "snapshot 2021-07-01" in text
    assert "1 created, 0 updated, 0 unchanged (1 published, 0 closed by the file)" in text
    assert "1 rejected" in text
    assert "line 3, gid 990099001: foreign_placeholder" in text
    with pytest.raises(CommandError):
        call_command("sites_import", str(tmp_path / "missing.csv"))


def test_a_status_staff_set_is_kept_and_the_file_changes_only_what_it_set(reference, tmp_path):
    path = write_csv(
        tmp_path / "sites.csv",
        [{"gid": "1", "nom": "Fermé à la main"}, {"gid": "2", "nom": "Du fichier"}],
    )
    sites_import_official(path=path)
    assert set(Site.objects.values_list("status_set_by", flat=True)) == {"file"}
    site_close(actor=STAFF, site_id=site("1").pk)

    again = sites_import_official(
        path=write_csv(
            tmp_path / "again.csv",
            [
                {"gid": "1", "nom": "Renommé par le fichier"},
                {"gid": "2", "nom": "Du fichier", "centre_fermeture": "t"},
            ],
        )
    )

    assert (site("1").status, site("1").name) == (Site.Status.CLOSED, "Renommé par le fichier")
    assert site("1").status_set_by == "staff"
    assert site("2").status == Site.Status.CLOSED
    assert again.status_kept == 1
    # Absent from the next file: a status staff set is still theirs.
    Site.objects.filter(external_id="1").update(status=Site.Status.PUBLISHED)
    absent = sites_import_official(
        path=write_csv(tmp_path / "absent.csv", [{"gid": "2", "nom": "Du fichier"}])
    )
    assert site("1").status == Site.Status.PUBLISHED
    assert (absent.closed_absent, absent.status_kept) == (0, 1)
