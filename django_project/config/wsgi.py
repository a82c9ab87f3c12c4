"""The WSGI application gunicorn serves (see the Dockerfile): the project's, with pushes
to the task handler served without the middleware pages need (cloudtasks.wsgi)."""

import os

from django.core.wsgi import get_wsgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")

application = get_wsgi_application()

from cloudtasks.wsgi import bypass_middleware_for_pushes  # noqa: E402  (after Django is set up)

application = bypass_middleware_for_pushes(application)
