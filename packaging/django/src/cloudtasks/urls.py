"""The push handler's URL. Include it under the path the backends' URL option names:

    path("tasks/", include("cloudtasks.urls"))      # POST /tasks/run/
"""

from django.urls import path

from cloudtasks import views

app_name = "cloudtasks"

urlpatterns = [
    path("run/", views.run_task, name="run"),
]
