from django.urls import path

from . import views

app_name = "backoffice"

urlpatterns = [
    path("connexion/", views.StaffLoginView.as_view(), name="login"),
    path("deconnexion/", views.logout_view, name="logout"),
    path("", views.home, name="home"),
    path("journal/", views.audit_log, name="audit_log"),
    path("lieux/<int:site_id>/", views.site_day, name="site_day"),
    path("lieux/<int:site_id>/absents/", views.noshows, name="noshows"),
    path("lieux/<int:site_id>/annuler/", views.cancel, name="cancel"),
    path("lieux/<int:site_id>/annulations/", views.cancellations, name="cancellations"),
    path(
        "lieux/<int:site_id>/annulations/<int:cancellation_id>/",
        views.cancellation,
        name="cancellation",
    ),
    path(
        "lieux/<int:site_id>/rendez-vous/<int:appointment_id>/arrivee/",
        views.check_in,
        name="check_in",
    ),
    path(
        "lieux/<int:site_id>/rendez-vous/<int:appointment_id>/vaccination/",
        views.dose_given,
        name="dose_given",
    ),
]
