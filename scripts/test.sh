#!/usr/bin/env bash
# Run the whole test suite (installs what it needs on first run). Extra arguments go to pytest.
source "$(dirname "${BASH_SOURCE[0]}")/env.sh"
scripts/system-packages.sh
exec uv run --frozen pytest "$@"
