from django.contrib import admin
from django.urls import path
from django.views.generic import RedirectView

from creneau.api.api import api

urlpatterns = [
    # Until the public portal lands, the front page is the API's interactive documentation.
    path("", RedirectView.as_view(url="/api/v1/docs", permanent=False)),
    path("admin/", admin.site.urls),
    path("api/v1/", api.urls),
]
