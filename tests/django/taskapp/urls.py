from django.urls import include, path

from tests.django.taskapp import views

urlpatterns = [
    path("enqueue/<int:count>/", views.enqueue_several, name="enqueue-several"),
    path("", include("config.urls")),
]
