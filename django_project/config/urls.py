from django.contrib import admin
from django.urls import include, path
from django.views.generic import RedirectView

urlpatterns = [
    path("admin/", admin.site.urls),
    path("", include("cloudtasks.urls")),
    path("", include("accounts.urls")),
    path("", RedirectView.as_view(pattern_name="accounts:signup"), name="home"),
]
