# One image for both halves of the app:
#   web service (default command)  gunicorn serving Django, including POST /tasks/run/
#   worker job                     command: ["python", "-E", "-s", "-u", "manage.py", "run_task",
#                                            "--settings", "config.settings"]
#                                  args: the job's own, ["--queue", "<queue name>"], or a
#                                  schedule's, ["--periodic", "<name>"] (stacks/periodic.py)

FROM ghcr.io/astral-sh/uv:0.13.9 AS uv

FROM python:3.12-slim AS dependencies
COPY --from=uv /uv /usr/local/bin/uv
# The virtualenv is built where the final image runs it: a virtualenv is not relocatable.
ENV UV_PROJECT_ENVIRONMENT=/app/.venv \
    UV_PYTHON_DOWNLOADS=never \
    UV_LINK_MODE=copy
WORKDIR /src
COPY pyproject.toml uv.lock ./
# The app `cloudtasks`, a member of the workspace: installed from its distribution's
# folder, as a user's project installs it.
COPY packaging/django/ packaging/django/
# Exactly the locked versions of the project's own dependencies, compiled to bytecode so
# a cold start does not compile them; the workspace member as a real install, not a
# link back to /src (--no-editable), so the final image needs none of /src. The "infra"
# group (cdktf and cdktn, each with a Google provider of hundreds of MB) and the "dev"
# group serve the repository, not the app: they stay out.
RUN uv sync --frozen --no-default-groups --no-editable --compile-bytecode

FROM python:3.12-slim
RUN groupadd --system --gid 10001 app \
    && useradd --system --no-log-init --no-create-home --uid 10001 --gid app --shell /usr/sbin/nologin app
WORKDIR /app
COPY --from=dependencies /app/.venv /app/.venv
ENV PATH="/app/.venv/bin:$PATH" \
    PYTHONUNBUFFERED=1 \
    DJANGO_SETTINGS_MODULE=config.settings \
    PORT=8080
COPY django_project/ ./
# The static files (the admin's CSS and JS) collected into /app/staticfiles, hashed and
# compressed, for WhiteNoise to serve: the app is read-only at run time. collectstatic
# needs the settings to load, and without DEBUG they require the runtime's secrets; with
# it they need none, and STATIC_ROOT and STORAGES do not depend on it. Then everything
# compiled to bytecode, so a cold start compiles nothing.
RUN DJANGO_DEBUG=true python manage.py collectstatic --noinput --verbosity 0 \
    && python -m compileall -q -x '/\.venv/' .
# Numeric, so a runtime can tell the user is not root without reading /etc/passwd.
USER 10001:10001
EXPOSE 8080
# Workers, timeouts and the port (Cloud Run's PORT) are in config/gunicorn.py, which
# explains how they fit Cloud Run's and Cloud Tasks' deadlines.
CMD ["gunicorn", "--config", "python:config.gunicorn", "config.wsgi"]
