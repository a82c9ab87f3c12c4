from django.urls import include, path

urlpatterns = [
    path("", include("cloudtasks.urls")),
    path("", include("accounts.urls")),
]
