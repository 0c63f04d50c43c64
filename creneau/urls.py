from django.contrib import admin
from django.urls import include, path

from creneau.api.api import api
from creneau.backoffice.forms import AdminLoginForm

admin.site.login_form = AdminLoginForm

urlpatterns = [
    path("admin/", admin.site.urls),
    path("api/v1/", api.urls),
    path("i18n/", include("django.conf.urls.i18n")),
    path("backoffice/", include("creneau.backoffice.urls")),
    path("callcenter/", include("creneau.callcenter.urls")),
    path("", include("creneau.portal.urls")),
]
