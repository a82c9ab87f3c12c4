#!/usr/bin/env bash
# Synthesize the app stack to cdktf.out/ (installs what it needs on first run).
source "$(dirname "${BASH_SOURCE[0]}")/env.sh"
exec uv run --frozen python main.py "$@"
