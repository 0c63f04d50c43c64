from django.urls import path

from . import alerts_views, invitation_views, views, waitlist_views

app_name = "callcenter"

urlpatterns = [
    path("", views.home, name="home"),
    path("creneaux/", views.slots, name="slots"),
    path("reserver/", views.hold, name="hold"),
    path("reserver/personne/", views.person, name="person"),
    path("parcours/<int:series_id>/", views.file, name="file"),
    path("parcours/<int:series_id>/deplacer/<int:dose_number>/", views.move, name="move"),
    path("parcours/<int:series_id>/annuler/", views.cancel, name="cancel"),
    path("parcours/<int:series_id>/annuler-dose-2/", views.cancel_dose2, name="cancel_dose2"),
    path("parcours/<int:series_id>/dose-2/", views.dose2, name="dose2"),
    path("parcours/<int:series_id>/donnees/", views.data, name="data"),
    path("parcours/<int:series_id>/donnees.json", views.data_json, name="data_json"),
    path("parcours/<int:series_id>/effacer/", views.erase, name="erase"),
    path("invitation/", invitation_views.invitation, name="invitation"),
    path("liste-attente/", waitlist_views.join, name="waitlist"),
    path("alertes/", alerts_views.alerts, name="alerts"),
    path("alertes/<int:subscription_id>/arreter/", alerts_views.stop, name="alert_stop"),
    path("courriers/", views.letters, name="letters"),
    path("courriers/<int:batch_id>/", views.letter_batch, name="letter_batch"),
    path("courriers/<int:batch_id>/lot.pdf", views.letter_batch_pdf, name="letter_batch_pdf"),
    path(
        "courriers/<int:batch_id>/manifeste.csv",
        views.letter_batch_manifest,
        name="letter_batch_manifest",
    ),
]
