"""The population extract: rows checked one by one, the same file twice changes nothing,
a later file updates by identifiant, hostile files refused whole."""

import io
import tracemalloc

import pytest
from django.core.management import call_command
from django.db import connection

from creneau.audit.models import AuditEvent
from creneau.campaigns import population
from creneau.campaigns.models import Invitee, PopulationImport
from creneau.campaigns.population import identifiant_index
from creneau.campaigns.services import invitees_link, population_import
from creneau.core.errors import InvalidInput
from tests.factories import STAFF, person, two_dose_site, verified_contact

from .conftest import HEADER, csv_file, line


def invitee(identifiant: str) -> Invitee:
    return Invitee.objects.get(identifiant_index=identifiant_index(identifiant))


def test_rows_are_stored_sealed_and_found_by_their_identifiant(reference):
    report = population_import(
        stream=csv_file(line("A1", categories="caregiver|firefighter", email="J@Example.org"))
    )
    assert (report.rows, report.created, report.rejected) == (1, 1, 0)
    found = invitee("A1")
    assert (found.family_name, found.given_names, found.birth_date.isoformat()) == (
        "Martin",
        "Jeanne Marie",
        "1940-03-02",
    )
    assert found.phone == "+33612345678" and found.has_mobile
    assert found.email == "j@example.org" and found.has_email
    assert found.categories == ["caregiver", "firefighter"]
    assert found.department_id == "75" and found.birth_year == 1940
    with connection.cursor() as cursor:
        cursor.execute("SELECT family_name, identifiant, address, phone FROM campaigns_invitee")
        raw = cursor.fetchone()
    assert all(value.startswith("v1:") for value in raw)


def test_commas_are_detected_as_well_as_semicolons(reference):
    report = population_import(
        stream=csv_file(line("A1", sep=","), header=HEADER.replace(";", ","))
    )
    assert report.created == 1


def test_a_bad_row_is_rejected_with_its_line_and_reason_and_the_rest_goes_on(reference):
    report = population_import(
        stream=csv_file(
            line("A1"),
            line("A2", date_naissance="31/02/1940"),
            line("A3", code_postal="75017", commune="Lyon"),
            line("A4", code_postal="99999"),
            line("A5", telephone="12"),
            line("A6", email="pas-une-adresse"),
            line("A7", categories="astronaut"),
            line("A8", date_naissance="2090-01-01"),
            "A9;trop;peu",
            line("A10", date_naissance="02/03/1941"),
        )
    )
    assert (report.rows, report.created, report.rejected) == (10, 2, 8)
    lines = [line_number for line_number, _ in report.rejections]
    assert lines == [3, 4, 5, 6, 7, 8, 9, 10]
    reasons = dict(report.rejections)
    assert "Date de naissance illisible" in reasons[3]
    assert "commune" in reasons[4]
    assert "Code postal inconnu" in reasons[5]
    assert "téléphone" in reasons[6]
    assert "e-mail" in reasons[7]
    assert "astronaut" in reasons[8]
    assert "futur" in reasons[9]
    assert "colonnes" in reasons[10]
    assert invitee("A10").birth_date.isoformat() == "1941-03-02"


def test_a_landline_is_not_kept_as_a_number_to_text(reference):
    population_import(stream=csv_file(line("A1", telephone="01 42 27 00 00")))
    assert invitee("A1").phone == "" and not invitee("A1").has_mobile


def test_formula_looking_cells_are_rejected_but_an_international_phone_is_fine(reference):
    report = population_import(
        stream=csv_file(
            line("A1", nom='=HYPERLINK("http://evil")'),
            line("A2", adresse_1="@SUM(A1)"),
            line("A3", prenoms="-2+3"),
            line("A4", telephone="+33 6 12 34 56 78"),
        )
    )
    assert report.rejected == 3 and report.created == 1
    assert all("=, +, - ou @" in reason for _, reason in report.rejections)


