"""Two authorities deciding the same application at once, and one invitation link
submitted twice at once: one wins, the other is told, nothing is made twice."""

import pytest

from creneau.core.errors import DomainError
from creneau.onboarding.messages import invitation_token
from creneau.onboarding.models import Application, StaffInvitation
from creneau.onboarding.services import (
    application_approve,
    application_refuse,
    application_submit,
    invitation_accept,
)
from creneau.outreach.models import Notification
from creneau.sites.models import Site
from tests.concurrency.racers import race_threads
from tests.onboarding.helpers import application_data, authority

pytestmark = pytest.mark.concurrency
ROUNDS = 5


def outcome(call) -> str:
    try:
        call()
    except DomainError as error:
        return type(error).__name__
    return "done"


def test_an_approval_and_a_refusal_at_once_decide_once(reference_committed):
    deciders = [authority("ars.a", "75"), authority("ars.b", "75")]
    for round_number in range(ROUNDS):
        number = ["10003016739", "10003016721", "10003016713", "10003016705", "10003016697"]
        application = application_submit(data=application_data(number=number[round_number]))

        def decide(index, application=application):
            if index == 0:
                return outcome(
                    lambda: application_approve(
                        actor=deciders[0], application_id=application.pk, departments=["75"]
                    )
                )
            return outcome(
                lambda: application_refuse(
                    actor=deciders[1],
                    application_id=application.pk,
                    reason="Déjà inscrit.",
                    departments=["75"],
                )
            )

        results = race_threads(2, decide)
        assert sorted(results) == ["ApplicationDecided", "done"], results
        application.refresh_from_db()
        approved = application.status == Application.Status.APPROVED
        assert Site.objects.filter(external_id=f"rpps:{application.number}").count() == approved
    assert (
        Notification.objects.filter(kind="application_refused").count() + Site.objects.count()
        == ROUNDS
    )


def test_one_invitation_link_submitted_twice_sets_one_password(reference_committed):
    application = application_submit(data=application_data())
    application_approve(
        actor=authority("ars.a", "75"), application_id=application.pk, departments=["75"]
    )
    token = invitation_token(invitation_id=StaffInvitation.objects.get().pk)
    passwords = ["Glycine-Tramway-Boussole-31", "Ardoise-Cerisier-Lilas-94"]

    def accept(index):
        return outcome(
            lambda: invitation_accept(
                token=token, password=passwords[index], password_again=passwords[index]
            )
        )

    results = race_threads(2, accept)
    assert sorted(results) == ["InvitationUsed", "done"], results
    user = StaffInvitation.objects.get().user
    winner = results.index("done")
    assert user.check_password(passwords[winner])
