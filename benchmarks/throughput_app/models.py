from django.db import models


class Write(models.Model):
    """The one row a one-write task inserts."""

    n = models.IntegerField()