def test_the_same_file_twice_changes_nothing(reference):
    rows = [line(f"A{n}", nom=f"Nom{n}x") for n in range(5)]
    population_import(stream=csv_file(*rows))
    before = list(Invitee.objects.order_by("pk").values_list("pk", "updated_at", "family_name"))
    again = population_import(stream=csv_file(*rows))
    assert (again.created, again.updated, again.unchanged) == (0, 0, 5)
    assert list(Invitee.objects.order_by("pk").values_list("pk", "updated_at", "family_name")) == [
        tuple(row) for row in before
    ]


def test_a_later_file_updates_people_by_identifiant(reference):
    population_import(stream=csv_file(line("A1"), line("A2", nom="Petit")))
    report = population_import(stream=csv_file(line("A1", telephone="0699999999")))
    assert (report.created, report.updated, report.unchanged) == (0, 1, 0)
    assert invitee("A1").phone == "+33699999999"
    assert Invitee.objects.count() == 2


def test_a_regional_authority_imports_only_its_departments(reference):
    report = population_import(
        stream=csv_file(line("A1"), line("M1", code_postal="13001", commune="Marseille")),
        departments=["75"],
    )
    assert report.created == 1
    assert report.rejections == [[3, "Département 13 : hors de votre périmètre."]]


@pytest.mark.parametrize(
    "content, message",
    [
        ((HEADER + "\n" + line(nom="Müller") + "\n").encode("latin-1"), r"UTF-8 \(ligne 2\)"),
        (b"identifiant;nom\nA1;Martin\n", "La premi\u00e8re ligne"),
        (
            (HEADER.replace(";categories", ";autre") + "\n").encode(),
            "Colonnes manquantes : categories",
        ),
        (b"", "vide"),
    ],
    ids=["latin-1", "no-header", "missing-column", "empty"],
)
def test_a_malformed_file_is_refused_whole_and_changes_nothing(reference, content, message):
    with pytest.raises(InvalidInput, match=message):
        population_import(stream=io.BytesIO(content), actor=STAFF)
    assert not Invitee.objects.exists() and not PopulationImport.objects.exists()
    assert not AuditEvent.objects.exists()


def test_a_file_over_the_size_limit_is_refused_before_it_is_read(reference, settings):
    settings.POPULATION_IMPORT_MAX_BYTES = 100
    with pytest.raises(InvalidInput, match="trop gros"):
        population_import(stream=csv_file(line("A1"), line("A2")))
    assert not Invitee.objects.exists()


def test_staff_imports_are_audited_with_the_counts(reference):
    from django.contrib.auth import get_user_model

    from creneau.core.actor import Actor

    user = get_user_model().objects.create(username="ars")
    population_import(stream=csv_file(line("A1"), line("A2", code_postal="1")), actor=Actor(user))
    (event,) = AuditEvent.objects.filter(action="create")
    assert event.actor == user and "2 lignes, 1 nouvelles" in event.summary


def test_memory_stays_bounded_whatever_the_number_of_rows(reference, monkeypatch):
    """5,000 rows through 20-row chunks and batches: the peak is that of a batch, not of
    the file (ten times the rows of a 500-row import, not ten times its peak; the peaks vary
    with when the garbage collector runs). The encoding check reads the file by chunks
    of a mebibyte, more than either file: smaller ones here, so that both files are
    read the same way, as a national extract is; and the names remembered (each row's
    differs) are forgotten after 100, not 100,000, for the same reason."""
    monkeypatch.setattr(population, "_CHUNK", 1 << 14)
    monkeypatch.setattr(population, "NAMES_REMEMBERED", 100)
    monkeypatch.setattr(population, "CHECK_CHUNK", 20)

    def peak(rows: int) -> int:
        Invitee.objects.all().delete()
        stream = csv_file(*(line(f"A{n}", nom=f"Nom{n}x") for n in range(rows)))
        tracemalloc.start()
        population_import(stream=stream, batch_size=20)
        size = tracemalloc.get_traced_memory()[1]
        tracemalloc.stop()
        return size

    small, large = peak(500), peak(5_000)
    assert Invitee.objects.count() == 5_000
    assert large < small * 3


