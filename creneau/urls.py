from django.contrib import admin
from django.urls import include, path

from creneau.api.api import api
from creneau.api.webhooks import sms_webhook
from creneau.backoffice.admin_door import admin_site_secure
from creneau.core import views as core_views

admin_site_secure()

urlpatterns = [
    path("healthz", core_views.healthz, name="healthz"),
    path("metrics", core_views.metrics_view, name="metrics"),
    path("admin/", admin.site.urls),
    path("api/v1/", api.urls),
    path("webhooks/sms", sms_webhook, name="sms_webhook"),
    path("i18n/", include("django.conf.urls.i18n")),
    path("backoffice/", include("creneau.backoffice.urls")),
    path("callcenter/", include("creneau.callcenter.urls")),
    path("smart/", include("creneau.api.smart")),
    path("fhir/r4/", include("creneau.api.fhir")),
    path("", include("creneau.portal.urls")),
]

# A database down or restarting answers 503 even outside a view (creneau/core/views.py).
handler500 = core_views.server_error
