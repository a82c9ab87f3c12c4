from django.apps import AppConfig


class TaskAppConfig(AppConfig):
    name = "tests.django.taskapp"
    label = "taskapp"
