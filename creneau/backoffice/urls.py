from django.urls import path

from . import (
    allocation_views,
    campaign_views,
    eligibility_views,
    onboarding_views,
    platform_views,
    publication_views,
    sign_in,
    site_views,
    token_views,
    views,
    waitlist_views,
)

app_name = "backoffice"

urlpatterns = [
    path("connexion/", sign_in.StaffLoginView.as_view(), name="login"),
    path("connexion/code/", sign_in.second_factor, name="second_factor"),
    path("connexion/activer/", sign_in.second_factor_enrol, name="second_factor_enrol"),
    path("connexion/codes-de-secours/", sign_in.recovery_codes, name="recovery_codes"),
    path("deconnexion/", sign_in.logout_view, name="logout"),
    path("mot-de-passe/", sign_in.PasswordResetView.as_view(), name="password_reset"),
    path(
        "mot-de-passe/envoye/",
        sign_in.PasswordResetDoneView.as_view(),
        name="password_reset_done",
    ),
    path(
        "mot-de-passe/<uidb64>/<token>/",
        sign_in.PasswordResetConfirmView.as_view(),
        name="password_reset_confirm",
    ),
    path(
        "mot-de-passe/change/",
        sign_in.PasswordResetCompleteView.as_view(),
        name="password_reset_complete",
    ),
    path("", views.home, name="home"),
    path("journal/", views.audit_log, name="audit_log"),
    path("plateformes/", platform_views.platforms, name="platforms"),
    path("plateformes/<int:platform_id>/", platform_views.platform, name="platform"),
    path(
        "plateformes/<int:platform_id>/confirmer/",
        platform_views.platform_confirm,
        name="platform_confirm",
    ),
    path("jetons/", token_views.api_tokens, name="api_tokens"),
    path(
        "jetons/<int:token_id>/revoquer/",
        token_views.api_token_revoke_view,
        name="api_token_revoke",
    ),
    path("lieux/<int:site_id>/", views.site_day, name="site_day"),
    path("lieux/<int:site_id>/absents/", views.noshows, name="noshows"),
    path("lieux/<int:site_id>/gestion/", site_views.site_settings, name="site_settings"),
    path("lieux/<int:site_id>/publication/", site_views.site_publication, name="site_publication"),
    path(
        "lieux/<int:site_id>/double-authentification/",
        site_views.site_second_factor,
        name="site_second_factor",
    ),
    path("lieux/<int:site_id>/sessions/", site_views.sessions, name="sessions"),
    path(
        "lieux/<int:site_id>/sessions/<int:session_id>/lignes/",
        site_views.session_lines,
        name="session_lines",
    ),
    path(
        "lieux/<int:site_id>/sessions/<int:session_id>/fermer/",
        site_views.session_stop,
        name="session_stop",
    ),
    path("lieux/<int:site_id>/stock/", site_views.stock, name="stock"),
    path(
        "lieux/<int:site_id>/livraisons/<int:delivery_id>/",
        site_views.delivery_change,
        name="delivery_change",
    ),
    path("lieux/<int:site_id>/doses-restantes/", waitlist_views.leftovers, name="leftovers"),
    path(
        "lieux/<int:site_id>/doses-restantes/<int:leftover_id>/",
        waitlist_views.leftover,
        name="leftover",
    ),
    path(
        "lieux/<int:site_id>/doses-restantes/<int:leftover_id>/retirer/",
        waitlist_views.leftover_stop,
        name="leftover_stop",
    ),
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
    path(
        "lieux/<int:site_id>/rendez-vous/<int:appointment_id>/correction/",
        views.dose_correct,
        name="dose_correct",
    ),
    # Invitation campaigns (creneau/campaigns), for the authorities.
    path("population/", campaign_views.population, name="population"),
    path("campagnes/", campaign_views.campaigns, name="campaigns"),
    path("campagnes/<int:campaign_id>/", campaign_views.campaign, name="campaign"),
    path(
        "campagnes/<int:campaign_id>/etat/",
        campaign_views.campaign_status,
        name="campaign_status",
    ),
    # Eligibility phases (national) and publication by department (authorities).
    path("eligibilite/", eligibility_views.rules, name="eligibility_rules"),
    path("eligibilite/nouvelle/", eligibility_views.rule_new, name="eligibility_rule_new"),
    path("eligibilite/<int:rule_id>/", eligibility_views.rule_change, name="eligibility_rule"),
    path(
        "eligibilite/restriction-de-lieu/",
        eligibility_views.site_restriction,
        name="site_restriction",
    ),
    path("publication/", publication_views.publications, name="publications"),
    path(
        "publication/<int:publication_id>/annuler/",
        publication_views.publication_cancel,
        name="publication_cancel",
    ),
    # Sites joining, their teams, and the authorities' dose allocation (creneau/onboarding).
    path("adhesions/", onboarding_views.applications, name="applications"),
    path("adhesions/<int:application_id>/", onboarding_views.application, name="application"),
    path("lieux/<int:site_id>/equipe/", onboarding_views.team, name="team"),
    path(
        "lieux/<int:site_id>/equipe/<int:user_id>/retirer/",
        onboarding_views.team_remove,
        name="team_remove",
    ),
    path(
        "lieux/<int:site_id>/sans-rendez-vous/",
        onboarding_views.without_slots,
        name="without_slots",
    ),
    path(
        "invitation/mot-de-passe/",
        onboarding_views.invitation_password,
        name="invitation_password",
    ),
    path("invitation/<str:token>/", onboarding_views.invitation, name="invitation"),
    path("repartition/", allocation_views.allocation, name="allocation"),
]
