"""The push handler served around the project's middleware: less CPU per task.

    # config/wsgi.py
    from cloudtasks.wsgi import bypass_middleware_for_pushes
    application = bypass_middleware_for_pushes(get_wsgi_application())

A push is not a browser request: it carries no cookie and no session, authenticates by
its OIDC token (cloudtasks.auth.verify), is exempt from CSRF (cloudtasks.views), and its
answer is read by Cloud Tasks, not rendered. So the middleware that serves pages
(sessions, authentication, messages, CSRF, static files, security and framing headers)
has nothing to do on it, yet ran on every push, with a URL resolution through every
pattern of the project: about a tenth of a push's CPU (docs/performance.md). Requests to
the push handler's path go to a Django handler without middleware instead, which sends
Django's request signals as any request does (database connections are kept and
checked by them) and still checks the Host header against ALLOWED_HOSTS, as
CommonMiddleware does on every other request (400 otherwise). Everything else goes to
the project's application unchanged.

One middleware is kept, when MIDDLEWARE has it: google-cloud-logging's request
middleware (cloudtasks.logs.REQUEST_MIDDLEWARE), so that a push's log lines carry its
request's trace. A project whose own middleware must see pushes (tracing, say) does not
wrap its application. The path is the one `cloudtasks:run` reverses to, read at import: the
URLconf is loaded then, so gunicorn's preloading arbiter (config/gunicorn.py) loads it
once, and not each worker at its first request.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Any

from django.conf import settings
from django.core.exceptions import ImproperlyConfigured
from django.core.handlers.exception import convert_exception_to_response
from django.core.handlers.wsgi import WSGIHandler
from django.http import HttpRequest, HttpResponseBase
from django.urls import NoReverseMatch, ResolverMatch, resolve, reverse
from django.utils.module_loading import import_string

from cloudtasks import logs

WSGIApplication = Callable[[dict[str, Any], Callable[..., Any]], Iterable[bytes]]


class _PushHandler(WSGIHandler):
    """Django's WSGI handler, without middleware, for the push handler's path only."""

    def __init__(self, match: ResolverMatch) -> None:
        self._match = match
        super().__init__()

    def load_middleware(self, is_async: bool = False) -> None:
        self._view_middleware = []
        self._template_response_middleware = []
        self._exception_middleware = []
        chain: Callable[[HttpRequest], HttpResponseBase] = self._host_checked
        if logs.REQUEST_MIDDLEWARE in settings.MIDDLEWARE:
            chain = import_string(logs.REQUEST_MIDDLEWARE)(chain)
        self._middleware_chain = convert_exception_to_response(chain)

    def _host_checked(self, request: HttpRequest) -> HttpResponseBase:
        request.get_host()  # DisallowedHost (400) unless ALLOWED_HOSTS has it, as on every other request
        return self._get_response(request)

    def resolve_request(self, request: HttpRequest) -> ResolverMatch:
        # Only the push path comes here: what it resolves to was resolved once.
        request.resolver_match = self._match
        return self._match


def bypass_middleware_for_pushes(application: WSGIApplication) -> WSGIApplication:
    """`application`, but with requests to the push handler's path served without
    middleware (see the module's docstring). ImproperlyConfigured if the URLconf does
    not include cloudtasks.urls."""
    try:
        path = reverse("cloudtasks:run")
    except NoReverseMatch as error:
        raise ImproperlyConfigured(
            "bypass_middleware_for_pushes: the URLconf has no push handler (cloudtasks:run); "
            'include it, like path("tasks/", include("cloudtasks.urls")), or serve the application unwrapped'
        ) from error
    pushes = _PushHandler(resolve(path))

    def dispatch(environ: dict[str, Any], start_response: Callable[..., Any]) -> Iterable[bytes]:
        # PATH_INFO is what Django resolves (below any SCRIPT_NAME), as reverse() gives it here.
        handler = pushes if environ.get("PATH_INFO") == path else application
        return handler(environ, start_response)

    return dispatch
