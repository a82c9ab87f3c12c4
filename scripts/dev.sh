#!/usr/bin/env bash
# The whole system on this machine, on 127.0.0.1: the Cloud Tasks emulator, the Django
# development server on port 8000 (migrated, SQLite, with an admin user whose password it
# prints), a mail sink, a local jobs:run and the stack's schedules (local_run/). Installs
# what it needs on first run. Ctrl-C stops it. It prints a file to `source` in a second
# shell, whose manage.py then enqueues into the running system.
# Options: --port N (the web server's port).
source "$(dirname "${BASH_SOURCE[0]}")/env.sh"
# The environment's Python directly, not `uv run`: signals then reach the supervisor.
exec "${UV_PROJECT_ENVIRONMENT:-.venv}/bin/python" -m local_run "$@"
