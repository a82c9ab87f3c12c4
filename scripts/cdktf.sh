#!/usr/bin/env bash
# The cdktf CLI pinned in package.json, run on this app (cdktf.json):
#   scripts/cdktf.sh synth            same stack as `python main.py`, in cdktf.out/
#   scripts/cdktf.sh deploy           see docs/deploy.md
# Installs the CLI into node_modules/ from package-lock.json when it is missing or stale.
# `synth` needs neither Terraform nor network; `deploy` needs both.
source "$(dirname "${BASH_SOURCE[0]}")/env.sh"

# The CLI otherwise reports usage to HashiCorp (checkpoint) and asks npm for newer versions.
export CHECKPOINT_DISABLE=1 DISABLE_VERSION_CHECK=1
# The CLI checks that `python3` exists before running the app: make it the project's.
export PATH="$PWD/.venv/bin:$PATH"

if [ ! -x node_modules/.bin/cdktf ] || [ package-lock.json -nt node_modules/.package-lock.json ]; then
  npm ci --no-audit --no-fund --loglevel=error
fi
exec node_modules/.bin/cdktf "$@"
