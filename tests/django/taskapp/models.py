from django.db import models


class Effect(models.Model):
    """A task's effect in the database: tests count them to see a task's effect once."""

    label = models.CharField(max_length=200)
