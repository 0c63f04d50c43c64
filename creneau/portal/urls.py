from django.urls import path

from . import (
    alerts_views,
    invitation_views,
    onboarding_views,
    stats_urls,
    unsubscribe,
    views,
    waitlist_views,
)

app_name = "portal"

urlpatterns = [
    path("", views.home, name="home"),
    path("suggestions/", views.suggestions, name="suggestions"),
    path("centres/<int:site_id>/", views.site_detail, name="site"),
    path("eligibilite/", views.eligibility, name="eligibility"),
    path("deuxieme-dose/", views.dose2_alone, name="dose2_alone"),
    path("file-attente/", views.waiting, name="waiting"),
    path("reserver/", views.hold, name="hold"),
    path("reserver/situation/", views.situation, name="situation"),
    path("reserver/personne/", views.details, name="details"),
    path("reserver/code/", views.code, name="code"),
    path("reserver/autres-creneaux/", views.alternatives, name="alternatives"),
    path("gerer/", views.manage, name="manage"),
    path("gerer/code/", views.manage_code, name="manage_code"),
    path("rendez-vous/<str:reference>/", views.booking_detail, name="booking"),
    path("rendez-vous/<str:reference>/ouvrir/", views.booking_open, name="booking_open"),
    path("rendez-vous/<str:reference>/agenda.ics", views.booking_calendar, name="calendar"),
    path("rendez-vous/<str:reference>/oublier/", views.booking_forget, name="forget"),
    path("rendez-vous/<str:reference>/mes-donnees/", views.booking_data, name="data"),
    path("rendez-vous/<str:reference>/mes-donnees.json", views.booking_data_json, name="data_json"),
    path("rendez-vous/<str:reference>/effacer/", views.booking_erase, name="erase"),
    path(
        "rendez-vous/<str:reference>/deplacer/<int:dose_number>/",
        views.booking_move_page,
        name="move",
    ),
    path("rendez-vous/<str:reference>/annuler/", views.booking_cancel_page, name="cancel"),
    path(
        "rendez-vous/<str:reference>/annuler-dose-2/",
        views.booking_dose2_cancel_page,
        name="cancel_dose2",
    ),
    path("reprendre/ouvrir/", views.rebook_open, name="rebook_open"),
    path("reprendre/<int:item_id>/", views.rebook, name="rebook"),
    path("reprendre/<str:token>/", views.rebook_legacy, name="rebook_legacy"),
    path("liste-attente/", waitlist_views.join, name="waitlist"),
    path("liste-attente/code/", waitlist_views.code, name="waitlist_code"),
    path("liste-attente/offre/ouvrir/", waitlist_views.offer_open, name="waitlist_offer_open"),
    path("liste-attente/offre/<int:offer_id>/", waitlist_views.offer, name="waitlist_offer"),
    path(
        "liste-attente/inscription/ouvrir/", waitlist_views.entry_open, name="waitlist_entry_open"
    ),
    path("liste-attente/inscription/<int:entry_id>/", waitlist_views.entry, name="waitlist_entry"),
    path(
        "liste-attente/inscription/<str:token>/",
        waitlist_views.entry_legacy,
        name="waitlist_entry_legacy",
    ),
    path("alertes/", alerts_views.alerts, name="alerts"),
    path("alertes/code/", alerts_views.code, name="alerts_code"),
    path("alertes/gerer/", alerts_views.manage, name="alerts_manage"),
    path("alertes/arreter-une/", alerts_views.stop, name="alerts_stop"),
    path("alertes/arreter/", alerts_views.stop_link, name="alerts_stop_link"),
    path("demo/messages/", views.outbox, name="outbox"),
    path("accessibilite/", views.accessibility, name="accessibility"),
    path("mentions-legales/", views.legal, name="legal"),
    path("donnees-personnelles/", views.privacy, name="privacy"),
    path("desinscription/<str:token>/", unsubscribe.unsubscribe, name="unsubscribe"),
    path("invitation/", invitation_views.invitation, name="invitation"),
    # A site applies to join (creneau/onboarding).
    path("adherer/", onboarding_views.apply, name="apply"),
    path("adherer/envoyee/", onboarding_views.apply_sent, name="apply_sent"),
]

urlpatterns += stats_urls.urlpatterns
