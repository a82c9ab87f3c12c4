from django.urls import path

from cloudtasks import views

app_name = "cloudtasks"

urlpatterns = [
    path("tasks/run/", views.run_task, name="run"),
    path("healthz", views.healthz, name="healthz"),
]