def test_the_command_imports_a_path_and_prints_the_counts(reference, tmp_path, capsys):
    path = tmp_path / "extrait.csv"
    path.write_bytes(csv_file(line("A1"), line("A2", code_postal="1")).getvalue())
    call_command("population_import", str(path))
    out = capsys.readouterr().out
    assert "2 lignes : 1 nouvelles" in out and "ligne 3 : Code postal inconnu." in out


def test_a_person_who_booked_is_linked_to_the_invitee_of_the_same_name(reference):
    from creneau.booking.services import booking_confirm, hold_create

    _, session = two_dose_site()
    hold = hold_create(slot_id=session.slots.first().pk).hold
    booked = person(given_name="Jeanne", family_name="MARTIN")
    population_import(
        stream=csv_file(
            line("A1", prenoms="Jeanne Marie", date_naissance=booked.birth_date.isoformat()),
            line("A2", nom="Autre", date_naissance=booked.birth_date.isoformat()),
        )
    )
    result = booking_confirm(hold_id=hold.pk, contact=verified_contact(), person=booked)
    assert invitees_link() == (1, 1)
    assert invitee("A1").person == result.series.person
    assert invitee("A2").person is None
    assert invitees_link() == (0, 0)


def test_rows_checked_in_several_processes_give_the_same_import(reference, monkeypatch):
    """The checks and the sealing forked into processes (the command's default): the
    same counts, the same rejected lines in order, the later of two lines for the same
    person (in two different chunks), and values that open."""
    monkeypatch.setattr(population, "CHECK_CHUNK", 3)
    rows = [
        line("A1"),
        line("A2", date_naissance="31/02/1940"),
        line("A3", nom="Petit"),
        line("A4", code_postal="13001", commune="Marseille"),
        line("A5", telephone="12"),
        line("A1", telephone="0699999999"),
        "A7;trop;peu",
        line("A8", categories="caregiver"),
    ]

    def stored() -> list[tuple]:
        return sorted(
            (found.identifiant, found.family_name, found.phone, found.categories, found.position)
            for found in Invitee.objects.all()
        )

    one = population_import(stream=csv_file(*rows), departments=["75"])
    in_one = stored()
    Invitee.objects.all().delete()
    two = population_import(stream=csv_file(*rows), departments=["75"], processes=2)
    assert (two.rows, two.created, two.updated, two.rejected) == (8, 3, 1, 4)
    assert (two.rows, two.created, two.updated, two.rejected) == (
        one.rows,
        one.created,
        one.updated,
        one.rejected,
    )
    assert two.rejections == one.rejections
    assert [line_number for line_number, _ in two.rejections] == [3, 5, 6, 8]
    assert stored() == in_one
    assert invitee("A1").phone == "+33699999999" and invitee("A1").position == 7
    # Again: A3 and A8 unchanged; A1's first line differs from what its later one
    # stored, so A1 is written twice, and ends as the later line says, as in one process.
    again = population_import(stream=csv_file(*rows), departments=["75"], processes=2)
    assert (again.created, again.updated, again.unchanged) == (0, 2, 2)
    assert invitee("A1").phone == "+33699999999"


def test_a_person_another_import_created_meanwhile_is_updated_not_an_error(reference):
    """Two imports at once: a row this batch read as new was created by the other before
    this batch's insert. On PostgreSQL the COPY fails on the unique constraint, and the
    batch is written again by the upsert (under a savepoint); elsewhere it was the upsert."""
    from django.utils import timezone

    from creneau.campaigns.population import ImportBook, _chunk_checked
    from creneau.campaigns.services import _invitees_insert

    population_import(stream=csv_file(line("A1")))
    read = population.rows_read(csv_file(line("A1", telephone="0699999999"), line("A2")))
    checked = _chunk_checked(
        list(read), book=ImportBook(), today=timezone.localdate(), allowed=None
    )
    now = timezone.now()
    _invitees_insert(rows=[(*sealed, now, now) for _, sealed, _ in checked])
    assert invitee("A1").phone == "+33699999999"
    assert Invitee.objects.count() == 2
