"""The booking's page says what state the course is in, and a step of the booking opened
once it is done (the browser's Back from the confirmation) shows the booking again."""

from creneau.booking.models import Appointment, Series
from creneau.outreach.models import Notification
from tests.portal.test_pages import book


def test_a_course_with_every_dose_given_is_titled_done_not_cancelled(client, site_and_session):
    book(client, *site_and_session)
    series = Series.objects.get()
    # The course as the care services leave it once both doses are given.
    Appointment.objects.update(status=Appointment.Status.FULFILLED)
    Series.objects.update(status=Series.Status.COMPLETED)
    for path in (f"/rendez-vous/{series.reference}/", f"/rendez-vous/{series.reference}/?imprimer"):
        page = client.get(path).content.decode()
        assert "Vaccination terminée" in page
        assert "Rendez-vous annulé" not in page


def test_cancelling_twice_says_the_second_time_that_nothing_changed(client, site_and_session):
    book(client, *site_and_session)
    path = f"/rendez-vous/{Series.objects.get().reference}/annuler/"
    first = client.post(path, follow=True).content.decode()
    assert "Rendez-vous annulé. Un message de confirmation est envoyé." in first
    second = client.post(path, follow=True).content.decode()
    assert "était déjà annulé. Rien n&#x27;a changé." in second
    assert "Un message de confirmation est envoyé." not in second
    assert Notification.objects.filter(kind="booking_cancelled").count() == 1


def test_the_steps_opened_after_booking_show_the_booking_again(client, site_and_session):
    book(client, *site_and_session)
    for step in ("/reserver/code/", "/reserver/personne/"):
        response = client.get(step, follow=True)
        assert response.redirect_chain[-1][0].startswith("/rendez-vous/")
        shown = response.content.decode()
        assert "Rendez-vous confirmé" in shown and "est déjà confirmé" in shown


def test_the_steps_opened_with_nothing_booked_go_to_the_search(client, site_and_session):
    for step in ("/reserver/code/", "/reserver/personne/"):
        response = client.get(step, follow=True)
        assert response.redirect_chain[-1][0] == "/"
        assert "Choisissez d&#x27;abord un créneau." in response.content.decode()
