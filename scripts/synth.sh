#!/usr/bin/env bash
# Synthesize the app stack to cdktf.out/ (installs what it needs on first run), on the
# engine DJAPP_ENGINE selects: cdktf (default) or cdktn (docs/engines.md).
source "$(dirname "${BASH_SOURCE[0]}")/env.sh"
exec uv run --frozen python main.py "$@"
