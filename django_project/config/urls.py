from django.contrib import admin
from django.urls import include, path
from django.views.generic import RedirectView

from cloudtasks.views import healthz

urlpatterns = [
    path("admin/", admin.site.urls),
    path("tasks/", include("cloudtasks.urls")),
    path("healthz", healthz, name="healthz"),  # what Cloud Run probes
    path("", include("accounts.urls")),
    path("", RedirectView.as_view(pattern_name="accounts:signup"), name="home"),
]
